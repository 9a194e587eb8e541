"""Notebook 04: the replayed week, its measurements, and the story it must tell."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import openscale_lab as lab
from openscale_lab.datamart.database import DataMart
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.history import HistoryReplay, Scenario
from openscale_lab.monitors import Monitoring
from openscale_lab.monitors.base import MonitorStore
from openscale_lab.monitors.business import BusinessApplications
from openscale_lab.tutorial import TUTORIAL_APPLICATION

from .helpers import assert_exercises_solved, copy_workspace

pytestmark = [pytest.mark.notebooks, pytest.mark.spark]
STORY = Scenario()


def _frame(store: MonitorStore, sub_id: str, monitor: str, start: datetime) -> pd.DataFrame:
    """A monitor's replayed measurements with the story's hour (1 = the window ending an hour in) and day."""
    m = store.measurements(sub_id, monitor)
    m = m[m["measurement_id"].str.startswith("replay-")].copy()
    m["hour"] = ((m["window_end"] - start).dt.total_seconds() // 3600).astype(int)
    m["day"] = (m["hour"] - 1) // 24
    return m


def test_notebook_04_writes_real_hourly_measurements(history) -> None:  # type: ignore[no-untyped-def]
    ws, rec, _ = history
    assert rec["hours"] == 168
    start, end = datetime.fromisoformat(rec["history_start"]), datetime.fromisoformat(rec["history_end"])
    assert end - start == timedelta(days=7)
    counts = rec["measurements_by_monitor"]
    assert counts["fairness"] == counts["quality"] == counts["model_health"] == 168  # every hour, evaluated or not
    assert counts["drift"] == 56 and counts["business_kpis"] == 7  # every three hours; every day
    assert rec["alerts"] == sum(rec["alerts_by_monitor"].values())
    dm = DataMart(ws.datamart_url)
    try:
        sub = dm.get_subscription(rec["subscription_id"])
        payload = dm.get_payload(sub, start, end)
        assert len(payload) == rec["records"]
        assert payload["request_id"].str.startswith("replay-").all()
        per_hour = payload.groupby(payload["scoring_timestamp"].dt.floor("h")).size()
        assert len(per_hour) == 168 and per_hour.min() >= STORY.min_records
        daily = payload.groupby((payload["scoring_timestamp"] - start).dt.days).size()
        # near the tutorial's scale of about 2 880 a day before the campaign; its extra applicants come on top
        assert daily[:2].between(2_900, 3_400).all() and daily.max() < 4_300
        store = MonitorStore(dm)
        fairness = store.measurements(sub.subscription_id, "fairness")
        evaluated = fairness[fairness["status"] == "evaluated"]
        assert len(evaluated) == rec["fairness_evaluated_hours"] >= 160
        lowest = min(evaluated.itertuples(), key=lambda r: r.metrics["Sex"])
        assert lowest.window_end.isoformat() == rec["lowest_fairness_hour"]
        assert lowest.metrics["Sex"] == pytest.approx(rec["lowest_fairness_sex"])
        # a quiet night hour reaches back to the last 200 records, and its window says so
        reached = evaluated[evaluated["window_end"] - evaluated["window_start"] > timedelta(hours=1)]
        assert len(reached) > 20 and (reached["record_count"] >= 200).all()
        quality = store.measurements(sub.subscription_id, "quality")
        assert (quality[quality["status"] == "evaluated"]["record_count"] >= 200).all()
        alerts = store.alerts(sub.subscription_id)
        window = alerts[(alerts["timestamp"] > start) & (alerts["timestamp"] <= end)]
        assert len(window) == rec["alerts"]
        # feedback: the replayed transactions' own labels, linked by id, two hours after scoring
        labelled = Monitoring.for_deployment(ws, MLEngine(ws).list()[0]).feedback.read(start, end)
        assert len(labelled) == rec["feedback"]
        assert labelled["feedback_id"].str.startswith("replay-tx-replay-").all()
        scored = payload.set_index("scoring_id")["scoring_timestamp"]
        sent = labelled["feedback_id"].str.removeprefix("replay-tx-").map(scored)
        assert sent.notna().all()
        assert (labelled["timestamp"] - sent == timedelta(hours=STORY.feedback_delay_hours)).all()
    finally:
        dm.close()


def test_the_week_tells_the_story(history) -> None:  # type: ignore[no-untyped-def]
    """(a) fairness alerts mid-week, from a population change; (b) quality dips below 0.7 with the concept drift
    on day 3 and not before; (c) data drift alerts at the end; (d) exactly one full day breaches the KPI limits;
    (e) the latency spike."""
    ws, rec, _ = history
    start = datetime.fromisoformat(rec["history_start"])
    dm = DataMart(ws.datamart_url)
    try:
        store, sub_id = MonitorStore(dm), rec["subscription_id"]
        alerts = store.alerts(sub_id)
        alerts["day"] = ((alerts["timestamp"] - start).dt.total_seconds() // 3600 - 1).astype(int) // 24

        # (a) healthy before the campaign, below 0.95 after it; the balanced view stays where it was
        fair = _frame(store, sub_id, "fairness", start)
        fair = fair[fair["status"] == "evaluated"]
        sex = pd.Series([m["Sex"] for m in fair["metrics"]], index=fair["hour"])
        balanced = pd.Series([d["features"]["Sex"]["balanced_disparate_impact"] for d in fair["details"]],
                             index=fair["hour"])
        before, peak = sex.index <= 24 * STORY.bias_start_day, sex.index > 24 * STORY.bias_peak_day
        assert sex[before].min() >= 0.95
        assert sex[peak].median() < 0.95 and sex[before].median() - sex[peak].median() > 0.2
        assert abs(balanced[before].median() - balanced[peak].median()) < 0.05  # the model did not change
        fairness_days = set(alerts[alerts["monitor"] == "fairness"]["day"])
        assert fairness_days and min(fairness_days) in (2, 3, 4)

        # (b) quality reacts to the world's concept change: below 0.7 after day 3, never before
        quality = _frame(store, sub_id, "quality", start)
        quality = quality[quality["status"] == "evaluated"]
        auc = pd.Series([m["area_under_roc"] for m in quality["metrics"]], index=quality["hour"])
        shift = int(24 * STORY.concept_shift_day)
        assert auc[auc.index <= shift].min() >= 0.7
        assert auc[auc.index > shift].min() < 0.7
        assert 3 in set(alerts[alerts["monitor"] == "quality"]["day"])
        assert not set(alerts[alerts["monitor"] == "quality"]["day"]) & {0, 1, 2}

        # (c) data drift at the end: data consistency alerts from day 5 on, none before
        consistency = alerts[(alerts["monitor"] == "drift") & (alerts["metric"] == "data_drift_magnitude")]
        assert len(consistency) >= 5 and consistency["day"].min() >= int(STORY.drift_start_day)

        # (d) the KPIs, recomputed from the business payload, near the tutorial's limits; exactly day 5 alerts
        apps = BusinessApplications(dm)
        app = apps.get(TUTORIAL_APPLICATION["name"])
        table = app.table()
        with dm.engine.connect() as conn:
            rows = pd.read_sql(sa.select(table.c.timestamp, table.c.Accepted, table.c.AmountGranted)
                               .where(table.c.record_id.startswith("replay-")), conn)
        rows["day"] = (rows["timestamp"] - start).dt.days
        recomputed = rows.groupby("day")[["Accepted", "AmountGranted"]].sum()
        kpis = _frame(store, sub_id, "business_kpis", start)
        limits = {m["name"]: m["lower_limit"] for m in TUTORIAL_APPLICATION["business_metrics"]}
        for row in kpis.itertuples():
            accepted, granted = row.metrics["Accepted Credits"], row.metrics["Credit Amount Granted"]
            assert (accepted, granted) == tuple(recomputed.loc[row.day])
            assert abs(accepted / limits["Accepted Credits"] - 1) <= 0.2
            assert abs(granted / limits["Credit Amount Granted"] - 1) <= 0.2
        breaching = set(alerts[alerts["monitor"] == "business_kpis"]["day"])
        assert breaching == {STORY.take_up_dip_day}
        assert len(kpis) == 7

        # (e) the latency spike: the afternoon of large requests is slower than every other hour
        health = _frame(store, sub_id, "model_health", start)
        latency = pd.Series([m["response_time_avg_ms"] for m in health["metrics"]], index=health["hour"] - 1)
        spike = [h for h in latency.index if STORY.spike(h)]
        assert latency[spike].min() > 1.3 * latency.drop(spike).median()
    finally:
        dm.close()


def test_notebook_04_exercises_are_checked_from_the_week(history) -> None:  # type: ignore[no-untyped-def]
    """The worked solutions of notebook 04's exercises pass their self-checks (they only read the week)."""
    ws, _, _ = history
    answers = assert_exercises_solved("04", ws)
    assert answers["exercise_04_1"] >= 0 and answers["exercise_04_2"] >= 0


def test_replay_is_reproducible_keeps_live_records_out_and_replaces_itself(history, tmp_path) -> None:  # type: ignore[no-untyped-def]
    original, rec, _ = history
    ws = copy_workspace(original, tmp_path / "copy")  # the fixture's week stays as it is for the other tests
    engine = MLEngine(ws)
    dep = engine.start(engine.list()[0])
    mon = Monitoring.for_deployment(ws, dep)
    try:
        lab.score(dep, lab.sample_payload())  # live records inside the next replay's week
        live = mon.datamart.get_payload(mon.subscription)
        live = live[~live["request_id"].str.startswith("replay-")]
        assert len(live) >= 8
        # a live run reads live records only (it reaches back to them, never into the replayed week)
        mine = mon.fairness.run()
        assert mine.status == "not_evaluated" and mine.record_count == len(live)
        before = len(mon.measurements())
        # the same week an hour later: the window moves, the story does not
        later = datetime.fromisoformat(rec["history_end"]) + timedelta(hours=1)
        again = HistoryReplay(mon, dep).replay(Scenario(), seed=7, progress=False, end=later)
        assert (again.records, again.hours, again.feedback) == (rec["records"], 168, rec["feedback"])
        alerts = mon.alerts()
        alerts = alerts[alerts["measurement_id"].str.startswith("replay-")]
        assert len(alerts) == rec["alerts"] == again.alerts
        assert len(mon.measurements()) == before  # replaced, not doubled
        assert mine.measurement_id in set(mon.measurements("fairness")["measurement_id"])  # live runs stay
        fairness = mon.measurements("fairness")
        fairness = fairness[(fairness["status"] == "evaluated") & fairness["measurement_id"].str.startswith("replay-")]
        assert min(m["Sex"] for m in fairness["metrics"]) == pytest.approx(rec["lowest_fairness_sex"])
        kept = mon.datamart.get_payload(mon.subscription)
        assert set(live["scoring_id"]) <= set(kept["scoring_id"])  # live records are kept, and left out
        assert np.isin(kept["request_id"].str.startswith("replay-"), [True]).sum() == rec["records"]
    finally:
        mon.close()
        engine.stop_all()
