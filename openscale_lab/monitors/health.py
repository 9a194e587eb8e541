"""Model health: scoring requests, records, throughput, response times and rejected requests per hour."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..datamart import in_window
from ..tables import rejected_requests
from .base import Measurement, MonitorContext

if TYPE_CHECKING:
    import pandas as pd

NAME = "model_health"
COLUMNS = ["hour", "scoring_requests", "records", "throughput_records_per_min", "response_time_avg_ms",
           "response_time_median_ms", "response_time_p95_ms", "response_time_max_ms", "rejected_requests"]


class ModelHealthMonitor:
    """Reads the payload log (and the log of refused requests) of the deployment, hour by hour."""

    def __init__(self, ctx: MonitorContext) -> None:
        self.ctx = ctx

    def enable(self, window_hours: float = 1.0, schedule_hours: float | None = None) -> dict[str, Any]:
        config = {"window_hours": window_hours}
        self.ctx.store.save_config(self.ctx.subscription.subscription_id, NAME, config, schedule_hours)
        return config

    def hourly(self, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
        """One row per hour with traffic in [start, end)."""
        import pandas as pd

        dm, sub = self.ctx.datamart, self.ctx.subscription
        table = dm.payload_table(sub)
        query = sa.select(table.c.scoring_timestamp, table.c.request_id, table.c.response_time_ms).where(
            *in_window(table.c.scoring_timestamp, start, end))
        rq = sa.select(rejected_requests.c.timestamp).where(
            rejected_requests.c.deployment_id == sub.deployment_id,
            *in_window(rejected_requests.c.timestamp, start, end))
        with dm.engine.connect() as conn:
            records = pd.read_sql(query, conn)
            rejected = pd.read_sql(rq, conn)
        if records.empty and rejected.empty:
            return pd.DataFrame(columns=COLUMNS)
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

    def run(self, start: datetime | None = None, end: datetime | None = None) -> Measurement:
        config = self.ctx.config(NAME)
        start, end = self.ctx.window(start, end, config["window_hours"])
        table = self.hourly(start, end)
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
        details = {"hourly": table.assign(hour=table["hour"].astype(str)).to_dict("records")}
        return self.ctx.store.save(Measurement(
            monitor=NAME, subscription_id=self.ctx.subscription.subscription_id, status="evaluated", message="",
            window_start=start, window_end=end, record_count=int(metrics["records"]), metrics=metrics,
            details=details))
