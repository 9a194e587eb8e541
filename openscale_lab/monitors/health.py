"""Model health: scoring requests, records, throughput, response times and rejected requests per hour.

As OpenScale's model health monitor: it reads the deployment's own traffic (no thresholds by default) and
summarises it per hour.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from ..core.clock import check_window
from ..datamart.database import LIVE, in_window, of_source
from ..datamart.tables import rejected_requests
from .base import Evaluation, Monitor
from .results import Details, Measurement, MonitorConfig, axes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

COLUMNS = ["hour", "scoring_requests", "records", "throughput_records_per_min", "response_time_avg_ms",
           "response_time_median_ms", "response_time_p95_ms", "response_time_max_ms", "rejected_requests"]


@dataclass
class ModelHealthConfig(MonitorConfig):
    window_hours: float | None = 1.0


@dataclass
class ModelHealthDetails(Details):
    title: ClassVar[str] = "Model health"
    hourly: list[dict[str, Any]] = field(default_factory=list)

    def to_df(self) -> pd.DataFrame:
        """One row per hour, as `ModelHealthMonitor.hourly()` gives it."""
        import pandas as pd

        frame = pd.DataFrame(self.hourly, columns=COLUMNS)
        frame["hour"] = pd.to_datetime(frame["hour"])
        return frame

    def summary(self) -> dict[str, Any]:
        return {"hours with traffic": len(self.hourly)}

    def plot(self, measurement: Measurement, ax: Axes | None = None) -> Axes:
        return plot_hourly(self.to_df(), ax)


def plot_hourly(hourly: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Records and median / p95 response time per hour."""
    ax = axes(ax, (8, 3))
    ax.bar(hourly["hour"].astype(str), hourly["records"], color="#95a5a6", label="records")
    ax.set_ylabel("records")
    ax2 = ax.twinx()
    ax2.plot(hourly["hour"].astype(str), hourly["response_time_median_ms"], "o-", label="median ms")
    ax2.plot(hourly["hour"].astype(str), hourly["response_time_p95_ms"], "s--", label="p95 ms")
    ax2.set_ylabel("response time (ms)")
    ax2.legend(loc="upper right")
    ax.set_title("Model health per hour")
    ax.tick_params(axis="x", rotation=30)
    return ax


class ModelHealthMonitor(Monitor[ModelHealthConfig, ModelHealthDetails]):
    """Reads the payload log (and the log of refused requests) of the deployment, hour by hour."""

    name = "model_health"
    default_schedule_hours = 1.0
    config_type = ModelHealthConfig
    details_type = ModelHealthDetails
    data_description = "hours with traffic"

    def enable(self, *, window_hours: float = 1.0, schedule_hours: float | None = None) -> ModelHealthConfig:
        return self._store_config(ModelHealthConfig(window_hours=window_hours), schedule_hours)

    def hourly(self, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
        """One row per hour with traffic in [start, end)."""
        import pandas as pd

        start, end = check_window(start, end)
        dm, sub = self.ctx.datamart, self.ctx.subscription
        table = dm.payload_table(sub)
        query = sa.select(table.c.scoring_timestamp, table.c.request_id, table.c.response_time_ms).where(
            *in_window(table.c.scoring_timestamp, start, end))
        rq = sa.select(rejected_requests.c.timestamp).where(
            rejected_requests.c.deployment_id == sub.deployment_id,
            *in_window(rejected_requests.c.timestamp, start, end))
        query = query.where(*of_source(table.c.request_id, self.ctx.source))
        if self.ctx.source != LIVE:  # a replayed story's requests were all scored: it has no refused ones
            rq = rq.where(sa.false())
        with dm.engine.connect() as conn:
            records = pd.read_sql(query, conn)
            rejected = pd.read_sql(rq, conn)
        if records.empty and rejected.empty:
            return pd.DataFrame(columns=COLUMNS)
        # an hour of refused requests only still has a row (empty reads come back untyped: type them)
        records["response_time_ms"] = records["response_time_ms"].astype(float)
        records["hour"] = pd.to_datetime(records["scoring_timestamp"]).dt.floor("h")
        per_request = records.groupby(["hour", "request_id"])["response_time_ms"].first().reset_index()
        grouped = per_request.groupby("hour")["response_time_ms"]
        out = pd.DataFrame({
            "scoring_requests": grouped.size(),
            "records": records.groupby("hour").size(),
            "response_time_avg_ms": grouped.mean(),
            "response_time_median_ms": grouped.median(),
            "response_time_p95_ms": grouped.quantile(0.95),
            "response_time_max_ms": grouped.max(),
        })
        rejected_per_hour = pd.to_datetime(rejected["timestamp"]).dt.floor("h").value_counts()
        out = out.reindex(out.index.union(rejected_per_hour.index))
        out["rejected_requests"] = rejected_per_hour.reindex(out.index).fillna(0).astype(int)
        out[["scoring_requests", "records"]] = out[["scoring_requests", "records"]].fillna(0).astype(int)
        out["throughput_records_per_min"] = out["records"] / 60.0
        return out.rename_axis("hour").reset_index()[COLUMNS]

    def load(self, config: ModelHealthConfig, start: datetime | None, end: datetime) -> pd.DataFrame:
        return self.hourly(start, end)

    def evaluate(self, config: ModelHealthConfig, data: pd.DataFrame, start: datetime | None,
                 end: datetime) -> Evaluation[ModelHealthDetails]:
        table = data  # one row per hour
        metrics: dict[str, float] = {
            "scoring_requests": float(table["scoring_requests"].sum()),
            "records": float(table["records"].sum()),
            "rejected_requests": float(table["rejected_requests"].sum()),
        }
        if metrics["scoring_requests"]:
            weights = table["scoring_requests"]
            metrics["response_time_avg_ms"] = float((table["response_time_avg_ms"].fillna(0) * weights).sum()
                                                    / weights.sum())
            metrics["response_time_max_ms"] = float(table["response_time_max_ms"].max())
            metrics["response_time_p95_ms"] = float(table["response_time_p95_ms"].max())
        details = ModelHealthDetails(hourly=table.assign(hour=table["hour"].astype(str)).to_dict("records"))
        return Evaluation(metrics, details, record_count=int(metrics["records"]))
