"""What every monitor shares: its stored configuration, measurements with thresholds, and alerts."""
from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..datamart import DataMart, Subscription
from ..errors import LabError
from ..tables import alerts, measurements, monitor_instances
from ..workspace import Workspace, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from ..scorer import CompiledPipeline

# OpenScale's default schedules, in hours
DEFAULT_SCHEDULES = {"quality": 1.0, "fairness": 1.0, "model_health": 1.0, "drift": 3.0, "explainability": 0.0}


class MonitorNotEnabledError(LabError):
    """A monitor was run before `enable()`."""


@dataclass(frozen=True)
class Threshold:
    """A limit on one metric: lower_limit (value must not be below) or upper_limit (not above)."""

    metric: str
    type: str
    value: float

    def broken_by(self, value: float) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return value < self.value if self.type == "lower_limit" else value > self.value


@dataclass
class Measurement:
    """One evaluation of a monitor over a data window, as stored in the data mart."""

    monitor: str
    subscription_id: str
    status: str
    message: str
    window_start: datetime | None
    window_end: datetime
    record_count: int
    metrics: dict[str, float] = field(default_factory=dict)
    thresholds: list[Threshold] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    measurement_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    timestamp: datetime = field(default_factory=utcnow)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def evaluated(self) -> bool:
        return self.status == "evaluated"

    def table(self) -> pd.DataFrame:
        """Metric, value, threshold and whether it is broken, one row per metric."""
        import pandas as pd

        limits = {t.metric: t for t in self.thresholds}
        rows = []
        for name, value in self.metrics.items():
            t = limits.get(name)
            rows.append({"metric": name, "value": value,
                         "threshold": f"{'≥' if t.type == 'lower_limit' else '≤'} {t.value}" if t else "",
                         "alert": bool(t and t.broken_by(value))})
        return pd.DataFrame(rows, columns=["metric", "value", "threshold", "alert"])

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items() if isinstance(v, (int, float)))
        return (f"<{self.monitor} measurement {self.status}: {self.message or shown} "
                f"({self.record_count} records, {len(self.alerts)} alert(s))>")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, allow_nan=True))


class MonitorStore:
    """Reads and writes monitor configurations, measurements and alerts in the data mart."""

    def __init__(self, datamart: DataMart) -> None:
        self.datamart = datamart
        self.engine = datamart.engine

    def save_config(self, subscription_id: str, monitor: str, config: dict[str, Any],
                    schedule_hours: float | None = None) -> None:
        hours = DEFAULT_SCHEDULES.get(monitor, 1.0) if schedule_hours is None else schedule_hours
        with self.engine.begin() as conn:
            conn.execute(monitor_instances.delete().where(monitor_instances.c.subscription_id == subscription_id,
                                                          monitor_instances.c.monitor == monitor))
            conn.execute(monitor_instances.insert().values(
                subscription_id=subscription_id, monitor=monitor, config=json.dumps(_jsonable(config)),
                schedule_hours=hours, enabled_at=utcnow(), last_run_at=None))

    def config(self, subscription_id: str, monitor: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(monitor_instances.c.config).where(
                monitor_instances.c.subscription_id == subscription_id,
                monitor_instances.c.monitor == monitor)).first()
        return json.loads(row[0]) if row else None

    def instances(self, subscription_id: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(monitor_instances)
        if subscription_id:
            query = query.where(monitor_instances.c.subscription_id == subscription_id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def save(self, m: Measurement, replace: bool = False) -> Measurement:
        """Store a measurement and the alerts its broken thresholds raise, in one transaction.

        A measurement is stamped with the end of its data window, so a replayed history lines up in time.
        `replace` first removes earlier measurements (and their alerts) of the same monitor and window.
        """
        m.timestamp = m.window_end
        m.alerts = []
        if m.evaluated:
            for t in m.thresholds:
                value = m.metrics.get(t.metric)
                if isinstance(value, (int, float)) and t.broken_by(float(value)):
                    word = "below its lower limit" if t.type == "lower_limit" else "above its upper limit"
                    m.alerts.append({"alert_id": uuid.uuid4().hex[:16], "measurement_id": m.measurement_id,
                                     "subscription_id": m.subscription_id, "monitor": m.monitor,
                                     "metric": t.metric, "value": float(value), "threshold_type": t.type,
                                     "threshold": t.value, "timestamp": m.window_end,
                                     "message": f"{t.metric} = {float(value):.4f} is {word} {t.value}"})
        with self.engine.begin() as conn:
            if replace:
                same = sa.select(measurements.c.measurement_id).where(
                    measurements.c.subscription_id == m.subscription_id, measurements.c.monitor == m.monitor,
                    measurements.c.window_end == m.window_end,
                    measurements.c.window_start.is_(None) if m.window_start is None
                    else measurements.c.window_start == m.window_start)
                ids = [r[0] for r in conn.execute(same)]
                if ids:
                    conn.execute(alerts.delete().where(alerts.c.measurement_id.in_(ids)))
                    conn.execute(measurements.delete().where(measurements.c.measurement_id.in_(ids)))
            conn.execute(measurements.insert().values(
                measurement_id=m.measurement_id, subscription_id=m.subscription_id, monitor=m.monitor,
                timestamp=m.timestamp, window_start=m.window_start, window_end=m.window_end, status=m.status,
                message=m.message, record_count=m.record_count, metrics=json.dumps(_jsonable(m.metrics)),
                thresholds=json.dumps([t.__dict__ for t in m.thresholds]), details=json.dumps(_jsonable(m.details))))
            if m.alerts:
                conn.execute(alerts.insert(), m.alerts)
            conn.execute(monitor_instances.update().where(
                monitor_instances.c.subscription_id == m.subscription_id,
                monitor_instances.c.monitor == m.monitor).values(last_run_at=m.timestamp))
        return m

    def measurements(self, subscription_id: str, monitor: str | None = None) -> pd.DataFrame:
        """Stored measurements, oldest first; metrics as columns."""
        import pandas as pd

        query = sa.select(measurements).where(measurements.c.subscription_id == subscription_id)
        if monitor:
            query = query.where(measurements.c.monitor == monitor)
        with self.engine.connect() as conn:
            frame = pd.read_sql(query.order_by(measurements.c.window_end, measurements.c.timestamp), conn)
        for col in ("metrics", "thresholds", "details"):
            frame[col] = frame[col].map(json.loads)
        return frame

    def alerts(self, subscription_id: str, monitor: str | None = None) -> pd.DataFrame:
        import pandas as pd

        query = sa.select(alerts).where(alerts.c.subscription_id == subscription_id)
        if monitor:
            query = query.where(alerts.c.monitor == monitor)
        with self.engine.connect() as conn:
            return pd.read_sql(query.order_by(alerts.c.timestamp), conn)


@dataclass
class MonitorContext:
    """What a monitor works with: the data mart, the subscription, the deployment's scorer, the workspace."""

    workspace: Workspace
    datamart: DataMart
    subscription: Subscription
    scorer: CompiledPipeline

    @cached_property
    def store(self) -> MonitorStore:
        return MonitorStore(self.datamart)

    @cached_property
    def training_data(self) -> pd.DataFrame:
        from ..data import load_training_data

        return load_training_data()

    @property
    def labels(self) -> list[str]:
        return self.scorer.labels

    @property
    def folder(self) -> Any:
        path = self.workspace.root / "monitors" / self.subscription.subscription_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def window(self, start: datetime | None, end: datetime | None,
               hours: float | None) -> tuple[datetime | None, datetime]:
        """The [start, end) a run covers: `end` defaults to now, `start` to `hours` before it (None: all)."""
        end = end or utcnow()
        if start is None and hours:
            start = end - timedelta(hours=hours)
        return start, end

    def payload(self, start: datetime | None, end: datetime) -> pd.DataFrame:
        return self.datamart.get_payload(self.subscription, start, end)

    def config(self, monitor: str) -> dict[str, Any]:
        config = self.store.config(self.subscription.subscription_id, monitor)
        if config is None:
            raise MonitorNotEnabledError(f"the {monitor} monitor is not enabled for subscription "
                                         f"{self.subscription.subscription_id}: call enable() first")
        return config

    def not_evaluated(self, monitor: str, start: datetime | None, end: datetime, have: int, need: int,
                      what: str, thresholds: list[Threshold]) -> Measurement:
        return self.store.save(Measurement(
            monitor=monitor, subscription_id=self.subscription.subscription_id, status="not_evaluated",
            message=f"not evaluated: {have} of {need} {what}", window_start=start, window_end=end,
            record_count=have, thresholds=thresholds))
