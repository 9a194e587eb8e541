"""Seven days of history: hourly traffic replayed through the real deployment with backdated timestamps,
true labels from the scenario's world coming back as feedback, the business process's records, then every
monitor evaluated hour by hour as the scheduler would have."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import requests
import sqlalchemy as sa

from ..core.clock import naive_utc, utcnow
from ..data import load_scoring_feed, load_training_reference
from ..datamart.database import of_source
from ..datamart.feedback import feedback_table
from ..datamart.tables import REPLAY_PREFIX, delete_measurements, measurements
from ..deployments.artifacts import REPLAY_HEADER, REPLAY_SECRET_HEADER, Deployment, replay_secret
from ..deployments.engine import MLEngine
from ..errors import LabError, ModelRepositoryError
from ..models.repository import ModelRepository
from ..monitors.business import BusinessApplications
from ..monitors.monitoring import Monitoring
from ..monitors.results import Measurement
from ..tutorial import (
    FAIRNESS_FEATURES,
    FAIRNESS_THRESHOLD,
    FAVOURABLE_LABEL,
    FEATURE_COLUMNS,
    TUTORIAL_APPLICATION,
    UNFAVOURABLE_LABEL,
)
from .scenario import Scenario
from .world import World, business_records

STORY_VERSION = 2  # replays since which every replayed measurement carries the replay prefix
STORY_MONITORS = ["quality", "fairness", "drift", "model_health"]  # evaluated on their schedules, in this order
# the part of the feed the campaign's extra applicants come from: one the model mostly refuses
RISKY_APPLICANTS = ("Sex == 'female' and CheckingStatus == 'no_checking' and EmploymentDuration == 'greater_7' "
                    "and Housing == 'free'")


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
    business_records: int = 0
    per_hour: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def day_of(self, times: pd.Series) -> pd.Series:
        """The story's day (0: the first) of window ends or alert times; a window ending as a day ends is
        that day's."""
        return story_day(self.start, times)


def story_day(start: datetime, times: pd.Series) -> pd.Series:
    """The story's day (0: the first) of window ends or alert times in a week starting at `start`."""
    hours = (pd.to_datetime(times) - start).dt.total_seconds() // 3600
    return ((hours - 1) // 24).astype(int)


@dataclass(frozen=True)
class StoredWeek:
    """The replayed week of a deployment as the workspace records it."""

    start: datetime
    end: datetime
    seed: int
    scenario: Scenario
    replayed_from: datetime | None = None  # the story was replayed again from here (notebook 06)
    world_data: dict[str, Any] | None = None  # the training data reference the world's labelling model learnt

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400

    def day_start(self, day: float) -> datetime:
        """When the story's day `day` begins."""
        return self.start + timedelta(days=day)

    def day_of(self, times: pd.Series) -> pd.Series:
        return story_day(self.start, times)


class HistoryReplay:
    """Replays a scenario for one deployment; a new replay replaces the previous one."""

    def __init__(self, monitoring: Monitoring, deployment: Deployment) -> None:
        self.monitoring = monitoring
        self.deployment = deployment
        self.ctx = monitoring.ctx
        # the story's monitors read only replayed records: live ones in the same hours stay out of it
        self.story = monitoring.restricted(REPLAY_PREFIX)

    @staticmethod
    def window(days: float, end: datetime | None = None) -> tuple[datetime, datetime]:
        """The week ends at `end` if given (rounded down to the hour; a time zone is converted to UTC), else
        at the end of the current hour, so that it ends after the live records of the earlier notebooks and
        the overview shows the week's last state."""
        if end is None:
            now = utcnow()
            end = now.replace(minute=0, second=0, microsecond=0)
            if end < now:
                end += timedelta(hours=1)
        end = naive_utc(end, "end", LabError).replace(minute=0, second=0, microsecond=0)
        return end - timedelta(hours=round(days * 24)), end

    def ensure_week(self, scenario: Scenario | None = None, seed: int = 7, progress: bool = True) -> StoredWeek:
        """The stored week, replayed first if there is none (with `scenario` and `seed`), if it went on with
        another model from some hour (`replay_from`: replayed again with its own scenario and seed), or if it is
        under two days, too short to learn anything in (then `scenario`)."""
        week = self.stored()
        if week is None or week.replayed_from is not None or week.days < 2:
            own = week is not None and week.days >= 2
            self.replay(week.scenario if own else scenario, seed=week.seed if week else seed, progress=progress)
            week = self.stored()
        assert week is not None  # just replayed
        return week

    def first_alert_window(self, monitor: str, before: datetime) -> datetime | None:
        """Where the data window of the story's first `monitor` alert raised by `before` starts (None: no
        alert by then)."""
        alerts = self.alerts(monitor)
        alerts = alerts[alerts["timestamp"] <= before]
        if alerts.empty:
            return None
        done = self.measurements(monitor).set_index("measurement_id")
        return pd.Timestamp(done.loc[alerts["measurement_id"].iloc[0], "window_start"]).to_pydatetime()

    def _world_data(self) -> dict[str, Any]:
        """The training data of the model the deployment was first deployed with: the world's labelling model
        learns it, whichever model serves now (a retrained one learnt from the story's own feedback)."""
        history = MLEngine(self.ctx.workspace).get(self.deployment.deployment_id).history
        first = history[0]["model_id"] if history else self.ctx.subscription.model_id
        try:
            return dict(ModelRepository(self.ctx.workspace).get(first).metadata["training_data_reference"])
        except ModelRepositoryError:  # removed from the repository since: the serving model's data
            return dict(self.ctx.model_metadata["training_data_reference"])

    def stored(self) -> StoredWeek | None:
        """The week this deployment's story was last replayed for (None if there is none, or one made before
        stories were kept apart from live records)."""
        found = self.ctx.workspace.config.get("history", {}).get(self.ctx.subscription.subscription_id)
        if not found or found.get("story") != STORY_VERSION:
            return None
        again = found.get("replayed_from")
        return StoredWeek(datetime.fromisoformat(found["start"]), datetime.fromisoformat(found["end"]),
                          int(found["seed"]), Scenario.from_dict(found["scenario"]),
                          datetime.fromisoformat(again) if again else None, found.get("world_data"))

    def clear(self) -> None:
        """Remove the previous replay of this subscription: its payload, feedback, business records and
        measurements (all marked with the replay prefix). Live records and measurements stay."""
        dm, sub = self.ctx.datamart, self.ctx.subscription
        payload = dm.payload_table(sub)
        feedback = feedback_table(sub)
        feedback.create(dm.engine, checkfirst=True)
        previous = self.ctx.workspace.config.get("history", {}).get(sub.subscription_id)
        mine = measurements.c.subscription_id == sub.subscription_id
        with dm.engine.begin() as conn:
            conn.execute(payload.delete().where(*of_source(payload.c.request_id, REPLAY_PREFIX)))
            conn.execute(feedback.delete().where(*of_source(feedback.c.feedback_id, REPLAY_PREFIX)))
            delete_measurements(conn, sa.select(measurements.c.measurement_id).where(
                mine, *of_source(measurements.c.measurement_id, REPLAY_PREFIX)))
            if previous and previous.get("story") != STORY_VERSION:
                # replays before measurements were marked: what overlaps their week was theirs (and its KPI days)
                lo, hi = datetime.fromisoformat(previous["start"]), datetime.fromisoformat(previous["end"])
                delete_measurements(conn, sa.select(measurements.c.measurement_id).where(
                    mine, measurements.c.window_end > lo,
                    sa.or_(measurements.c.window_start.is_(None), measurements.c.window_start < hi)))
        apps = BusinessApplications(dm)
        app = apps.get(TUTORIAL_APPLICATION["name"], missing_ok=True)
        if app is not None:
            apps.delete_payload(app, sub.subscription_id, REPLAY_PREFIX)

    def _enable_monitors(self) -> None:
        """Hourly windows as a scheduler evaluates them; a window short of records reaches back to the last
        `min_records` (OpenScale's fairness and quality read the latest records). Enabling resets schedules."""
        mon = self.monitoring
        mon.quality.enable(threshold=0.7, min_records=200, window_hours=1.0, reach_back=True)
        mon.fairness.enable(features=FAIRNESS_FEATURES, favourable_classes=[FAVOURABLE_LABEL],
                            unfavourable_classes=[UNFAVOURABLE_LABEL], threshold=FAIRNESS_THRESHOLD,
                            min_records=200, window_hours=1.0, reach_back=True)
        mon.drift.enable(threshold=0.05, min_records=200, window_hours=3.0, reach_back=True)
        mon.model_health.enable(window_hours=1.0)

    def replay(self, scenario: Scenario | None = None, seed: int = 7, progress: bool = True,
               end: datetime | None = None) -> HistorySummary:
        """Replay the scenario's days up to `end` (default: see `window`); replaces an earlier replay."""
        scenario = scenario or Scenario()
        start, end = self.window(scenario.days, end)
        self.clear()
        self._enable_monitors()
        world_data = self._world_data()
        summary = self._replay(scenario, seed, start, end, 0, world_data, progress)
        history = dict(self.ctx.workspace.config.get("history", {}))
        history[self.ctx.subscription.subscription_id] = {
            "start": start.isoformat(), "end": end.isoformat(), "seed": seed, "scenario": asdict(scenario),
            "story": STORY_VERSION, "world_data": world_data}
        self.ctx.workspace.update_config(history=history)
        return summary

    def replay_from(self, at: datetime, progress: bool = True) -> HistorySummary:
        """Replay the stored story again from `at` (rounded down to the hour) to its end, with the model the
        deployment serves now: the same applicants and the same world, scored and monitored again. What the
        story logged before `at` stays, and so do labels of earlier transactions arriving later; the records
        of transactions from `at` on, their labels and business records, and measurements of windows ending
        after `at` are replaced. The summary counts what was replayed."""
        week = self.stored()
        if week is None:
            raise LabError("there is no replayed week of this deployment to continue: run notebook 04 (or "
                           "HistoryReplay.replay) first")
        start, end = week.start, week.end
        at = naive_utc(at, "at", LabError).replace(minute=0, second=0, microsecond=0)
        if not start < at < end:
            raise LabError(f"at ({at.isoformat()}) must be inside the replayed week, after {start.isoformat()} and "
                           f"before {end.isoformat()}")
        self._clear_from(at)
        summary = self._replay(week.scenario, week.seed, start, end, int((at - start).total_seconds() // 3600),
                               week.world_data or self._world_data(), progress)
        history = dict(self.ctx.workspace.config.get("history", {}))
        sub_id = self.ctx.subscription.subscription_id
        history[sub_id] = dict(history[sub_id], replayed_from=at.isoformat())
        self.ctx.workspace.update_config(history=history)
        return summary

    def _clear_from(self, at: datetime) -> None:
        """Remove the story's transactions scored from `at` on with their labels and business records, and its
        measurements of windows ending after `at`, in one transaction (business records after it)."""
        dm, sub = self.ctx.datamart, self.ctx.subscription
        payload, feedback = dm.payload_table(sub), feedback_table(sub)
        feedback.create(dm.engine, checkfirst=True)
        # a label is stored under its transaction's id (FeedbackLog.record_id): the replay's labels of those later
        later = sa.select(sa.literal(f"{REPLAY_PREFIX}tx-", sa.String) + payload.c.scoring_id).where(
            *of_source(payload.c.request_id, REPLAY_PREFIX), payload.c.scoring_timestamp >= at)
        with dm.engine.begin() as conn:
            conn.execute(feedback.delete().where(feedback.c.feedback_id.in_(later)))
            conn.execute(payload.delete().where(*of_source(payload.c.request_id, REPLAY_PREFIX),
                                                payload.c.scoring_timestamp >= at))
            delete_measurements(conn, sa.select(measurements.c.measurement_id).where(
                measurements.c.subscription_id == sub.subscription_id, measurements.c.window_end > at,
                *of_source(measurements.c.measurement_id, REPLAY_PREFIX)))
        apps = BusinessApplications(dm)
        app = apps.get(TUTORIAL_APPLICATION["name"], missing_ok=True)
        if app is not None:
            apps.delete_payload(app, sub.subscription_id, REPLAY_PREFIX, since=at)

    def _replay(self, scenario: Scenario, seed: int, start: datetime, end: datetime, first_hour: int,
                world_data: dict[str, Any], progress: bool) -> HistorySummary:
        """The story's hours, every draw of its world made in the same order each time; hours before
        `first_hour` are drawn and left as the story logged them, the later ones scored and logged. The world's
        labelling model is fitted on `world_data` (a training data reference): the data of the model the
        week began with, whichever model serves now."""
        from ..core.progress import progress as tqdm

        rng = np.random.default_rng(seed)
        sub = self.ctx.subscription
        world = World(load_training_reference(world_data), sub.label_column)
        feed = pd.DataFrame(load_scoring_feed()["values"], columns=FEATURE_COLUMNS)
        risky = feed.query(RISKY_APPLICANTS)
        known = world.base_probability(feed)  # the world's view of every feed row, once
        hours = scenario.hours
        per_hour, business, total_feedback = [], [], 0
        pending: dict[int, list[pd.DataFrame]] = {}  # labels by the hour they arrive in
        secret = replay_secret(self.deployment.path)
        with requests.Session() as http:
            for h in tqdm(range(hours), desc="replaying hours", unit="h", disable=not progress):
                t = start + timedelta(hours=h)
                day = h / 24.0
                batch, rows = self._applicants(feed, risky, scenario.volume(h % 24, rng), day, scenario, rng)
                n = len(batch)
                # the world decides who turns out a bad risk; a share of those labels comes back later
                moved = scenario.drift_level(day) > 0  # drifted applicants are no longer the feed's rows
                truth = world.labels(batch, day, scenario, rng, None if moved else known[rows])
                chosen = rng.random(n) < scenario.feedback_share
                take_up = scenario.take_up_rate(day)
                if h < first_hour:  # logged before: the business process's draws are made all the same
                    rng.random(n)
                    continue
                spike = scenario.spike(h)
                size = scenario.spike_batch_size if spike else scenario.batch_size
                scored = self._score(http, secret, batch, t, size)
                ids = scored["transaction_id"][chosen].to_numpy()
                labelled = batch[chosen].assign(**{sub.label_column: truth[chosen], sub.transaction_id_column: ids},
                                                arrives=scored["timestamp"][chosen].to_numpy()
                                                + np.timedelta64(scenario.feedback_delay_hours, "h"))
                pending.setdefault(h + scenario.feedback_delay_hours, []).append(labelled)
                business.append(business_records(scored, sub.predicted_label_column, take_up, rng))
                arrived = self._log_feedback(pending.pop(h, []))
                total_feedback += arrived
                per_hour.append({"hour": t, "records": n, "feedback": arrived, "bias_share": scenario.bias_share(day),
                                 "drift_level": scenario.drift_level(day),
                                 "concept_shift": scenario.concept_odds(day) != 1.0, "latency_spike": spike,
                                 "bad_risk_rate": float(np.mean(truth == UNFAVOURABLE_LABEL))})
        # labels due after the week's end have not arrived yet
        apps = BusinessApplications(self.ctx.datamart)
        app = apps.create(**TUTORIAL_APPLICATION, subscription_ids=[sub.subscription_id])
        stored = apps.store_payload(app, sub.subscription_id, pd.concat(business, ignore_index=True))
        produced = self._evaluate(start, hours, progress, after=first_hour)
        kpis = self.story.business_kpis
        kpis.enable(application=app.name)
        for d in range(math.ceil(hours / 24)):  # the story's days: 24 hours from the week's start
            day_start = start + timedelta(days=d)
            day_end = min(day_start + timedelta(days=1), end)
            if day_end > start + timedelta(hours=first_hour):
                produced.append(kpis.run(day_start, day_end))
        frame = pd.DataFrame(per_hour)
        return HistorySummary(start, end, hours, int(frame["records"].sum()), total_feedback, len(produced),
                              sum(len(m.alerts) for m in produced), stored, frame)

    @staticmethod
    def _applicants(feed: pd.DataFrame, risky: pd.DataFrame, n: int, day: float, scenario: Scenario,
                    rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
        """An hour's applicants from the feed, with the campaign's extra risky applicants, shaped by the data
        drift; and the feed rows they were drawn from."""
        batch = feed.iloc[rng.integers(0, len(feed), n)]
        extra = rng.binomial(int((batch["Sex"] == "female").sum()), scenario.bias_share(day))
        if extra:
            batch = pd.concat([batch, risky.iloc[rng.integers(0, len(risky), extra)]])
        batch = batch.iloc[rng.permutation(len(batch))]
        rows = batch.index.to_numpy()
        batch = batch.reset_index(drop=True)
        level = scenario.drift_level(day)
        if level > 0:
            moved = rng.random(len(batch)) < level
            batch.loc[moved, "InstallmentPercent"] += scenario.installment_shift
            batch.loc[moved, "LoanAmount"] = (batch.loc[moved, "LoanAmount"]
                                              * scenario.loan_amount_factor).round().astype(int)
            batch.loc[moved, "Age"] = (batch.loc[moved, "Age"] + scenario.age_shift).clip(upper=75)
        return batch, rows

    def _score(self, http: requests.Session, secret: str, batch: pd.DataFrame, t: datetime,
               size: int) -> pd.DataFrame:
        """Send an hour's applicants in requests of `size`, spread over the hour; the scored records back."""
        chunks = range(0, len(batch), size)
        out = []
        for k, s in enumerate(chunks):
            when = t + timedelta(seconds=3600 * (k + 0.5) / len(chunks))
            body = {"fields": FEATURE_COLUMNS, "values": batch.iloc[s:s + size].values.tolist()}
            reply = http.post(self.deployment.scoring_url, json=body, timeout=120,
                              headers={REPLAY_HEADER: when.isoformat(), REPLAY_SECRET_HEADER: secret})
            reply.raise_for_status()
            got = reply.json()
            out.append(pd.DataFrame(got["values"], columns=got["fields"]).assign(timestamp=when))
        return pd.concat(out, ignore_index=True)

    def _log_feedback(self, frames: list[pd.DataFrame]) -> int:
        """Log the labels arriving in an hour, each `feedback_delay_hours` after its transaction was scored;
        returns how many were stored."""
        if not frames:
            return 0
        labels = pd.concat(frames, ignore_index=True)
        return self.monitoring.feedback.log(labels.drop(columns="arrives"), id_prefix=REPLAY_PREFIX,
                                            times=[t.to_pydatetime() for t in labels["arrives"]])

    def _evaluate(self, start: datetime, hours: int, progress: bool, after: int = 0) -> list[Measurement]:
        """Every monitor on its schedule (drift every three hours, the others hourly), each over its window
        ending on the hour, as the scheduler runs them, over the replayed records only; the last windows end
        with the week; only those ending after hour `after` are evaluated. The story keeps its own schedule: the
        live one (`last_run_at`) is left alone."""
        from ..core.progress import progress as tqdm

        enabled = self.ctx.store.instances(self.ctx.subscription.subscription_id)
        schedules = {i["monitor"]: float(i["schedule_hours"]) for i in enabled
                     if i["monitor"] in STORY_MONITORS and float(i["schedule_hours"]) > 0}
        produced = []
        for h in tqdm(range(after + 1, hours + 1), desc="evaluating monitors", unit="h", disable=not progress):
            for name in STORY_MONITORS:
                every = schedules.get(name)
                # on the hours counted back from the week's end: every monitor's last window ends with the week
                if every is not None and h >= every and (hours - h) % every < 1e-9:
                    produced.append(self.story.monitor(name).run(end=start + timedelta(hours=h)))
        return produced

    def measurements(self, monitor: str | None = None) -> pd.DataFrame:
        """The replayed story's measurements, oldest first."""
        return self.story.measurements(monitor)

    def alerts(self, monitor: str | None = None) -> pd.DataFrame:
        """The replayed story's alerts, oldest first."""
        return self.story.alerts(monitor)


def plot_history_traffic(summary: HistorySummary) -> Any:
    """Applications per hour, with the scenario's levers: population change, data drift, concept drift."""
    import matplotlib.pyplot as plt

    frame = summary.per_hour
    fig, ax = plt.subplots(figsize=(10, 3.2))
    colors = ["#c0392b" if spike else "#95a5a6" for spike in frame["latency_spike"]]
    ax.bar(frame["hour"], frame["records"], width=1 / 24, color=colors, label="applications (red: large requests)")
    ax.set_ylabel("applications per hour")
    ax2 = ax.twinx()
    ax2.plot(frame["hour"], frame["bias_share"], color="#e67e22", label="share of risky female applicants")
    ax2.plot(frame["hour"], frame["drift_level"], color="#8e44ad", label="share of drifted applicants")
    ax2.plot(frame["hour"], frame["bad_risk_rate"], color="#2c3e50", lw=0.8,
             label="bad-risk rate in the world (true labels)")
    shifted = frame[frame["concept_shift"]]
    if not shifted.empty:
        ax2.axvspan(shifted["hour"].iloc[0], shifted["hour"].iloc[-1], color="#3498db", alpha=0.08,
                    label="concept drift (segment defaults more)")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("share")
    bars, lines = ax.get_legend_handles_labels(), ax2.get_legend_handles_labels()
    ax2.legend(bars[0] + lines[0], bars[1] + lines[1], loc="upper left", fontsize=7)
    ax.set_title("Replayed week: traffic and the scenario's levers")
    fig.autofmt_xdate()
    fig.tight_layout()
    return ax
