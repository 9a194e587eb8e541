"""A replayed story and the live records kept apart: sources in the data mart, reach-back windows, business
records and KPIs, the scenario's checks. No Spark: a data mart filled by hand, on SQLite and PostgreSQL."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import pandas as pd
import pytest

from openscale_lab.core.clock import utcnow
from openscale_lab.datamart.database import LIVE, DataMart, DataMartError
from openscale_lab.history import Scenario, ScenarioError
from openscale_lab.monitors.base import Evaluation, Monitor, MonitorContext, MonitorStore
from openscale_lab.monitors.business import BusinessApplications, BusinessError, BusinessKPIMonitor
from openscale_lab.monitors.results import Details, MonitorConfig, Threshold
from openscale_lab.tutorial import TUTORIAL_APPLICATION

from .helpers import T0, make_subscription, payload_rows

STORY = "replay-"


def _fill(dm: DataMart, sub: Any, n: int, start: datetime, request: str, step: timedelta) -> list[dict[str, Any]]:
    rows = payload_rows(n, start, step)
    for i, row in enumerate(rows):
        row.update(scoring_id=f"{request}-{i}", request_id=request,
                   predictedLabel="No Risk" if i % 2 == 0 else "Risk")
    dm.store_payload(dm.payload_table(sub), rows)
    return rows


@dataclass
class VolumeConfig(MonitorConfig):
    window_hours: float | None = 1.0
    min_records: int = 10


class VolumeMonitor(Monitor[VolumeConfig, Details]):
    """Records in the window (the contract's smallest monitor)."""

    name: ClassVar[str] = "volume"
    config_type = VolumeConfig

    def enable(self, *, min_records: int = 10, reach_back: bool = False) -> VolumeConfig:
        return self._store_config(VolumeConfig(min_records=min_records, reach_back=reach_back), None)

    def thresholds(self, config: VolumeConfig) -> list[Threshold]:
        return [Threshold("records", "lower_limit", 1)]

    def evaluate(self, config: VolumeConfig, data: pd.DataFrame, start: datetime | None,
                 end: datetime) -> Evaluation[Details]:
        return Evaluation({"records": float(len(data))}, Details())


def test_payload_of_a_source(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    _fill(datamart, sub, 10, T0, "live", timedelta(minutes=1))
    _fill(datamart, sub, 20, T0, f"{STORY}abc", timedelta(minutes=1))
    assert len(datamart.get_payload(sub)) == 30
    assert set(datamart.get_payload(sub, source=LIVE)["request_id"]) == {"live"}
    assert len(datamart.get_payload(sub, source=STORY)) == 20
    newest = datamart.get_payload(sub, source=LIVE, last=3)
    assert newest["scoring_id"].tolist() == ["live-7", "live-8", "live-9"]  # the newest, oldest first
    with pytest.raises(DataMartError, match="not both"):
        datamart.get_payload(sub, limit=2, last=2)
    with pytest.raises(DataMartError, match="last must be a whole number"):
        datamart.get_payload(sub, last=-1)


def test_a_short_window_reaches_back_and_says_so(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    # 12 records an hour apart, the last two requests stamped at the same time
    rows = payload_rows(12, T0, timedelta(hours=1))
    rows[-1]["scoring_timestamp"] = rows[-2]["scoring_timestamp"]
    datamart.store_payload(datamart.payload_table(sub), rows)
    monitor = VolumeMonitor(MonitorContext(datamart, sub))
    monitor.enable(min_records=5)
    end = T0 + timedelta(hours=10, minutes=30)
    short = monitor.run(end=end)
    assert short.status == "not_evaluated" and short.record_count == 2
    monitor.enable(min_records=5, reach_back=True)
    reached = monitor.run(end=end)
    assert reached.evaluated and reached.metrics["records"] == 5
    assert reached.window_start == T0 + timedelta(hours=7) and reached.window_end == end
    assert "reached back to" in reached.message and "last 5 records" in reached.message
    enough = monitor.run(end=T0 + timedelta(hours=200))  # nothing newer: the whole log is not enough either
    assert enough.evaluated and enough.window_start == T0 + timedelta(hours=7)


def test_a_story_and_live_measurements_never_replace_each_other(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    _fill(datamart, sub, 6, T0, "live", timedelta(minutes=5))
    _fill(datamart, sub, 9, T0, f"{STORY}abc", timedelta(minutes=5))
    live = VolumeMonitor(MonitorContext(datamart, sub))
    live.enable(min_records=1)
    story = VolumeMonitor(MonitorContext(datamart, sub).restricted(STORY))
    end = T0 + timedelta(hours=1)
    ours = story.run(end=end, replace=True)
    theirs = live.run(end=end, replace=True)
    assert ours.metrics["records"] == 9 and theirs.metrics["records"] == 6
    assert ours.measurement_id.startswith(STORY) and not theirs.measurement_id.startswith(STORY)
    live.run(end=end, replace=True)
    store = MonitorStore(datamart)
    assert len(store.measurements(sub.subscription_id, "volume")) == 2  # each replaced its own only
    assert len(store.measurements(sub.subscription_id, "volume", STORY)) == 1
    assert store.instances(sub.subscription_id)[0]["last_run_at"] == end  # set by the live run, not the story
    with pytest.raises(Exception, match="record_prefix"):
        MonitorContext(datamart, sub).restricted("x" * 17)


def test_business_records_and_kpis_of_a_story_and_of_live_traffic(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    live_rows = _fill(datamart, sub, 8, T0, "live", timedelta(minutes=5))
    story_rows = _fill(datamart, sub, 12, T0, f"{STORY}abc", timedelta(minutes=5))
    apps = BusinessApplications(datamart)
    app = apps.create(**TUTORIAL_APPLICATION, subscription_ids=[sub.subscription_id])
    story = pd.DataFrame(story_rows)
    kept = ["scoring_id", "scoring_timestamp", "LoanDuration", "LoanPurpose", "LoanAmount", "InstallmentPercent"]
    records = story[kept].rename(columns={"scoring_id": "record_id", "scoring_timestamp": "timestamp"})
    records = records.assign(Accepted=1, AcceptedPercent=100.0, AmountGranted=records["LoanAmount"])
    assert apps.store_payload(app, sub.subscription_id, records) == 12
    # the live derivation reads and replaces live records only: the story's business records stay
    derive = dict(favourable="No Risk", amount_field="LoanAmount")
    assert apps.derive_credit_payload(app, sub, **derive) == len(live_rows)
    assert len(apps.business_payload(app)) == 20
    assert len(apps.business_payload(app, source=STORY)) == 12
    kpi = apps.monitor(sub)
    kpi.enable(application=app.name)
    day = kpi.run_days()
    assert [m.metrics["Accepted Credits"] for m in day] == [4.0]  # the live records' four approvals only
    told = BusinessKPIMonitor(MonitorContext(datamart, sub).restricted(STORY)).run(
        T0.replace(hour=0), T0.replace(hour=0) + timedelta(days=1), replace=True)
    assert told.metrics["Accepted Credits"] == 12.0
    kpi.run_days()  # a day measured again replaces that day's live KPIs, never the story's
    store = MonitorStore(datamart)
    assert len(store.measurements(sub.subscription_id, "business_kpis")) == 2
    assert apps.delete_payload(app, sub.subscription_id, STORY) == 12
    assert len(apps.business_payload(app)) == len(live_rows)


def test_a_day_not_over_is_measured_up_to_now(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    now = utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first = max(now - timedelta(minutes=30), midnight)  # today's records, whenever the test runs
    _fill(datamart, sub, 4, first, "live", (now - first) / 4)
    apps = BusinessApplications(datamart)
    app = apps.create(**TUTORIAL_APPLICATION, subscription_ids=[sub.subscription_id])
    apps.derive_credit_payload(app, sub, favourable="No Risk", amount_field="LoanAmount")
    kpi = apps.monitor(sub)
    kpi.enable(application=app.name)
    [today] = kpi.run_days()
    assert today.window_start == midnight
    assert now <= today.window_end <= utcnow()


def test_business_records_that_do_not_fit_are_refused(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    apps = BusinessApplications(datamart)
    app = apps.create(**TUTORIAL_APPLICATION, subscription_ids=[sub.subscription_id])
    good = pd.DataFrame([{"record_id": "a", "timestamp": datetime(2026, 11, 20, 13, tzinfo=timezone.utc),
                          "LoanDuration": 12, "LoanPurpose": "car_new", "LoanAmount": 1000, "InstallmentPercent": 2,
                          "AcceptedPercent": 100.0, "AmountGranted": 1000, "Accepted": 1}])
    with pytest.raises(BusinessError, match="not linked"):
        apps.store_payload(app, "another", good)
    with pytest.raises(BusinessError, match="given twice"):
        apps.store_payload(app, sub.subscription_id, pd.concat([good, good]))
    with pytest.raises(BusinessError, match="no timestamp"):
        apps.store_payload(app, sub.subscription_id, good.assign(timestamp=pd.NaT))
    with pytest.raises(BusinessError, match="lack the column"):
        apps.store_payload(app, sub.subscription_id, good.drop(columns="Accepted"))
    assert apps.business_payload(app).empty  # nothing half-written
    apps.store_payload(app, sub.subscription_id, good)
    stored = apps.business_payload(app)
    assert stored["timestamp"].iloc[0] == datetime(2026, 11, 20, 13)  # UTC, as every time in the data mart


@pytest.mark.parametrize(("settings", "named"), [
    ({"days": 0}, "days"), ({"feedback_delay_hours": 1.5}, "feedback_delay_hours"), ({"take_up": 2}, "take_up"),
    ({"max_records": 10}, "max_records"), ({"spike_hours": [14]}, "spike_hours"),
    ({"concept_segment": {"Savings": ["less_100"]}}, "concept_segment"), ({"weather": "rain"}, "weather"),
    ({"batch_size": True}, "batch_size"),
])
def test_scenario_settings_are_checked(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(ScenarioError, match=named):
        Scenario.from_dict(settings)


def test_the_scenario_is_in_story_time() -> None:
    story = Scenario()
    assert [story.spike(h) for h in (3 * 24 + 13, 3 * 24 + 14, 3 * 24 + 16, 3 * 24 + 17)] == [False, True, True, False]
    assert story.concept_odds(2.99) == 1.0 and story.concept_odds(3.0) == story.concept_shift_odds
    assert story.take_up_rate(5.5) == story.take_up_dip and story.take_up_rate(4.9) == story.take_up
    assert story.bias_share(story.bias_peak_day + 1) == story.bias_peak_share
    assert story.drift_level(story.drift_start_day) == 0.0 and story.drift_level(6.5) == story.drift_peak_share


def test_feedback_arriving_record_by_record(datamart: DataMart) -> None:
    from openscale_lab.datamart.feedback import FeedbackError, FeedbackLog

    sub = make_subscription(datamart)
    log = FeedbackLog(datamart, sub, ["No Risk", "Risk"])
    rows = [dict(r, Risk="Risk" if i % 2 else "No Risk", transaction_id=f"{STORY}t-{i}")
            for i, r in enumerate(payload_rows(4, T0, timedelta(minutes=1)))]
    records = pd.DataFrame(rows)[[*log.fields, "transaction_id"]]  # fields: the inputs and the label
    times = [T0, T0 + timedelta(hours=1), T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    assert log.log(records, id_prefix=STORY, times=times) == 4
    assert log.log(records, id_prefix=STORY, times=times) == 0  # the same labels again: nothing new
    stored = log.read()
    assert stored["timestamp"].tolist() == times
    # the newest two, and the record that arrived with the older of them
    assert len(log.read(last=2)) == 3 and len(log.read(last=2, source=LIVE)) == 0
    assert len(log.read(source=STORY)) == 4
    with pytest.raises(FeedbackError, match="one time per record"):
        log.log(records, times=times[:2])
    with pytest.raises(FeedbackError, match="not both"):
        log.log(records, timestamp=T0, times=times)
