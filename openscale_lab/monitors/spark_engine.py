"""Monitors as Spark jobs: a window of the data mart read over JDBC in partitions by time, each partition
evaluated by the monitor's own `partial` (Spark's `mapInPandas`, on executors), the parts merged on the driver and
finished there. The same code computes every metric as in one process, so the numbers are the same.

The data mart must be PostgreSQL (Spark reads it with the PostgreSQL JDBC driver: Debian's
`libpostgresql-jdbc-java`, found at /usr/share/java/postgresql.jar, or the jar `$OPENSCALE_LAB_JDBC_JAR` names;
never downloaded). A SQLite file is local to one machine: a cluster's executors cannot read it, so the Spark
engine refuses it by name. Executors need the lab installed in the same Python: a standalone cluster started
from this installation's pyspark (`sbin/start-master.sh`, `sbin/start-worker.sh`) has it.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import LabError
from ..models.spark import JDBC_JAR_ENV, jdbc_jar
from .base import Evaluation, Monitor, MonitorContext, NotEvaluated

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

    from ..datamart.window import WindowQuery

ROWS_PER_PARTITION = 250_000  # a partition's rows take a few hundred MB while a monitor evaluates them
ARROW_BATCH = 100_000  # rows handed to `partial` at once on an executor


class SparkEngine:
    """An `Engine` (see base.py) running every window's evaluation as a Spark job on `master`."""

    name = "spark"

    def __init__(self, master: str = "local[2]", rows_per_partition: int = ROWS_PER_PARTITION) -> None:
        self.master = master
        self.rows_per_partition = rows_per_partition
        self._spark: SparkSession | None = None

    @property
    def spark(self) -> SparkSession:
        """The session on `master` (an active session on another master is an error, not silently used)."""
        if self._spark is None:
            from pyspark.sql import SparkSession

            active = SparkSession.getActiveSession()
            if active is not None and active.sparkContext.master != self.master:
                raise LabError(f"a Spark session on {active.sparkContext.master} is already running in this "
                               f"process; stop it before using the Spark engine on {self.master}")
            from ..models.spark import get_spark

            self._spark = get_spark(self.master, "openscale-lab-monitors")
        return self._spark

    def count(self, ctx: MonitorContext, window: WindowQuery) -> int:
        self._check(ctx)
        return window.count(ctx.datamart.engine)

    @staticmethod
    def _check(ctx: MonitorContext) -> None:
        """The data mart must be PostgreSQL and the JDBC driver installed: said before anything is read."""
        backend = ctx.datamart.engine.url.get_backend_name()
        if backend != "postgresql":
            raise LabError(f"the Spark engine reads the data mart over JDBC: it needs PostgreSQL, not {backend} "
                           "(a SQLite file is not reachable from a cluster); use engine='local'")
        if jdbc_jar() is None:
            raise LabError(f"the PostgreSQL JDBC driver is not installed: `sudo apt-get install "
                           f"libpostgresql-jdbc-java` (or set ${JDBC_JAR_ENV} to its jar)")

    def takes(self, rows: int) -> bool:
        return True

    def evaluate(self, monitor: Monitor[Any, Any], config: Any, window: WindowQuery, rows: int,
                 start: datetime | None, end: datetime) -> Evaluation[Any]:
        frame = self.read(monitor.ctx, window, rows)
        worker = monitor.for_workers()
        json_columns = window.json_columns  # the function below is shipped to executors: plain values only

        def parts(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            import pandas as pd

            from ..datamart.window import json_parsed

            part = None
            for batch in batches:
                found = worker.partial(config, json_parsed(batch, json_columns))
                part = found if part is None else worker.merge(part, found)
            if part is not None:
                yield pd.DataFrame({"part": [pickle.dumps(part)]})

        rows = frame.mapInPandas(parts, "part binary").collect()
        if not rows:  # the records counted were gone by the time they were read
            raise NotEvaluated(f"no {monitor.data_description} left in the window to evaluate")
        merged = None
        for row in rows:  # parts made by this lab's own code on its executors, in this job
            found = pickle.loads(row["part"])
            merged = found if merged is None else monitor.merge(merged, found)
        return monitor.finish(config, merged, start, end)

    def read(self, ctx: MonitorContext, window: WindowQuery, rows: int | None = None) -> Any:
        """The window as a Spark DataFrame read over JDBC, partitioned by time (into partitions of about
        `rows_per_partition` of its `rows`, counted here if not given)."""
        self._check(ctx)
        engine = ctx.datamart.engine
        from ..datamart.reading import compiled_sql, search_path_schema

        schema = search_path_schema(engine.url)
        url = engine.url
        time_col = window.table.c[window.time_column]
        with engine.connect() as conn:  # the bounds of the partitions' time ranges
            low, high, counted = conn.execute(sa.select(sa.func.min(time_col), sa.func.max(time_col),
                                                        sa.func.count()).where(*window.where)).one()
        rows = counted if rows is None else rows
        query = sa.select(*window.selected).where(*window.where)
        reader = (self.spark.read.format("jdbc")
                  .option("url", f"jdbc:postgresql://{url.host or '127.0.0.1'}:{url.port or 5432}/{url.database}")
                  .option("driver", "org.postgresql.Driver")
                  .option("user", url.username or os.environ.get("USER", "postgres"))
                  .option("preferTimestampNTZ", "true")  # naive UTC times stay as stored, whatever the time zone
                  .option("fetchsize", "10000")
                  .option("dbtable", f"({compiled_sql(engine, query, schema)}) AS window_rows"))
        if url.password:
            reader = reader.option("password", url.password)
        parts = max(1, min(64, -(-int(rows) // self.rows_per_partition)))
        if parts > 1 and low is not None and low < high:
            reader = (reader.option("partitionColumn", window.time_column).option("lowerBound", str(low))
                      .option("upperBound", str(high)).option("numPartitions", str(parts)))
        self.spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH))
        return reader.load()

    def payload_distribution(self, ctx: MonitorContext, group_by: list[str],
                             aggregations: list[tuple[str, str | None]] | None = None,
                             start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
        """`datamart.analytics.payload_distribution` as a Spark job: the payload log's window grouped and
        aggregated by Spark (the same checks and columns; rows in Spark's order of the groups)."""
        from pyspark.sql import functions as F

        from ..datamart.analytics import distribution_plan

        table = ctx.datamart.payload_table(ctx.subscription)
        groups, planned = distribution_plan(table, group_by, aggregations)
        needed = [*groups, *(col for _, col, _ in planned if col is not None)]
        window = ctx.datamart.payload_window(ctx.subscription, start, end, columns=needed)
        spark_funcs = {"sum": F.sum, "mean": F.avg, "min": F.min, "max": F.max}
        exprs = [(F.count(F.lit(1)) if col is None else F.count(col)).alias(label) if func == "count"
                 else spark_funcs[func](col).alias(label) for func, col, label in planned]
        return self.read(ctx, window).groupBy(*groups).agg(*exprs).orderBy(*groups).toPandas()

    def stop(self) -> None:
        if self._spark is not None:
            self._spark.stop()
            self._spark = None

    def __repr__(self) -> str:
        return f"SparkEngine({self.master!r})"

