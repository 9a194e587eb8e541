"""Where a monitor's window is evaluated: in this process, whole or in chunks (`LocalEngine`), or as a Spark job
(`spark_engine.SparkEngine`). Both run the monitor's own `partial` on parts of the window and `merge` the parts:
one definition of every metric, whichever engine ran it.

A monitor that evaluates in parts says which window it reads (`Monitor.window`); windows up to `chunk_rows`
records are read whole and evaluated as before, larger ones chunk by chunk, so memory stays bounded by a chunk
whatever the window's size.
"""
from __future__ import annotations

import os
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..core.memory import trim_malloc
from ..core.progress import progress as tqdm
from ..datamart.sqlite_native import NATIVE_ROWS
from ..errors import DataMartError, LabError
from ..models.spark import SPARK_MASTER_ENV
from .base import Engine, Evaluation, Monitor, MonitorContext, NotEvaluated

if TYPE_CHECKING:
    import pandas as pd

    from ..datamart.window import WindowQuery

CHUNK_ROWS = 400_000  # two chunks (one read ahead) and two monitors at work on one stay under about 1.5 GB
FIRST_PART = 4  # the first chunk of a window read in chunks is this many times smaller than the others


class LocalEngine:
    """An `Engine` (see base.py) in this process: windows up to `chunk_rows` read whole by the monitor, larger
    ones in chunks."""

    name = "local"

    def __init__(self, chunk_rows: int = CHUNK_ROWS) -> None:
        if not (isinstance(chunk_rows, int) and chunk_rows >= 1):
            raise ValueError(f"chunk_rows must be a whole number ≥ 1, got {chunk_rows!r}")
        self.chunk_rows = chunk_rows

    def count(self, ctx: MonitorContext, window: WindowQuery) -> int:
        return window.count(ctx.datamart.engine)

    def takes(self, rows: int) -> bool:
        return rows > self.chunk_rows

    def evaluate(self, monitor: Monitor[Any, Any], config: Any, window: WindowQuery, rows: int,
                 start: datetime | None, end: datetime) -> Evaluation[Any]:
        found = self.partials(monitor.ctx, [(monitor, config)], window, rows)
        return self.finished(monitor, config, found.get(monitor.name), start, end)

    def partials(self, ctx: MonitorContext, jobs: list[tuple[Monitor[Any, Any], Any]], window: WindowQuery,
                 rows: int) -> dict[str, Any]:
        """Each monitor's (with its configuration) partial result over the whole window, merged part by part:
        each part is read once for all of them and evaluated by them side by side (most of their work is in
        NumPy, scikit-learn and the compiled scorer, which let go of the interpreter: two cores take a million
        records about a fifth faster than one after the other). A monitor whose `partial` or `merge` raised has
        the exception instead, and the others go on; none has no entry when the window held no rows."""
        try:
            return self._partials(ctx, jobs, window, rows)
        finally:
            if self.takes(rows):  # the parts are freed by now: their memory back to the system (see core.memory)
                trim_malloc()

    def _partials(self, ctx: MonitorContext, jobs: list[tuple[Monitor[Any, Any], Any]], window: WindowQuery,
                  rows: int) -> dict[str, Any]:
        found: dict[str, Any] = {}
        failed: set[str] = set()
        what = " + ".join(monitor.name for monitor, _ in jobs)
        with ThreadPoolExecutor(len(jobs), thread_name_prefix="monitor") as pool, \
                closing(self.parts(ctx, window, rows, what)) as chunks:  # an error stops the read-ahead too
            for chunk in chunks:
                running = [(m, pool.submit(m.partial, config, chunk)) for m, config in jobs if m.name not in failed]
                if not running:
                    break
                for m, future in running:
                    try:
                        part = future.result()
                        found[m.name] = part if m.name not in found else m.merge(found[m.name], part)
                    except Exception as error:  # this monitor stops; the others go on
                        found[m.name] = error
                        failed.add(m.name)
        return found

    @staticmethod
    def finished(monitor: Monitor[Any, Any], config: Any, found: Any, start: datetime | None,
                 end: datetime) -> Evaluation[Any]:
        """The evaluation of the window from a monitor's entry of `partials` (its exception raised)."""
        if isinstance(found, Exception):
            raise found
        if found is None:  # the records counted were gone by the time they were read
            raise NotEvaluated(f"no {monitor.data_description} left in the window to evaluate")
        return monitor.finish(config, found, start, end)

    def parts(self, ctx: MonitorContext, window: WindowQuery, rows: int,
              what: str) -> Generator[pd.DataFrame, None, None]:
        """The window (of `rows` rows, as counted) whole if it is small enough, else in chunks, with progress."""
        large = rows >= NATIVE_ROWS  # SQLite: read natively in a child process
        if not self.takes(rows):
            whole = window.read(ctx.datamart.engine, large=large)
            if len(whole):
                yield whole
            return
        # PostgreSQL: slices of time, each found by the time index; SQLite: pages, a large window read natively in
        # a child process. The next part is read while this one is evaluated (ConnectorX waits for the database
        # outside the interpreter; sqlite3's cursor in this process would only compete for the core).
        # The first part is a quarter of the others: the monitors start on it while the next is read, instead of
        # waiting for a whole part first (about a second less at a million records).
        db, first = ctx.datamart.engine, max(1, self.chunk_rows // FIRST_PART)
        parts = window.slices(db, self.chunk_rows, rows, first)
        if parts is None:
            parts = window.chunks(db, self.chunk_rows, read_ahead=large or db.dialect.name != "sqlite", large=large,
                                  first=first)
        read = 0
        with tqdm(total=rows, desc=f"{what} in chunks", unit="record", leave=False) as bar, closing(parts):
            for chunk in parts:
                yield chunk
                read += len(chunk)
                bar.update(len(chunk))
        # a read that came up short must not pass for a smaller window: unless records were deleted meanwhile,
        # fewer rows than counted is an error
        if read < rows and self.count(ctx, window) >= rows:
            raise DataMartError(f"the data mart gave {read} of the window's {rows} records")

    def __repr__(self) -> str:
        return f"LocalEngine(chunk_rows={self.chunk_rows})"


def make_engine(engine: Engine | str, spark_master: str | None = None) -> Engine:
    """An engine by name ("local" or "spark", the latter on `spark_master`), or the one given."""
    if engine == "local":
        if spark_master is not None:
            raise LabError("spark_master is for engine='spark'")
        return LocalEngine()
    if engine == "spark":
        from .spark_engine import SparkEngine

        return SparkEngine(spark_master or os.environ.get(SPARK_MASTER_ENV) or "local[2]")
    if isinstance(engine, str):
        raise LabError(f"engine must be 'local' or 'spark', got {engine!r}")
    return engine
