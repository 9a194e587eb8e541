"""The monitor contract: what every monitor shares, and the one template its run follows.

A monitor is one class (see docs/adding-a-monitor.md): its name, default schedule, a typed configuration
(`MonitorConfig`) and typed details (`Details`), an `enable(...)` that stores the configuration, and
`evaluate(...)` that turns a window's data into metrics and details. The base class does the rest the
same way for all of them, as NannyML's `AbstractCalculator` does around `_calculate`: read the stored
configuration, build the thresholds, resolve the window, load the window's data, check the minimum
records, turn an undefined thresholded metric into "not evaluated: <reason>", save the measurement and
raise alerts. The verbs follow OpenScale's SDK: `enable`, `run`, `disable`, `get_details`, `measurements`.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..core.clock import check_window, utcnow
from ..data import load_training_reference
from ..datamart.database import LIVE, DataMart, Subscription, of_source
from ..datamart.feedback import FeedbackLog
from ..datamart.tables import alerts, delete_measurements, measurements, monitor_instances
from ..datamart.window import WindowQuery
from ..errors import LabError
from ..models.repository import ModelRepository
from ..workspace import Workspace
from .results import EVALUATED, NOT_EVALUATED, Details, Measurement, MonitorConfig, Threshold, is_number, jsonable

if TYPE_CHECKING:
    import pandas as pd

    from ..models.scorer import CompiledPipeline

C = TypeVar("C", bound=MonitorConfig)
D = TypeVar("D", bound=Details)


class MonitorNotEnabledError(LabError):
    """A monitor was run before `enable()`."""


class NotEvaluated(Exception):
    """Raised by `Monitor.evaluate` when the window's data cannot give the metric; the message says why."""


class MonitorStore:
    """Reads and writes monitor configurations, measurements and alerts in the data mart."""

    def __init__(self, datamart: DataMart) -> None:
        self.datamart = datamart
        self.engine = datamart.engine

    def save_config(self, subscription_id: str, monitor: str, config: dict[str, Any], schedule_hours: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(monitor_instances.delete().where(monitor_instances.c.subscription_id == subscription_id,
                                                          monitor_instances.c.monitor == monitor))
            conn.execute(monitor_instances.insert().values(
                subscription_id=subscription_id, monitor=monitor, config=json.dumps(jsonable(config)),
                schedule_hours=schedule_hours, enabled_at=utcnow(), last_run_at=None))

    def delete_config(self, subscription_id: str, monitor: str) -> bool:
        """Forget a monitor's configuration (its measurements stay); True if it was enabled."""
        with self.engine.begin() as conn:
            done = conn.execute(monitor_instances.delete().where(
                monitor_instances.c.subscription_id == subscription_id, monitor_instances.c.monitor == monitor))
        return bool(done.rowcount)

    def config(self, subscription_id: str, monitor: str) -> dict[str, Any] | None:
        return self.datamart.monitor_config(subscription_id, monitor)

    def instances(self, subscription_id: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(monitor_instances)
        if subscription_id:
            query = query.where(monitor_instances.c.subscription_id == subscription_id)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["config"] = json.loads(row["config"])
        return rows

    def save(self, m: Measurement, replace: bool = False,
             with_it: Callable[[Connection], None] | None = None, source: str | None = LIVE) -> Measurement:
        """Store a measurement and the alerts its broken thresholds raise, in one transaction, with what
        `with_it` writes on the same connection (rows that belong to the measurement).

        A measurement is stamped with the end of its data window, so a replayed history lines up in time.
        `replace` first removes earlier measurements (and their alerts) of the same monitor, window start and
        `source` (a day's KPIs measured again replace that day's). A replayed story's measurements (`source` a
        replay prefix) leave the live schedule (`last_run_at`) alone.
        """
        m.timestamp = m.window_end
        m.alerts = []
        for t in m.broken():
            value = float(m.metrics[t.metric])
            word = "below its lower limit" if t.type == "lower_limit" else "above its upper limit"
            m.alerts.append({"alert_id": uuid.uuid4().hex[:16], "measurement_id": m.measurement_id,
                             "subscription_id": m.subscription_id, "monitor": m.monitor, "metric": t.metric,
                             "value": value, "threshold_type": t.type, "threshold": t.value,
                             "timestamp": m.window_end, "message": f"{t.metric} = {value:.4f} is {word} {t.value}"})
        details = m.details.to_dict() if m.details is not None else {}
        with self.engine.begin() as conn:
            if replace:
                same = sa.select(measurements.c.measurement_id).where(
                    measurements.c.subscription_id == m.subscription_id, measurements.c.monitor == m.monitor,
                    measurements.c.window_end == m.window_end if m.window_start is None
                    else measurements.c.window_start == m.window_start,
                    *of_source(measurements.c.measurement_id, source))
                ids = [r[0] for r in conn.execute(same)]
                if ids:
                    delete_measurements(conn, ids)
            conn.execute(measurements.insert().values(
                measurement_id=m.measurement_id, subscription_id=m.subscription_id, monitor=m.monitor,
                timestamp=m.timestamp, window_start=m.window_start, window_end=m.window_end, status=m.status,
                message=m.message, record_count=m.record_count, metrics=json.dumps(jsonable(m.metrics)),
                thresholds=json.dumps([t.__dict__ for t in m.thresholds]), details=json.dumps(details)))
            if m.alerts:
                conn.execute(alerts.insert(), m.alerts)
            if source in (LIVE, None):
                conn.execute(monitor_instances.update().where(
                    monitor_instances.c.subscription_id == m.subscription_id,
                    monitor_instances.c.monitor == m.monitor).values(last_run_at=m.timestamp))
            if with_it is not None:
                with_it(conn)
        return m

    def measurements(self, subscription_id: str, monitor: str | None = None,
                     source: str | None = None) -> pd.DataFrame:
        """Stored measurements, oldest first (only those of `source`, LIVE or a replay prefix, if given); metrics,
        thresholds and details as plain dicts."""
        import pandas as pd

        query = sa.select(measurements).where(measurements.c.subscription_id == subscription_id,
                                              *of_source(measurements.c.measurement_id, source))
        if monitor:
            query = query.where(measurements.c.monitor == monitor)
        with self.engine.connect() as conn:
            frame = pd.read_sql(query.order_by(measurements.c.window_end, measurements.c.timestamp), conn,
                                parse_dates=["timestamp", "window_start", "window_end"])  # typed when empty too
        for col in ("metrics", "thresholds", "details"):
            frame[col] = frame[col].map(json.loads)
        return frame

    def alerts(self, subscription_id: str, monitor: str | None = None, source: str | None = None) -> pd.DataFrame:
        """Stored alerts, oldest first (only those of measurements of `source`, if given)."""
        import pandas as pd

        query = sa.select(alerts).where(alerts.c.subscription_id == subscription_id,
                                        *of_source(alerts.c.measurement_id, source))
        if monitor:
            query = query.where(alerts.c.monitor == monitor)
        with self.engine.connect() as conn:
            return pd.read_sql(query.order_by(alerts.c.timestamp), conn, parse_dates=["timestamp"])


class Engine(Protocol):
    """What evaluates a monitor's window in parts (`engines.LocalEngine`, `spark_engine.SparkEngine`)."""

    def count(self, ctx: MonitorContext, window: WindowQuery) -> int:
        """Rows in the window."""

    def takes(self, rows: int) -> bool:
        """Whether this engine evaluates a window of `rows` rows (else the monitor reads it whole itself)."""

    def evaluate(self, monitor: Monitor[Any, Any], config: Any, window: WindowQuery, rows: int,
                 start: datetime | None, end: datetime) -> Evaluation[Any]:
        """The monitor's evaluation of the window (of `rows` rows, as `count` found), from its parts."""


class MonitorContext:
    """What a monitor works with: the data mart and the subscription, and (for monitors of the model) the
    workspace and the deployment's compiled scorer."""

    def __init__(self, datamart: DataMart, subscription: Subscription, workspace: Workspace | None = None,
                 scorer: CompiledPipeline | None = None, record_prefix: str | None = None,
                 engine: Engine | None = None) -> None:
        self.datamart = datamart
        self.subscription = subscription
        self._workspace = workspace
        self._scorer = scorer
        self.engine = engine  # None: every window read whole
        # a replayed story's monitors read only its own records (ids starting with the prefix) and mark their
        # measurements with it; the live monitors read only live records: the two never mix
        if record_prefix is not None and not (isinstance(record_prefix, str) and 0 < len(record_prefix) <= 16):
            raise LabError(f"record_prefix must be a text of 1 to 16 characters, got {record_prefix!r}")
        self.record_prefix = record_prefix

    @property
    def source(self) -> str:
        """The records this context reads: LIVE, or those of the replayed story with `record_prefix`."""
        return self.record_prefix or LIVE

    def restricted(self, record_prefix: str) -> MonitorContext:
        """The same context, reading only records whose ids start with `record_prefix`."""
        return MonitorContext(self.datamart, self.subscription, self._workspace, self._scorer, record_prefix,
                              self.engine)

    def measurement_id(self) -> str:
        """A new measurement id (with the record prefix, if any)."""
        return f"{self.record_prefix or ''}{uuid.uuid4().hex[:16]}"

    @classmethod
    def of(cls, datamart: DataMart, subscription: Subscription | str) -> MonitorContext:
        """A context for monitors that need only the data mart (custom monitors, business KPIs)."""
        sub = subscription if isinstance(subscription, Subscription) else datamart.get_subscription(subscription)
        return cls(datamart, sub)

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            raise LabError("this monitor needs the lab workspace: open it with Monitoring.for_deployment()")
        return self._workspace

    @property
    def scorer(self) -> CompiledPipeline:
        if self._scorer is None:
            raise LabError("this monitor needs the deployment's scorer: open it with Monitoring.for_deployment()")
        return self._scorer

    @cached_property
    def store(self) -> MonitorStore:
        return MonitorStore(self.datamart)

    @cached_property
    def feedback(self) -> FeedbackLog:
        return FeedbackLog(self.datamart, self.subscription, self.scorer.labels)

    @cached_property
    def model_metadata(self) -> dict[str, Any]:
        """The repository metadata of the subscription's model."""
        return dict(ModelRepository(self.workspace).get(self.subscription.model_id).metadata)

    @cached_property
    def training_data(self) -> pd.DataFrame:
        """The model's training data, read from its recorded `training_data_reference`."""
        return load_training_reference(self.model_metadata["training_data_reference"])

    @property
    def labels(self) -> list[str]:
        return self.scorer.labels

    @property
    def input_columns(self) -> list[str]:
        return [c["name"] for c in self.subscription.input_schema]

    @property
    def folder(self) -> Path:
        path = self.workspace.root / "monitors" / self.subscription.subscription_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def payload_window(self, start: datetime | None, end: datetime, columns: list[str] | None = None) -> WindowQuery:
        """The payload records scored in [start, end) of this context's source, as a window; its text inputs and
        predicted labels read as Categoricals, its JSON texts (probabilities) left for the monitor to parse."""
        window = self.datamart.payload_window(self.subscription, start, end, source=self.source, columns=columns)
        sub = self.subscription
        texts = [c["name"] for c in sub.input_schema if c["type"] == "string"] + [sub.predicted_label_column]
        return dataclasses.replace(window, categorical=tuple(texts), json_columns=())

    def payload(self, start: datetime | None, end: datetime, last: int | None = None,
                columns: list[str] | None = None) -> pd.DataFrame:
        """Payload records scored in [start, end) (only the newest `last` of them, if given; only `columns`
        besides their ids and times, if given)."""
        return self.datamart.get_payload(self.subscription, start, end, last=last, source=self.source,
                                         columns=columns)

    def labelled(self, start: datetime | None, end: datetime, last: int | None = None) -> pd.DataFrame:
        """Feedback records that arrived in [start, end) (only the newest `last` of them, if given)."""
        return self.feedback.read(start, end, last=last, source=self.source)


def check_window_settings(monitor: str, min_records: Any, window_hours: Any) -> None:
    """Refuse settings a run could not use, naming the setting (at `enable`, not at the first run)."""
    if not (isinstance(min_records, int) and not isinstance(min_records, bool) and min_records >= 1):
        raise LabError(f"{monitor} min_records must be a whole number ≥ 1, got {min_records!r}")
    if window_hours is not None and not (is_number(window_hours) and window_hours > 0):
        raise LabError(f"{monitor} window_hours must be a number of hours > 0 (None: every record), "
                       f"got {window_hours!r}")


def resolve_window(start: Any, end: Any, hours: float | None) -> tuple[datetime | None, datetime]:
    """The [start, end) a run covers: `end` defaults to now, `start` to `hours` before it (None: all).

    Both bounds must be datetimes (time zone aware ones become naive UTC) with start before end, the
    defaulted end included: a LabError naming the bound, not a database error or an empty window.
    """
    lo, hi = check_window(start, end)
    hi = hi or utcnow()
    if lo is None and hours:
        lo = hi - timedelta(hours=hours)
    if lo is not None and not lo < hi:
        raise LabError(f"start ({lo.isoformat()}) must be before end ({hi.isoformat()}, now when not given)")
    return lo, hi


@dataclass
class Evaluation(Generic[D]):
    """What `Monitor.evaluate` returns: metrics, typed details, and anything `save_with` needs."""

    metrics: dict[str, float]
    details: D
    record_count: int | None = None
    extra: Any = None


@dataclass(frozen=True)
class RunPlan(Generic[C]):
    """A run of a monitor before it reads anything (`Monitor.plan`): the window it covers and what it checks."""

    config: C
    thresholds: list[Threshold]
    start: datetime | None
    end: datetime
    window: WindowQuery | None = None


class Monitor(ABC, Generic[C, D]):
    """The contract every monitor follows. Subclasses set the class attributes and implement `enable`
    (keyword-only arguments, returns the stored typed configuration) and `evaluate`."""

    name: ClassVar[str]
    default_schedule_hours: ClassVar[float] = 1.0
    config_type: ClassVar[type[MonitorConfig]] = MonitorConfig
    details_type: ClassVar[type[Details]] = Details
    data_description: ClassVar[str] = "payload records"

    def __init__(self, ctx: MonitorContext) -> None:
        self.ctx = ctx

    # -- the verbs ------------------------------------------------------------------------------
    @abstractmethod
    def enable(self, **settings: Any) -> C:
        """Check and store this monitor's configuration for the subscription."""

    def disable(self) -> bool:
        """Stop monitoring (measurements already taken stay); True if it was enabled."""
        return self.ctx.store.delete_config(self.ctx.subscription.subscription_id, self.name)

    @property
    def enabled(self) -> bool:
        return self.ctx.store.config(self.ctx.subscription.subscription_id, self.name) is not None

    def config(self) -> C:
        """The stored configuration; MonitorNotEnabledError when there is none."""
        stored = self.ctx.store.config(self.ctx.subscription.subscription_id, self.name)
        if stored is None:
            raise MonitorNotEnabledError(f"the {self.name} monitor is not enabled for subscription "
                                         f"{self.ctx.subscription.subscription_id}: call enable() first")
        return self.config_type.from_dict(stored)  # type: ignore[return-value]

    def get_details(self) -> dict[str, Any]:
        """The monitor instance as OpenScale describes one: status, configuration, schedule, last run."""
        found = [i for i in self.ctx.store.instances(self.ctx.subscription.subscription_id)
                 if i["monitor"] == self.name]
        base = {"monitor": self.name, "subscription_id": self.ctx.subscription.subscription_id}
        if not found:
            return {**base, "status": "not enabled"}
        inst = found[0]
        return {**base, "status": "enabled", "config": inst["config"], "schedule_hours": inst["schedule_hours"],
                "enabled_at": inst["enabled_at"], "last_run_at": inst["last_run_at"]}

    def measurements(self, source: str | None = None) -> pd.DataFrame:
        """This monitor's stored measurements, oldest first (only those of `source` if given: "" for live runs,
        a replay's prefix for a replayed week's)."""
        return self.ctx.store.measurements(self.ctx.subscription.subscription_id, self.name, source)

    def alerts(self) -> pd.DataFrame:
        return self.ctx.store.alerts(self.ctx.subscription.subscription_id, self.name)

    def measurement_rows(self, table: sa.Table, measurement_id: str | None, *where: Any,
                         order_by: tuple[Any, ...] = ()) -> pd.DataFrame:
        """Rows `table` holds for one measurement (default: the latest evaluated one), empty if there is none."""
        import pandas as pd

        if measurement_id is None:
            latest = self.latest()
            if latest is None:
                return pd.DataFrame(columns=[c.name for c in table.columns])
            measurement_id = latest.measurement_id
        query = sa.select(table).where(table.c.measurement_id == measurement_id, *where).order_by(*order_by)
        with self.ctx.datamart.engine.connect() as conn:
            return pd.read_sql(query, conn)

    def latest(self, evaluated_only: bool = True, source: str | None = None) -> Measurement | None:
        """The newest stored measurement (default: the newest evaluated one; of `source` only if given, "" for
        live runs), with typed details."""
        frame = self.measurements(source)
        if evaluated_only and not frame.empty:
            frame = frame[frame["status"] == EVALUATED]
        if frame.empty:
            return None
        return Measurement.from_row(frame.iloc[-1].to_dict(), self.details_type)

    def run(self, start: datetime | None = None, end: datetime | None = None, *,
            replace: bool = False) -> Measurement:
        """Evaluate the window [start, end) (default: the configured window ending now), store the
        measurement and raise an alert for each broken threshold. Never raises for lack of data; a bound that
        is not a datetime, or start not before end, raises LabError."""
        plan = self.plan(start, end)
        if plan.window is not None and self.ctx.engine is not None:
            have = self.ctx.engine.count(self.ctx, plan.window)
            if have >= plan.config.min_records and self.ctx.engine.takes(have):
                # evaluated in parts: chunks in this process, or partitions on a Spark cluster
                return self.store(plan, have, lambda: self.ctx.engine.evaluate(  # type: ignore[union-attr]
                    self, plan.config, plan.window, have, plan.start, plan.end), replace=replace)
        config, start, end = plan.config, plan.start, plan.end
        data = self.load(config, start, end)
        have = len(data)
        message = ""
        if config.reach_back and have < config.min_records:
            # OpenScale-like: a window short of records reaches back to the last `min_records` records; the
            # measurement's window starts at the oldest of them (and takes every record stamped with that time)
            last, reached = self.load_last(config, config.min_records, end)
            if reached is not None and (start is None or reached < start):
                start, data, have = reached, last, len(last)
                message = f"reached back to {start:%Y-%m-%d %H:%M} for the last {config.min_records} records"
                plan = dataclasses.replace(plan, start=start)
        if have < config.min_records:
            return self._not_evaluated(start, end, have, plan.thresholds,
                                       f"{have} of {config.min_records} {self.data_description}", replace)
        return self.store(plan, have, lambda: self.evaluate(config, data, start, end), message, replace)

    def plan(self, start: datetime | None = None, end: datetime | None = None) -> RunPlan[C]:
        """What a run of [start, end) evaluates: the configuration, its thresholds, the resolved window and
        (for a monitor that evaluates in parts, with an engine) the window's query. The arguments are checked
        before the configuration is read."""
        check_window(start, end)
        self.before_run()
        config = self.config()
        start, end = resolve_window(start, end, config.window_hours)
        window = self.window(config, start, end) if self.ctx.engine is not None else None
        return RunPlan(config, self.thresholds(config), start, end, window)

    def before_run(self) -> None:
        """Anything a run needs first (nothing by default; the drift monitor rebuilds for a new model)."""

    def store(self, plan: RunPlan[C], have: int, evaluation: Callable[[], Evaluation[D]], message: str = "",
              replace: bool = False) -> Measurement:
        """Evaluate (`evaluation()`) and store the measurement of a planned run over `have` records; not
        evaluated, with the reason, when the evaluation raises NotEvaluated."""
        try:
            result = evaluation()
        except NotEvaluated as reason:
            return self._not_evaluated(plan.start, plan.end, have, plan.thresholds, str(reason), replace)
        return self._measured(plan.config, plan.thresholds, plan.start, plan.end, have, result, message, replace)

    def _measured(self, config: C, thresholds: list[Threshold], start: datetime | None, end: datetime, have: int,
                  result: Evaluation[D], message: str, replace: bool) -> Measurement:
        """Store an evaluation as a measurement (not evaluated if a thresholded metric is undefined)."""
        for t in thresholds:
            value = result.metrics.get(t.metric)
            if not is_number(value):
                return self._not_evaluated(start, end, have, thresholds, f"{t.metric} is undefined on this data",
                                           replace)
        measurement = Measurement(
            measurement_id=self.ctx.measurement_id(),
            monitor=self.name, subscription_id=self.ctx.subscription.subscription_id, status=EVALUATED,
            message=message, window_start=start, window_end=end,
            record_count=have if result.record_count is None else result.record_count,
            metrics=result.metrics, thresholds=thresholds, details=result.details)
        self.ctx.store.save(measurement, replace=replace, source=self.ctx.source,
                            with_it=lambda conn: self.save_with(measurement, result, conn))
        return measurement

    # -- evaluation in parts: windows larger than memory, and on Spark (see `engines.py`) ------------------
    def window(self, config: C, start: datetime | None, end: datetime) -> WindowQuery | None:
        """The window `partial` reads, for a monitor that evaluates in parts (None: it does not)."""
        return None

    def partial(self, config: C, chunk: pd.DataFrame) -> Any:
        """What `finish` needs of one part of a window, in a form `merge` adds up; one part or all of them
        merged give the same evaluation."""
        raise NotImplementedError(f"the {self.name} monitor does not evaluate in parts")

    def for_workers(self) -> Monitor[C, D]:
        """A copy of this monitor that Spark can ship to its executors for `partial`: the subscription and the
        scorer, without the data mart's connections or the workspace."""
        found = copy.copy(self)
        found.ctx = MonitorContext(None, self.ctx.subscription, None,  # type: ignore[arg-type]
                                   self.ctx._scorer, self.ctx.record_prefix)
        return found

    def merge(self, a: Any, b: Any) -> Any:
        """Two parts' partial results as one (associative and commutative: parts may come and merge in any
        grouping and order; the Spark engine's parts come back from its executors in no particular order)."""
        raise NotImplementedError(f"the {self.name} monitor does not evaluate in parts")

    def finish(self, config: C, part: Any, start: datetime | None, end: datetime) -> Evaluation[D]:
        """The evaluation of a whole window from its merged partial result."""
        raise NotImplementedError(f"the {self.name} monitor does not evaluate in parts")

    # -- what a monitor implements --------------------------------------------------------------
    def thresholds(self, config: C) -> list[Threshold]:
        """The limits a run checks (none by default)."""
        return []

    def payload_columns(self) -> list[str] | None:
        """The payload log's columns `evaluate` reads besides ids and times (None: all). Reading only those
        matters at scale: the probability column alone is a third of a payload row."""
        return None

    def load(self, config: C, start: datetime | None, end: datetime) -> Any:
        """The window's data (default: the payload log); anything with a length."""
        return self.ctx.payload(start, end, columns=self.payload_columns())

    def load_last(self, config: C, records: int, end: datetime) -> tuple[Any, datetime | None]:
        """The newest `records` records before `end` (with any others stamped with the oldest one's time: the
        whole window from that time to `end`), and that time (for `reach_back`; default: the payload log; a
        monitor whose `load` reads other data overrides both)."""
        data = self.ctx.payload(None, end, last=records, columns=self.payload_columns())
        return data, (data["scoring_timestamp"].min().to_pydatetime() if len(data) else None)

    @abstractmethod
    def evaluate(self, config: C, data: Any, start: datetime | None, end: datetime) -> Evaluation[D]:
        """Metrics and details of the window's data; raise NotEvaluated(reason) when they are undefined."""

    def save_with(self, measurement: Measurement, result: Evaluation[D], conn: Connection) -> None:
        """Write what belongs with the measurement, in its transaction (nothing by default)."""

    # -- shared helpers -------------------------------------------------------------------------
    def _store_config(self, config: C, schedule_hours: float | None) -> C:
        hours = self.default_schedule_hours if schedule_hours is None else schedule_hours
        if not (is_number(hours) and hours >= 0):
            raise LabError(f"schedule_hours must be a number of hours ≥ 0 (0: never by the scheduler), got {hours!r}")
        self.ctx.store.save_config(self.ctx.subscription.subscription_id, self.name, config.to_dict(), hours)
        return config

    def _not_evaluated(self, start: datetime | None, end: datetime, have: int, thresholds: list[Threshold],
                       reason: str, replace: bool) -> Measurement:
        return self.ctx.store.save(Measurement(
            measurement_id=self.ctx.measurement_id(), monitor=self.name,
            subscription_id=self.ctx.subscription.subscription_id, status=NOT_EVALUATED,
            message=f"not evaluated: {reason}", window_start=start, window_end=end, record_count=have,
            thresholds=thresholds), replace=replace, source=self.ctx.source)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} of subscription {self.ctx.subscription.subscription_id}>"
