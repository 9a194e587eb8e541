"""Seven days of history: hourly traffic replayed through the real deployment with backdated timestamps,
then every monitor evaluated hour by hour as the scheduler would have."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import requests
import sqlalchemy as sa

from .core.clock import utcnow
from .data import load_scoring_feed
from .datamart.feedback import feedback_table
from .datamart.tables import delete_measurements, measurements
from .deployments.artifacts import REPLAY_HEADER, REPLAY_PREFIX, REPLAY_SECRET_HEADER, Deployment, replay_secret
from .monitors.business import BusinessApplications
from .monitors.monitoring import Monitoring
from .monitors.results import Measurement
from .monitors.scheduler import Scheduler
from .tutorial import (
    CREDIT_AMOUNT_FIELD,
    FAIRNESS_FEATURES,
    FAIRNESS_THRESHOLD,
    FAVOURABLE_LABEL,
    FEATURE_COLUMNS,
    LABEL_COLUMN,
    NUMERIC_COLUMNS,
    TUTORIAL_APPLICATION,
    UNFAVOURABLE_LABEL,
)


@dataclass
class Scenario:
    """What shapes the replayed traffic (never the metrics): volumes, who applies, how they look."""

    days: float = 7.0
    min_records: int = 60  # per hour, at night
    max_records: int = 600  # per hour, at the afternoon peak
    feedback_share: float = 0.3  # labelled feedback per hour, as a share of the traffic (at least 50)
    batch_size: int = 50
    # bias against `female`: from bias_start to bias_peak_day, a growing share of female applicants
    # comes from a riskier part of the feed (loans of 30 months or more, no checking account)
    bias_start_day: float = 2.0
    bias_peak_day: float = 4.5
    bias_peak_share: float = 0.85
    # drift towards the end: LoanAmount and Age move up
    drift_start_day: float = 5.0
    loan_amount_factor: float = 2.2
    age_shift: int = 15
    # a latency spike one afternoon: that traffic arrives in a few very large requests
    spike_day: int = 3
    spike_hours: tuple[int, int] = (14, 17)
    spike_batch_size: int = 5000

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Scenario:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(values or {}) - known
        if unknown:
            raise ValueError(f"unknown scenario setting(s): {', '.join(sorted(unknown))}")
        return cls(**(values or {}))

    def volume(self, t: datetime, rng: np.random.Generator) -> int:
        daylight = max(0.0, math.sin(math.pi * (t.hour - 6) / 16)) if 6 <= t.hour <= 22 else 0.0
        share = 0.1 + 0.9 * daylight * rng.uniform(0.8, 1.0)
        return int(round(self.min_records + (self.max_records - self.min_records) * min(share, 1.0)))

    def bias_share(self, day: float) -> float:
        if day < self.bias_start_day:
            return 0.0
        span = max(self.bias_peak_day - self.bias_start_day, 1e-9)
        return self.bias_peak_share * min(1.0, (day - self.bias_start_day) / span)

    def drift_level(self, day: float) -> float:
        if day < self.drift_start_day:
            return 0.0
        return min(1.0, (day - self.drift_start_day) / max(self.days - self.drift_start_day, 1e-9))


@dataclass
class HistorySummary:
    """What a replay produced."""

    start: datetime
    end: datetime
    hours: int
    records: int
    feedback: int
    measurements: int
    alerts: int
    per_hour: pd.DataFrame = field(repr=False)


class HistoryReplay:
    """Replays a scenario for one deployment; a new replay replaces the previous one."""

    def __init__(self, monitoring: Monitoring, deployment: Deployment) -> None:
        self.monitoring = monitoring
        self.deployment = deployment
        self.ctx = monitoring.ctx

    def window(self, days: float, end: datetime | None = None) -> tuple[datetime, datetime]:
        """History ends at `end` if given, else at the hour before the first live (not replayed) record,
        or the current hour."""
        if end is not None:
            end = end.replace(minute=0, second=0, microsecond=0)
            return end - timedelta(hours=round(days * 24)), end
        table = self.ctx.datamart.payload_table(self.ctx.subscription)
        with self.ctx.datamart.engine.connect() as conn:
            first_live = conn.execute(sa.select(sa.func.min(table.c.scoring_timestamp)).where(
                ~table.c.request_id.startswith(REPLAY_PREFIX))).scalar()
        end = min(first_live or utcnow(), utcnow()).replace(minute=0, second=0, microsecond=0)
        return end - timedelta(hours=round(days * 24)), end

    def clear(self, start: datetime, end: datetime) -> None:
        """Remove every earlier replay's records, and measurements of the history window."""
        dm, sub = self.ctx.datamart, self.ctx.subscription
        payload = dm.payload_table(sub)
        feedback = feedback_table(sub)
        feedback.create(dm.engine, checkfirst=True)
        previous = self.ctx.workspace.config.get("history", {}).get(sub.subscription_id)
        lo = min(start, datetime.fromisoformat(previous["start"])) if previous else start
        hi = max(end, datetime.fromisoformat(previous["end"])) if previous else end
        with dm.engine.begin() as conn:
            conn.execute(payload.delete().where(payload.c.request_id.startswith(REPLAY_PREFIX)))
            conn.execute(feedback.delete().where(feedback.c.feedback_id.startswith(REPLAY_PREFIX)))
            ids = sa.select(measurements.c.measurement_id).where(
                measurements.c.subscription_id == sub.subscription_id, measurements.c.window_end > lo,
                measurements.c.window_end <= hi)
            delete_measurements(conn, ids)

    def _enable_monitors(self) -> None:
        """Hourly windows, as a scheduler evaluates them (enabling again also resets the schedules)."""
        mon = self.monitoring
        mon.quality.enable(threshold=0.7, min_records=50, window_hours=1.0)
        mon.fairness.enable(features=FAIRNESS_FEATURES, favourable_classes=[FAVOURABLE_LABEL],
                            unfavourable_classes=[UNFAVOURABLE_LABEL], threshold=FAIRNESS_THRESHOLD,
                            min_records=200, window_hours=1.0)
        mon.drift.enable(threshold=0.05, min_records=100, window_hours=3.0)
        mon.model_health.enable(window_hours=1.0)

    def replay(self, scenario: Scenario | None = None, seed: int = 7, progress: bool = True,
               end: datetime | None = None) -> HistorySummary:
        """Replay the scenario's days up to `end` (default: see `window`); replaces an earlier replay."""
        from tqdm.auto import tqdm

        scenario = scenario or Scenario()
        rng = np.random.default_rng(seed)
        start, end = self.window(scenario.days, end)
        self.clear(start, end)
        self._enable_monitors()
        feed = pd.DataFrame(load_scoring_feed()["values"], columns=FEATURE_COLUMNS)
        risky = feed[(feed["Sex"] == "female") & (feed["LoanDuration"] >= 30)
                     & (feed["CheckingStatus"] == "no_checking")]
        training = self.ctx.training_data
        hours = int(round((end - start).total_seconds() / 3600))
        per_hour, total_records, total_feedback = [], 0, 0
        secret = replay_secret(self.deployment.path)
        with requests.Session() as http:
            for h in tqdm(range(hours), desc="replaying hours", unit="h", disable=not progress):
                t = start + timedelta(hours=h)
                day = h / 24.0
                n = scenario.volume(t, rng)
                batch = feed.iloc[rng.integers(0, len(feed), n)].reset_index(drop=True)
                share = scenario.bias_share(day)
                female = np.flatnonzero((batch["Sex"] == "female").to_numpy() & (rng.random(n) < share))
                if len(female):
                    batch.iloc[female] = risky.iloc[rng.integers(0, len(risky), len(female))].to_numpy()
                    batch[NUMERIC_COLUMNS] = batch[NUMERIC_COLUMNS].astype(int)
                level = scenario.drift_level(day)
                if level > 0:
                    moved = rng.random(n) < level
                    batch.loc[moved, "LoanAmount"] = (batch.loc[moved, "LoanAmount"]
                                                      * scenario.loan_amount_factor).round().astype(int)
                    batch.loc[moved, "Age"] = (batch.loc[moved, "Age"] + scenario.age_shift).clip(upper=75)
                spike = int(day) == scenario.spike_day and scenario.spike_hours[0] <= t.hour < scenario.spike_hours[1]
                size = scenario.spike_batch_size if spike else scenario.batch_size
                chunks = range(0, n, size)
                for k, s in enumerate(chunks):
                    when = t + timedelta(seconds=3600 * (k + 0.5) / len(chunks))
                    body = {"fields": FEATURE_COLUMNS, "values": batch.iloc[s:s + size].values.tolist()}
                    reply = http.post(self.deployment.scoring_url, json=body, timeout=120,
                                      headers={REPLAY_HEADER: when.isoformat(), REPLAY_SECRET_HEADER: secret})
                    reply.raise_for_status()
                m = max(50, int(round(scenario.feedback_share * n)))
                labelled = training.iloc[rng.integers(0, len(training), m)][FEATURE_COLUMNS + [LABEL_COLUMN]]
                # the same applicant drawn twice in an hour is one labelled record (feedback is idempotent)
                m = self.monitoring.feedback.log(labelled, timestamp=t + timedelta(minutes=30),
                                                 id_prefix=REPLAY_PREFIX)
                per_hour.append({"hour": t, "records": n, "feedback": m, "bias_share": share, "drift_level": level,
                                 "latency_spike": spike})
                total_records += n
                total_feedback += m
        produced = self._evaluate(start, hours, progress)
        apps = BusinessApplications(self.ctx.datamart)
        app = apps.create(**TUTORIAL_APPLICATION, subscription_ids=[self.ctx.subscription.subscription_id])
        apps.derive_credit_payload(app, self.ctx.subscription, start, end, favourable=FAVOURABLE_LABEL,
                                   amount_field=CREDIT_AMOUNT_FIELD)
        self.monitoring.business_kpis.enable(application=app.name)
        produced += self.monitoring.business_kpis.run_days(start, end)
        history = dict(self.ctx.workspace.config.get("history", {}))
        history[self.ctx.subscription.subscription_id] = {"start": start.isoformat(), "end": end.isoformat(),
                                                          "seed": seed, "scenario": asdict(scenario)}
        self.ctx.workspace.update_config(history=history)
        return HistorySummary(start, end, hours, total_records, total_feedback, len(produced),
                              sum(len(m.alerts) for m in produced), pd.DataFrame(per_hour))

    def _evaluate(self, start: datetime, hours: int, progress: bool) -> list[Measurement]:
        """Every monitor for every hour (drift every three), exactly as the scheduler runs them."""
        from tqdm.auto import tqdm

        scheduler = Scheduler(self.ctx.workspace, [self.ctx.subscription.subscription_id])
        scheduler.use(self.monitoring)
        produced = []
        for h in tqdm(range(1, hours + 1), desc="evaluating monitors", unit="h", disable=not progress):
            produced += scheduler.run_pending(start + timedelta(hours=h))
        return produced


def plot_history_traffic(summary: HistorySummary) -> Any:
    """Records per hour, with the scenario's bias share and drift level."""
    import matplotlib.pyplot as plt

    frame = summary.per_hour
    fig, ax = plt.subplots(figsize=(10, 3))
    colors = ["#c0392b" if spike else "#95a5a6" for spike in frame["latency_spike"]]
    ax.bar(frame["hour"], frame["records"], width=1 / 24, color=colors, label="records (red: large requests)")
    ax.set_ylabel("records per hour")
    ax2 = ax.twinx()
    ax2.plot(frame["hour"], frame["bias_share"], color="#e67e22", label="share of risky female applicants")
    ax2.plot(frame["hour"], frame["drift_level"], color="#8e44ad", label="share of drifted applicants")
    ax2.set_ylim(0, 1)
    ax2.legend(loc="upper left", fontsize=8)
    ax.set_title("Replayed traffic")
    fig.autofmt_xdate()
    fig.tight_layout()
    return ax
