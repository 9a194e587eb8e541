"""Custom monitors, payload analytics and business KPIs: known answers on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from openscale_lab.datamart.analytics import AnalyticsError, payload_distribution
from openscale_lab.datamart.database import DataMart
from openscale_lab.monitors.base import MonitorStore
from openscale_lab.monitors.business import BusinessApplications, BusinessError, BusinessKPIMonitor
from openscale_lab.monitors.custom import CustomMonitorError, CustomMonitors
from openscale_lab.monitors.results import Measurement
from openscale_lab.tutorial import TUTORIAL_APPLICATION

from .helpers import T0, make_subscription, payload_rows

PERFORMANCE = dict(name="my model performance",
                   metrics=[{"name": "sensitivity", "lower_limit": 0.8}, {"name": "specificity", "lower_limit": 0.75}],
                   tags=[{"name": "region", "description": "customer geographical region"}])


def test_custom_monitor_definition_thresholds_and_alerts(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    custom = CustomMonitors(datamart)
    definition = custom.register(**PERFORMANCE)
    assert custom.register(PERFORMANCE["name"], metrics=[{"name": "other"}]) == definition  # same name: existing
    mon = custom.monitor(sub, PERFORMANCE["name"])
    mon.enable(thresholds={"sensitivity": {"lower_limit": 0.9}})
    m = mon.run({"specificity": 0.78, "sensitivity": 0.67}, tags={"region": "us-south"}, timestamp=T0)
    assert [a["metric"] for a in m.alerts] == ["sensitivity"]  # 0.67 < 0.9; 0.78 >= 0.75
    assert m.alerts[0]["threshold"] == 0.9
    ok = mon.run({"specificity": 0.8, "sensitivity": 0.95}, tags={"region": "eu-de"}, timestamp=T0 + timedelta(hours=1))
    assert ok.alerts == []
    values = mon.values()
    assert list(values["sensitivity"]) == [0.67, 0.95] and list(values["region"]) == ["us-south", "eu-de"]
    alerts = MonitorStore(datamart).alerts(sub.subscription_id, PERFORMANCE["name"])
    assert len(alerts) == 1 and alerts["value"].iloc[0] == pytest.approx(0.67)


@pytest.mark.parametrize("values, tags, words", [
    ({"accuracy": 0.9}, None, "has no metric(s) accuracy"),
    ({"sensitivity": "high"}, None, "finite numbers: sensitivity='high'"),
    ({"sensitivity": True}, None, "finite numbers"),
    ({"sensitivity": 0.9}, {"country": "fr"}, "has no tag(s) country"),
])
def test_values_that_do_not_match_the_definition_are_refused(datamart: DataMart, values: dict, tags: dict | None,
                                                             words: str) -> None:
    sub = make_subscription(datamart)
    custom = CustomMonitors(datamart)
    custom.register(**PERFORMANCE)
    mon = custom.monitor(sub.subscription_id, PERFORMANCE["name"])
    mon.enable()
    with pytest.raises(CustomMonitorError, match=words.replace("(", r"\(").replace(")", r"\)")):
        mon.run(values, tags=tags)
    assert mon.values().empty


def test_definitions_and_overrides_are_checked(datamart: DataMart) -> None:
    sub = make_subscription(datamart)
    custom = CustomMonitors(datamart)
    with pytest.raises(CustomMonitorError, match="lower_limit must be a number"):
        custom.register("bad", metrics=[{"name": "x", "lower_limit": "high"}])
    custom.register(**PERFORMANCE)
    with pytest.raises(CustomMonitorError, match="has no metric 'recall'"):
        custom.monitor(sub, PERFORMANCE["name"]).enable(thresholds={"recall": {"lower_limit": 0.5}})
    with pytest.raises(CustomMonitorError, match="is not enabled"):
        custom.monitor(sub, PERFORMANCE["name"]).run({"sensitivity": 0.9})


def labelled_payload(datamart: DataMart, n: int = 40, start: datetime = T0, step: timedelta = timedelta(minutes=1)):
    """Payload records with known labels: every third record is Risk."""
    sub = make_subscription(datamart)
    rows = payload_rows(n, start, step)
    for i, row in enumerate(rows):
        row["predictedLabel"] = "Risk" if i % 3 == 0 else "No Risk"
    datamart.store_payload(datamart.payload_table(sub), rows)
    return sub, pd.DataFrame(rows)


def test_payload_distribution_matches_pandas(datamart: DataMart) -> None:
    sub, frame = labelled_payload(datamart)
    got = payload_distribution(datamart, sub, ["predictedLabel", "Sex"],
                               [("count", None), ("sum", "LoanAmount"), ("mean", "LoanAmount"), ("max", "Age")])
    expected = frame.groupby(["predictedLabel", "Sex"]).agg(
        count=("LoanAmount", "size"), sum_LoanAmount=("LoanAmount", "sum"), mean_LoanAmount=("LoanAmount", "mean"),
        max_Age=("Age", "max")).reset_index()
    pd.testing.assert_frame_equal(got.astype(float, errors="ignore").reset_index(drop=True),
                                  expected.astype(float, errors="ignore"), check_dtype=False)
    window = payload_distribution(datamart, sub, ["predictedLabel"], start=T0, end=T0 + timedelta(minutes=9))
    assert dict(zip(window["predictedLabel"], window["count"])) == {"Risk": 3, "No Risk": 6}


@pytest.mark.parametrize("group_by, aggregations", [
    (["Sex; DROP TABLE bindings"], None),
    (['Sex" OR 1=1 --'], None),
    (["Sex"], [("sum", "LoanAmount) FROM bindings --")]),
    (["Sex"], [("count(*) FROM bindings; --", None)]),
    (["Sex"], [("sum", "Sex")]),
    ([], None),
])
def test_bad_columns_and_injection_attempts_are_refused(datamart: DataMart, group_by, aggregations) -> None:
    sub, _ = labelled_payload(datamart)
    with pytest.raises(AnalyticsError):
        payload_distribution(datamart, sub, group_by, aggregations)
    assert "bindings" in sa.inspect(datamart.engine).get_table_names()
    assert datamart.payload_count(sub) == 40


def three_days(datamart: DataMart):  # type: ignore[no-untyped-def]
    """Payload over three days: 30, 60 and 90 records, every third one Risk."""
    sub = make_subscription(datamart)
    frames = []
    for d, n in enumerate([30, 60, 90]):
        rows = payload_rows(n, T0 + timedelta(days=d), timedelta(minutes=5))
        for i, row in enumerate(rows):
            row["scoring_id"] = f"d{d}-{i}"
            row["predictedLabel"] = "Risk" if i % 3 == 0 else "No Risk"
        datamart.store_payload(datamart.payload_table(sub), rows)
        frames.append(pd.DataFrame(rows).assign(day=d))
    return sub, pd.concat(frames)


def test_business_kpis_per_day_with_alerts(datamart: DataMart) -> None:
    sub, frame = three_days(datamart)
    apps = BusinessApplications(datamart)
    app = apps.create(**TUTORIAL_APPLICATION, subscription_ids=[sub.subscription_id])
    assert apps.create(**TUTORIAL_APPLICATION, subscription_ids=[]) == app
    later = apps.create(**TUTORIAL_APPLICATION, subscription_ids=["redeployed"])  # a new subscription is linked
    assert later.subscription_ids == [sub.subscription_id, "redeployed"] == apps.get(app.name).subscription_ids
    derive = dict(favourable="No Risk", amount_field="LoanAmount")
    assert apps.derive_credit_payload(app, sub, **derive) == 180
    assert apps.derive_credit_payload(app, sub, **derive) == 180  # a rerun replaces, it does not double
    business = apps.business_payload(app)
    assert len(business) == 180 and business["Accepted"].sum() == 120
    assert (business["AmountGranted"] == business["LoanAmount"] * business["Accepted"]).all()
    accepted = frame[frame["predictedLabel"] == "No Risk"]
    expected_granted = accepted.groupby("day")["LoanAmount"].sum().tolist()
    kpi = apps.monitor(sub)
    kpi.enable(application=app.name)
    first = kpi.run_days()
    again = kpi.run_days()
    kpis = MonitorStore(datamart).measurements(sub.subscription_id, BusinessKPIMonitor.name)
    assert len(first) == len(again) == 3 and len(kpis) == 3
    assert [m["Accepted Credits"] for m in kpis["metrics"]] == [20.0, 40.0, 60.0]
    assert [m["Credit Amount Granted"] for m in kpis["metrics"]] == expected_granted
    alerts = MonitorStore(datamart).alerts(sub.subscription_id, BusinessKPIMonitor.name)
    assert len(alerts) == 6  # both KPIs are far below the tutorial's limits every day
    assert set(alerts["threshold"]) == {2150.0, 5_500_000.0}


def test_kpi_correlations_with_model_metrics(datamart: DataMart) -> None:
    sub, _ = three_days(datamart)
    apps = BusinessApplications(datamart)
    app = apps.create(**TUTORIAL_APPLICATION, subscription_ids=[sub.subscription_id])
    apps.derive_credit_payload(app, sub, favourable="No Risk", amount_field="LoanAmount")
    kpi = apps.monitor(sub)
    kpi.enable(application=app.name)
    kpi.run_days()
    store = MonitorStore(datamart)
    tutorial = ("fairness:Sex", "fairness:Age", "quality:area_under_roc")
    assert apps.correlations(app).empty  # neither fairness nor quality is enabled: nothing to correlate with
    early = apps.correlations(app, tutorial)
    assert early["correlation"].isna().all()  # no model measurements yet
    sex = [0.9, 0.8, 0.6]  # fairness falls while accepted credits rise: 20, 40, 60
    auc = [0.70, 0.75, 0.80]
    for d in range(3):
        for hour, jitter in [(1, -0.01), (13, 0.01)]:  # two runs a day, the daily mean is the value above
            end = T0.replace(hour=0) + timedelta(days=d, hours=hour)
            store.save(Measurement("fairness", sub.subscription_id, "evaluated", "", end - timedelta(hours=1), end, 50,
                                   metrics={"Sex": sex[d] + jitter, "Age": 1.0}))
            store.save(Measurement("quality", sub.subscription_id, "evaluated", "", None, end, 50,
                                   metrics={"area_under_roc": auc[d] + jitter}))
    store.save_config(sub.subscription_id, "fairness", {"features": [{"feature": "Sex"}, {"feature": "Age"}]}, 1.0)
    store.save_config(sub.subscription_id, "quality", {"threshold": 0.7}, 1.0)
    assert apps.correlations(app).equals(apps.correlations(app, tutorial))  # the default follows the monitors
    corr = apps.correlations(app, tutorial).set_index(["kpi", "model_metric"])["correlation"]
    assert corr[("Accepted Credits", "fairness:Sex")] == pytest.approx(np.corrcoef([20, 40, 60], sex)[0, 1])
    assert corr[("Accepted Credits", "quality:area_under_roc")] == pytest.approx(1.0)
    assert np.isnan(corr[("Accepted Credits", "fairness:Age")])  # a constant has no correlation


def test_business_definitions_are_checked(datamart: DataMart) -> None:
    apps = BusinessApplications(datamart)
    with pytest.raises(BusinessError, match="reads 'Profit', not a payload field"):
        apps.create("x", TUTORIAL_APPLICATION["payload_fields"],
                    [{"name": "Profit", "field": "Profit", "aggregation": "sum", "time_unit": "day"}], [])
    with pytest.raises(BusinessError, match="needs a numeric field"):
        apps.create("y", TUTORIAL_APPLICATION["payload_fields"],
                    [{"name": "P", "field": "LoanPurpose", "aggregation": "sum", "time_unit": "day"}], [])
