"""Business applications: business payload derived from the model's decisions, daily KPIs with limits,
and how the KPIs move with the model's fairness and quality."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .analytics import AGGREGATIONS
from .constants import FAVOURABLE_LABEL
from .datamart import DataMart, Subscription, in_window
from .errors import LabError
from .monitors.base import Measurement, MonitorStore, Threshold
from .tables import BUSINESS_PREFIX, SQL_TYPES, business_applications
from .workspace import utcnow

if TYPE_CHECKING:
    import pandas as pd

MONITOR = "business_kpis"
MIN_DAYS_FOR_CORRELATION = 3

TUTORIAL_APPLICATION: dict[str, Any] = {
    "name": "Tutorial Credit Risk Application",
    "description": "Loans granted by the credit-risk model's decisions",
    "payload_fields": [
        {"name": "LoanDuration", "type": "integer", "description": "Duration of the loan (months)"},
        {"name": "LoanPurpose", "type": "string", "description": "Purpose of the loan"},
        {"name": "LoanAmount", "type": "integer", "description": "Amount requested"},
        {"name": "InstallmentPercent", "type": "integer", "description": "Installment percent"},
        {"name": "AcceptedPercent", "type": "double", "description": "Share of the amount granted (0 or 100)"},
        {"name": "AmountGranted", "type": "integer", "description": "Amount granted"},
        {"name": "Accepted", "type": "integer", "description": "1 if the loan was accepted"},
    ],
    "business_metrics": [
        {"name": "Accepted Credits", "field": "Accepted", "aggregation": "sum", "time_unit": "day",
         "lower_limit": 2150, "description": "Accepted credits per day"},
        {"name": "Credit Amount Granted", "field": "AmountGranted", "aggregation": "sum", "time_unit": "day",
         "lower_limit": 5_500_000, "description": "Credit amount granted per day"},
    ],
}


class BusinessError(LabError):
    """A business application, metric or payload that does not fit."""


@dataclass(frozen=True)
class BusinessApplication:
    """A business application linked to subscriptions, with its payload schema and KPIs."""

    application_id: str
    name: str
    description: str
    payload_fields: list[dict[str, str]]
    business_metrics: list[dict[str, Any]]
    subscription_ids: list[str]

    def table(self) -> sa.Table:
        return sa.Table(
            f"{BUSINESS_PREFIX}{self.application_id}", sa.MetaData(),
            sa.Column("record_id", sa.String(64), primary_key=True),
            sa.Column("subscription_id", sa.String(64), nullable=False),
            sa.Column("timestamp", sa.DateTime, nullable=False, index=True),
            *[sa.Column(f["name"], SQL_TYPES[f["type"]]()) for f in self.payload_fields])

    def thresholds(self) -> list[Threshold]:
        return [Threshold(m["name"], kind, float(m[kind])) for m in self.business_metrics
                for kind in ("lower_limit", "upper_limit") if m.get(kind) is not None]


def _validate(payload_fields: list[dict[str, str]], metrics: list[dict[str, Any]]) -> None:
    names = {f["name"]: f["type"] for f in payload_fields}
    for f in payload_fields:
        if f.get("type") not in SQL_TYPES:
            raise BusinessError(f"payload field {f.get('name')!r}: type must be one of {', '.join(SQL_TYPES)}")
    for m in metrics:
        if m.get("field") not in names:
            raise BusinessError(f"business metric {m.get('name')!r} reads {m.get('field')!r}, not a payload field")
        if m.get("aggregation") not in AGGREGATIONS or m.get("time_unit") != "day":
            raise BusinessError(f"business metric {m.get('name')!r}: aggregation one of "
                                f"{', '.join(AGGREGATIONS)}, time_unit 'day'")
        if m["aggregation"] != "count" and names[m["field"]] == "string":
            raise BusinessError(f"business metric {m['name']!r}: {m['aggregation']} needs a numeric field")


class BusinessApplications:
    """Creates and reads business applications in the data mart."""

    def __init__(self, datamart: DataMart) -> None:
        self.datamart = datamart

    def create(self, name: str, payload_fields: list[dict[str, str]], business_metrics: list[dict[str, Any]],
               subscription_ids: list[str], description: str = "") -> BusinessApplication:
        """A new application (its business payload table too); an existing name is returned as it is."""
        found = self.get(name, missing_ok=True)
        if found is not None:
            return found
        _validate(payload_fields, business_metrics)
        app = BusinessApplication(uuid.uuid4().hex[:12], name, description, payload_fields, business_metrics,
                                  list(subscription_ids))
        with self.datamart.engine.begin() as conn:
            conn.execute(business_applications.insert().values(
                application_id=app.application_id, name=name, description=description,
                payload_fields=json.dumps(payload_fields), business_metrics=json.dumps(business_metrics),
                subscription_ids=json.dumps(app.subscription_ids), created_at=utcnow()))
            app.table().create(conn, checkfirst=True)
        return app

    def get(self, name: str, missing_ok: bool = False) -> BusinessApplication | None:
        with self.datamart.engine.connect() as conn:
            row = conn.execute(sa.select(business_applications).where(business_applications.c.name == name)).first()
        if row is None:
            if missing_ok:
                return None
            raise BusinessError(f"no business application called {name!r}")
        return BusinessApplication(row.application_id, row.name, row.description, json.loads(row.payload_fields),
                                   json.loads(row.business_metrics), json.loads(row.subscription_ids))

    # -- business payload ---------------------------------------------------------------------
    def derive_credit_payload(self, app: BusinessApplication, subscription: Subscription,
                              start: datetime | None = None, end: datetime | None = None,
                              favourable: str = FAVOURABLE_LABEL) -> int:
        """Business records from the model's payload in [start, end): an accepted loan is a favourable
        decision and its amount granted is its LoanAmount. Rerunning a window replaces its records."""
        payload = self.datamart.get_payload(subscription, start, end)
        accepted = (payload[subscription.predicted_label_column] == favourable).astype(int)
        rows = [{"record_id": sid, "subscription_id": subscription.subscription_id, "timestamp": ts.to_pydatetime(),
                 "LoanDuration": int(d), "LoanPurpose": p, "LoanAmount": int(a), "InstallmentPercent": int(i),
                 "AcceptedPercent": 100.0 * acc, "AmountGranted": int(a) * int(acc), "Accepted": int(acc)}
                for sid, ts, d, p, a, i, acc in zip(payload["scoring_id"], payload["scoring_timestamp"],
                                                    payload["LoanDuration"], payload["LoanPurpose"],
                                                    payload["LoanAmount"], payload["InstallmentPercent"], accepted)]
        table = app.table()
        with self.datamart.engine.begin() as conn:
            conn.execute(table.delete().where(table.c.subscription_id == subscription.subscription_id,
                                              *in_window(table.c.timestamp, start, end)))
            if rows:
                conn.execute(table.insert(), rows)
        return len(rows)

    def business_payload(self, app: BusinessApplication, start: datetime | None = None,
                         end: datetime | None = None) -> pd.DataFrame:
        import pandas as pd

        table = app.table()
        with self.datamart.engine.connect() as conn:
            return pd.read_sql(sa.select(table).where(*in_window(table.c.timestamp, start, end))
                               .order_by(table.c.timestamp), conn)

    # -- KPIs ---------------------------------------------------------------------------------
    def daily_kpis(self, app: BusinessApplication, start: datetime | None = None,
                   end: datetime | None = None) -> pd.DataFrame:
        """Each KPI per day, computed in the database."""
        import pandas as pd

        table = app.table()
        day = sa.func.date(table.c.timestamp).label("day")
        exprs = [AGGREGATIONS[m["aggregation"]](table.c[m["field"]]).label(f"kpi_{i}")
                 for i, m in enumerate(app.business_metrics)]
        query = sa.select(day, *exprs).where(*in_window(table.c.timestamp, start, end)).group_by(day).order_by(day)
        with self.datamart.engine.connect() as conn:
            frame = pd.read_sql(query, conn)
        frame = frame.rename(columns={f"kpi_{i}": m["name"] for i, m in enumerate(app.business_metrics)})
        frame["day"] = pd.to_datetime(frame["day"])
        return frame

    def run(self, app: BusinessApplication, start: datetime | None = None,
            end: datetime | None = None) -> list[Measurement]:
        """Store one KPI measurement per day (replacing an earlier one of that day); limits raise alerts."""
        store = MonitorStore(self.datamart)
        out = []
        for _, row in self.daily_kpis(app, start, end).iterrows():
            day = row["day"].to_pydatetime()
            metrics = {m["name"]: float(row[m["name"]]) for m in app.business_metrics}
            for sub_id in app.subscription_ids:
                out.append(store.save(Measurement(
                    monitor=MONITOR, subscription_id=sub_id, status="evaluated", message="", window_start=day,
                    window_end=day + timedelta(days=1), record_count=0, metrics=metrics,
                    thresholds=app.thresholds(), details={"application_id": app.application_id,
                                                          "application": app.name}), replace=True))
        return out

    def correlations(self, app: BusinessApplication, model_metrics: tuple[str, ...] = (
            "fairness:Sex", "fairness:Age", "quality:area_under_roc")) -> pd.DataFrame:
        """Pearson correlation, over days, of each KPI with the model's daily mean of each monitor metric."""
        import pandas as pd

        store = MonitorStore(self.datamart)
        rows = []
        for sub_id in app.subscription_ids:
            kpis = self._daily(store, sub_id, MONITOR, [m["name"] for m in app.business_metrics])
            wanted = [tuple(m.split(":", 1)) for m in model_metrics]
            model = pd.concat([self._daily(store, sub_id, mon, [metric]).rename(columns={metric: f"{mon}:{metric}"})
                               for mon, metric in wanted], axis=1)
            joined = kpis.join(model, how="inner")
            for kpi in kpis.columns:
                for metric in model.columns:
                    both = joined[[kpi, metric]].dropna()
                    # a constant series has no correlation (and would only make numpy warn)
                    enough = len(both) >= MIN_DAYS_FOR_CORRELATION and both.std().gt(0).all()
                    corr = float(both[kpi].corr(both[metric])) if enough else float("nan")
                    rows.append({"subscription_id": sub_id, "kpi": kpi, "model_metric": metric, "days": len(both),
                                 "correlation": corr})
        return pd.DataFrame(rows, columns=["subscription_id", "kpi", "model_metric", "days", "correlation"])

    @staticmethod
    def _daily(store: MonitorStore, sub_id: str, monitor: str, metrics: list[str]) -> pd.DataFrame:
        import pandas as pd

        frame = store.measurements(sub_id, monitor)
        frame = frame[frame["status"] == "evaluated"] if not frame.empty else frame
        if frame.empty:
            return pd.DataFrame(columns=metrics, index=pd.DatetimeIndex([], name="day"))
        values = pd.DataFrame([{k: d.get(k) for k in metrics} for d in frame["metrics"]], index=frame.index,
                              dtype=float)
        start = frame["window_start"].fillna(frame["window_end"]) if monitor == MONITOR else frame["window_end"]
        values["day"] = pd.to_datetime(start).dt.floor("D")
        return values.groupby("day").mean()

    def plot(self, app: BusinessApplication, correlations: pd.DataFrame) -> Any:
        """Daily KPIs against their limits, and the correlation table as bars."""
        import matplotlib.pyplot as plt

        daily = self.daily_kpis(app)
        fig, axes = plt.subplots(1, len(app.business_metrics) + 1, figsize=(12, 3.5))
        for ax, m in zip(axes, app.business_metrics):
            ax.bar(daily["day"].dt.strftime("%m-%d"), daily[m["name"]], color="#1f6fb4")
            if m.get("lower_limit") is not None:
                ax.axhline(m["lower_limit"], color="#c0392b", ls="--", lw=1, label="lower limit")
                ax.legend(fontsize=8)
            ax.set_title(m["name"])
            ax.tick_params(axis="x", rotation=45)
        shown = correlations.dropna(subset=["correlation"])
        ax = axes[-1]
        if shown.empty:
            ax.text(0.5, 0.5, f"correlations need\n{MIN_DAYS_FOR_CORRELATION}+ days of data", ha="center",
                    va="center")
            ax.set_axis_off()
        else:
            ax.barh(shown["kpi"] + " ~ " + shown["model_metric"], shown["correlation"], color="#8e44ad")
            ax.set_xlim(-1, 1)
            ax.set_title("Correlation with the model")
        fig.tight_layout()
        return axes
