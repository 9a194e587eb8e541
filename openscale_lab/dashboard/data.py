"""What the Insights dashboard shows, read from the data mart."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..datamart.database import DataMart, Subscription, of_source
from ..datamart.tables import REPLAY_PREFIX, biased_transactions, drift_transactions
from ..errors import LabError
from ..monitors.base import MonitorContext, MonitorStore
from ..monitors.business import BusinessApplications, BusinessError, BusinessKPIMonitor
from ..monitors.drift import VIEWS as DRIFT_VIEWS
from ..monitors.explain import ExplanationService
from ..monitors.fairness import FairnessConfig, FairnessDetails, FeatureFairness, training_rates
from ..monitors.monitoring import Monitoring
from ..monitors.registry import measurement_from_row
from ..monitors.results import Measurement
from ..tutorial import TRANSACTION_COLUMNS
from ..workspace import Workspace

TILE_MONITORS = ["fairness", "quality", "drift", "model_health"]  # what an overview tile shows, in order
HEADLINE = {"fairness": None, "quality": "area_under_roc", "drift": "drift_magnitude",
            "model_health": "response_time_avg_ms"}
KPI_MONITOR = BusinessKPIMonitor.name  # measured per day, shown on the business application's tile
REDEPLOYMENT_COLUMNS = ["time", "from_version", "to_version"]


class InsightsData:
    """Reads deployments, measurements, alerts, transactions and explanations of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.datamart = DataMart(workspace.datamart_url)
        self.store = MonitorStore(self.datamart)
        self._training_rates: dict[str, dict[str, dict[str, float]]] = {}
        self._explanations: dict[str, ExplanationService] = {}  # one per subscription: scorer and LIME set up once

    def close(self) -> None:
        self.datamart.close()

    def subscriptions(self) -> list[Subscription]:
        return self.datamart.active_subscriptions()

    def subscription(self, subscription_id: str) -> Subscription:
        return self.datamart.get_subscription(subscription_id)

    def measurements(self, subscription_id: str, monitor: str | None = None) -> pd.DataFrame:
        frame = self.store.measurements(subscription_id, monitor)
        if not frame.empty:
            frame["window_end"] = pd.to_datetime(frame["window_end"])
        return frame

    def alerts(self, subscription_id: str, monitor: str | None = None) -> pd.DataFrame:
        return self.store.alerts(subscription_id, monitor)

    def overview(self) -> list[dict[str, Any]]:
        """One tile per deployment: the latest value of each monitor and its alert count."""
        tiles = []
        for sub in self.subscriptions():
            done = self.measurements(sub.subscription_id)
            alerts = self.alerts(sub.subscription_id)
            latest: dict[str, Any] = {}
            if not done.empty:
                evaluated = done[done["status"] == "evaluated"]
                for monitor, rows in evaluated.groupby("monitor", sort=False):
                    latest[monitor] = {"time": rows["window_end"].iloc[-1], "metrics": rows["metrics"].iloc[-1],
                                       "thresholds": rows["thresholds"].iloc[-1]}
            tiles.append({"subscription_id": sub.subscription_id, "deployment_name": sub.deployment_name,
                          "model": f"{sub.model_name} v{sub.model_version}", "model_version": sub.model_version,
                          "latest": latest,
                          "monitors": list(dict.fromkeys(done["monitor"])) if not done.empty else [],
                          "alerts": alert_counts(alerts, "monitor"), "total_alerts": len(alerts)})
        return tiles

    def applications(self) -> list[dict[str, Any]]:
        """One tile per business application and subscription whose KPIs are measured: the latest day's KPI
        values, their limits, and the alerts of each KPI."""
        tiles = []
        for sub in self.subscriptions():
            config = self.store.config(sub.subscription_id, KPI_MONITOR)
            if not config:
                continue
            try:
                app = BusinessApplications(self.datamart).get(
                    config.get("application", ""), application_id=config.get("application_id") or None)
            except BusinessError:
                continue  # the application was removed: its measurements stay on the deployment's charts
            assert app is not None
            done = self.measurements(sub.subscription_id, KPI_MONITOR)
            evaluated = done[done["status"] == "evaluated"] if not done.empty else done
            latest = evaluated.sort_values("window_end").iloc[-1] if not evaluated.empty else None
            limits = {m["name"]: {k: m.get(k) for k in ("lower_limit", "upper_limit")} for m in app.business_metrics}
            alerts = alert_counts(self.alerts(sub.subscription_id, KPI_MONITOR), "metric")
            tiles.append({"application": app.name, "application_id": app.application_id,
                          "subscription_id": sub.subscription_id, "deployment_name": sub.deployment_name,
                          "day": latest["window_start"].to_pydatetime() if latest is not None else None,
                          "measurement_id": latest["measurement_id"] if latest is not None else None,
                          "values": {k: latest["metrics"].get(k) for k in limits} if latest is not None else {},
                          "limits": limits, "units": kpi_units(app.business_metrics),
                          "alerts": {k: alerts.get(k, 0) for k in limits}})
        return tiles

    def series(self, subscription_id: str, monitor: str, *, not_evaluated: bool = False) -> pd.DataFrame:
        """Evaluated measurements of one monitor over time: window end, then a column per metric. With
        `not_evaluated`, the measurements not evaluated too (their metrics NaN), marked in column `evaluated`,
        and the window start (a day's KPIs are drawn from it)."""
        done = self.measurements(subscription_id, monitor)
        if done.empty:
            return pd.DataFrame(columns=["window_end", "measurement_id"]
                                + (["window_start", "evaluated"] if not_evaluated else []))
        evaluated = done["status"] == "evaluated"
        if not not_evaluated:
            done = done[evaluated]
        values = pd.DataFrame([m if ok else {} for m, ok in zip(done["metrics"], evaluated[done.index], strict=True)],
                              index=done.index)
        if not not_evaluated:
            return pd.concat([done[["window_end", "measurement_id"]], values], axis=1).reset_index(drop=True)
        out = done[["window_end", "measurement_id"]].assign(window_start=pd.to_datetime(done["window_start"]),
                                                             evaluated=evaluated[done.index])
        return pd.concat([out, values], axis=1).reset_index(drop=True)

    def redeployments(self, subscription_id: str, source: str | None = None) -> pd.DataFrame:
        """Where the model version scoring the deployment's records changed (a redeployment or a rollback),
        oldest first: `time` (naive UTC), the scoring time of the first record the new version scored, then
        `from_version` and `to_version`.

        `source` as the data mart reads records: LIVE, a replay prefix, or None for every record, as the
        dashboard's other reads (measurements, alerts, transactions) take them. Live records and the replayed
        story's are each taken in their own order, so that their interleaving is never read as a change.
        Computed in the database (LAG over the payload log), only the changes read back."""
        table = self.datamart.payload_table(subscription_id)
        ts, version = table.c.scoring_timestamp, table.c.model_version
        story = table.c.request_id.startswith(REPLAY_PREFIX, autoescape=True)
        scored = sa.select(ts.label("time"), version.label("to_version"), sa.func.lag(version).over(
            partition_by=story, order_by=(ts, table.c.scoring_id)).label("from_version")).where(
            *of_source(table.c.request_id, source)).subquery()
        query = (sa.select(scored.c.time, scored.c.from_version, scored.c.to_version)
                 .where(scored.c.from_version != scored.c.to_version).order_by(scored.c.time, scored.c.to_version))
        with self.datamart.engine.connect() as conn:
            frame = pd.read_sql(query, conn, parse_dates=["time"])
        return frame[REDEPLOYMENT_COLUMNS].astype({"from_version": str, "to_version": str})

    def thresholds(self, subscription_id: str, monitor: str) -> list[dict[str, Any]]:
        done = self.measurements(subscription_id, monitor)
        return list(done["thresholds"].iloc[-1]) if not done.empty else []

    def hours(self, subscription_id: str) -> list[datetime]:
        """Ends of the hourly windows with a fairness, quality or model health measurement, oldest first."""
        done = self.measurements(subscription_id)
        if done.empty:
            return []
        hourly = done[done["monitor"].isin(["fairness", "quality", "model_health"])]
        ends = sorted({t.to_pydatetime() for t in hourly["window_end"] if t == t.floor("h")})
        return ends

    def transaction_columns(self, subscription_id: str) -> list[str]:
        """Columns a transaction list shows: id, time, the tutorial's chosen inputs where the model has them
        (else its first four inputs), and the model's outcome."""
        sub = self.subscription(subscription_id)
        inputs = [c["name"] for c in sub.input_schema]
        chosen = [c for c in TRANSACTION_COLUMNS if c in inputs]
        return ["scoring_id", "scoring_timestamp", *(chosen if len(chosen) >= 2 else inputs[:4]),
                sub.predicted_label_column]

    def lowest_fairness_hour(self, subscription_id: str, feature: str | None = None, start: datetime | None = None,
                             end: datetime | None = None) -> tuple[datetime, float] | None:
        """The hour (window end) with the lowest fairness value for `feature` (default: the first monitored
        feature), within (start, end]."""
        if feature is None:
            stored = self.store.config(subscription_id, "fairness")
            if not stored or not stored.get("features"):
                return None
            feature = str(stored["features"][0]["feature"])
        s = self.series(subscription_id, "fairness")
        if not s.empty:
            s = s[(s["window_end"] > (start or datetime.min)) & (s["window_end"] <= (end or datetime.max))]
        if s.empty or feature not in s:
            return None
        row = s.loc[s[feature].idxmin()]
        return row["window_end"].to_pydatetime(), float(row[feature])

    def at_hour(self, subscription_id: str, monitor: str, hour_end: datetime) -> Measurement | None:
        """The measurement of a monitor for the window ending at `hour_end` (drift: the window covering it)."""
        done = self.measurements(subscription_id, monitor)
        if done.empty:
            return None
        if monitor == "drift":
            rows = done[(done["window_end"] >= hour_end) & (done["window_end"] < hour_end + timedelta(hours=3))]
        else:
            rows = done[done["window_end"] == hour_end]
        return measurement_from_row(rows.iloc[0].to_dict()) if not rows.empty else None

    def training_rates(self, subscription_id: str) -> dict[str, dict[str, float]]:
        """Favourable rate of the monitored and reference groups in the model's training data, per feature."""
        if subscription_id not in self._training_rates:
            stored = self.store.config(subscription_id, "fairness")
            rates: dict[str, dict[str, float]] = {}
            if stored is not None:
                ctx = MonitorContext(self.datamart, self.subscription(subscription_id), self.workspace)
                table = training_rates(FairnessConfig.from_dict(stored), ctx.training_data,
                                       ctx.subscription.label_column)
                for row in table.itertuples():
                    rates.setdefault(row.feature, {})[row.group] = row.favourable_rate
            self._training_rates[subscription_id] = rates
        return self._training_rates[subscription_id]

    def transactions(self, subscription_id: str, hour_end: datetime, biased_only: bool = False) -> pd.DataFrame:
        """Payload records of the hour, or only those the fairness run of the hour found biased (with the
        feature), over the run's whole window (a quiet hour's run reaches back to earlier records)."""
        sub = self.subscription(subscription_id)
        if not biased_only:
            return self.datamart.get_payload(sub, hour_end - timedelta(hours=1), hour_end)
        fairness = self.at_hour(subscription_id, "fairness", hour_end)
        since = fairness.window_start if fairness and fairness.window_start else hour_end - timedelta(hours=1)
        payload = self.datamart.get_payload(sub, since, hour_end)
        if fairness is None:
            return payload.iloc[0:0]
        with self.datamart.engine.connect() as conn:
            biased = pd.read_sql(sa.select(biased_transactions.c.scoring_id, biased_transactions.c.feature,
                                           biased_transactions.c.perturbed_label)
                                 .where(biased_transactions.c.measurement_id == fairness.measurement_id), conn)
        merged = payload.merge(biased, on="scoring_id")
        return merged.groupby("scoring_id", as_index=False, sort=False).agg(
            {**{c: "first" for c in merged.columns if c not in ("scoring_id", "feature")}, "feature": ", ".join})

    def drift_transactions(self, subscription_id: str, hour_end: datetime, view: str = "both") -> pd.DataFrame:
        """Transactions the drift run covering the hour holds responsible for the drop in accuracy
        ("accuracy"), in data consistency ("consistency") or for both ("both"), as the drift monitor lists
        them (the most likely wrong first), with their payload records."""
        if view not in DRIFT_VIEWS:
            raise LabError(f"drift transactions view {view!r}: one of {', '.join(DRIFT_VIEWS)}")
        drift = self.at_hour(subscription_id, "drift", hour_end)
        columns = [c.name for c in drift_transactions.columns]
        if drift is None or not drift.evaluated:
            return pd.DataFrame(columns=columns)
        t = drift_transactions.c
        with self.datamart.engine.connect() as conn:
            rows = pd.read_sql(sa.select(drift_transactions).where(
                t.measurement_id == drift.measurement_id, t.view.in_(DRIFT_VIEWS[view]))
                .order_by(t.p_correct, t.scoring_timestamp), conn)
        payload = self.datamart.get_payload(self.subscription(subscription_id), drift.window_start, drift.window_end)
        extra = [c for c in payload.columns if c not in rows.columns or c == "scoring_id"]
        return rows.merge(payload[extra], on="scoring_id", how="left")

    def explanation(self, subscription_id: str, transaction_id: str) -> dict[str, Any]:
        """The stored explanations of a transaction, computed and stored first if there are none."""
        if subscription_id not in self._explanations:
            sub = self.subscription(subscription_id)
            self._explanations[subscription_id] = Monitoring(self.workspace, self.datamart, sub).explanations
        service = self._explanations[subscription_id]
        stored = service.stored(transaction_id)
        if {"lime", "contrastive"} <= set(stored):
            record = service.transaction(transaction_id)
            attributes = {c: (record[c].item() if hasattr(record[c], "item") else record[c]) for c in service.columns}
            return {"transaction_id": transaction_id, "attributes": attributes, **stored}
        return service.explain(transaction_id)


def group_label(group: list[Any]) -> str:
    """A group as people write it: `female`, `18–25`."""
    return ", ".join(f"{g[0]}–{g[1]}" if isinstance(g, (list, tuple)) else str(g) for g in group)


# The dashboard's fairness views, as OpenScale names them, and the fairness monitor's views behind them.
FAIRNESS_VIEWS = {"Payload": "payload", "Payload + Perturbed": "balanced", "Training": None, "Debiased": "debiased"}


def fairness_rates(details: FairnessDetails, view: str, training: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Monitored vs reference favourable rate per feature in one of the views."""
    rows = []
    for feature, d in details.features.items():
        if FAIRNESS_VIEWS[view] is None:
            rates = training.get(feature, {})
            mon, ref = rates.get("monitored", np.nan), rates.get("reference", np.nan)
        else:
            mon, ref, _ = d.rates(FAIRNESS_VIEWS[view])
        rows.append({"feature": feature, "monitored group": group_label(d.monitored_group),
                     "reference group": group_label(d.reference_group), "monitored rate": mon, "reference rate": ref,
                     "disparate impact": mon / ref if ref else np.nan})
    return pd.DataFrame(rows)


def value_outcomes(feature: FeatureFairness) -> pd.DataFrame:
    """Favourable and unfavourable outcomes per value of a feature, on Payload and Payload + Perturbed data
    (empty for a measurement stored before the fairness monitor kept them)."""
    names = {stored: shown for shown, stored in FAIRNESS_VIEWS.items() if stored in ("payload", "balanced")}
    rows = [{"view": names[view], **row} for view, found in feature.value_outcomes.items() if view in names
            for row in found]
    return pd.DataFrame(rows, columns=["view", "value", "group", "favourable", "unfavourable"])


def alert_counts(alerts: pd.DataFrame, by: str) -> dict[str, int]:
    """How many alerts there are per monitor or per metric."""
    return {str(k): int(v) for k, v in alerts.groupby(by).size().items()} if not alerts.empty else {}


def kpi_units(business_metrics: list[dict[str, Any]]) -> dict[str, str]:
    """The unit each KPI is counted in: its description (e.g. "Accepted credits per day"), else the
    aggregation of its field per day."""
    return {m["name"]: m.get("description") or f"{m['aggregation']} of {m['field']} per day"
            for m in business_metrics}
