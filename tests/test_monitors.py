"""Monitors on a real deployment and data mart: known answers, cross-checks, alerts and statuses."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import requests

import openscale_lab as lab
from openscale_lab.data import data_path, feed_sample, load_feedback_data, load_training_data
from openscale_lab.datamart.feedback import FeedbackError
from openscale_lab.deployments.client import score_in_batches
from openscale_lab.deployments.engine import MLEngine
from openscale_lab.monitors import Monitoring, MonitorNotEnabledError, Scheduler
from openscale_lab.monitors.explain import UnknownTransactionError
from openscale_lab.tutorial import FEATURE_COLUMNS, sample_payload

from .helpers import insert_payload

pytestmark = pytest.mark.spark

FAIRNESS = dict(features=[{"feature": "Sex", "monitored": ["female"], "reference": ["male"]},
                          {"feature": "Age", "monitored": [[18, 25]], "reference": [[26, 75]]}],
                favourable_classes=["No Risk"], unfavourable_classes=["Risk"], threshold=0.95, min_records=200)


@pytest.fixture(scope="module")
def monitored(trained, spark):  # type: ignore[no-untyped-def]
    ws, model, _ = trained
    engine = MLEngine(ws)
    dep = engine.deploy(model, f"monitored {uuid.uuid4().hex[:6]}", spark, verify_rows=50)
    mon = Monitoring.for_deployment(ws, dep)
    yield dep, mon
    mon.close()
    engine.delete(dep)


def test_disparate_impact_of_a_known_payload_raises_an_alert(monitored) -> None:  # type: ignore[no-untyped-def]
    _, mon = monitored
    mon.fairness.enable(**FAIRNESS)
    base = feed_sample(250, seed=11)
    frame = pd.DataFrame(base["values"], columns=base["fields"])
    frame["Sex"] = ["female"] * 100 + ["male"] * 150
    labels = (["No Risk"] * 40 + ["Risk"] * 60) + (["No Risk"] * 120 + ["Risk"] * 30)  # 0.4 vs 0.8
    start = datetime(2020, 1, 1, 10)
    insert_payload(mon, frame, start, labels)
    m = mon.fairness.run(start=start, end=start + timedelta(hours=1))
    assert m.status == "evaluated" and m.record_count == 250
    sex = m.details.features["Sex"]
    assert (sex.monitored_count, sex.reference_count) == (100, 150)
    assert sex.monitored_favourable_rate == 0.4 and sex.reference_favourable_rate == 0.8
    assert sex.rates("payload") == (0.4, 0.8, pytest.approx(0.5))
    assert m.metrics["Sex"] == pytest.approx(0.5)
    alerts = mon.alerts("fairness")
    alert = alerts[alerts["measurement_id"] == m.measurement_id]
    assert list(alert["metric"]) == ["Sex"] or set(alert["metric"]) >= {"Sex"}
    assert alert.set_index("metric").loc["Sex", "value"] == pytest.approx(0.5)
    stored = mon.measurements("fairness").set_index("measurement_id").loc[m.measurement_id]
    assert stored["thresholds"][0] == {"metric": "Sex", "type": "lower_limit", "value": 0.95}
    assert pd.Timestamp(stored["window_start"]) == start


def test_fairness_matches_fairlearn_and_an_independent_perturbation(monitored) -> None:  # type: ignore[no-untyped-def]
    from fairlearn.metrics import MetricFrame, selection_rate

    _, mon = monitored
    mon.fairness.enable(**FAIRNESS)
    sample = feed_sample(400, seed=5)
    frame = pd.DataFrame(sample["values"], columns=sample["fields"])
    start = datetime(2020, 2, 1, 10)
    insert_payload(mon, frame, start)
    m = mon.fairness.run(start=start, end=start + timedelta(hours=1))
    payload = mon.ctx.payload(start, start + timedelta(hours=1))
    favourable = (payload["predictedLabel"] == "No Risk").astype(int)
    for feature, groups in [("Sex", lambda v: "monitored" if v == "female" else "reference"),
                            ("Age", lambda v: "monitored" if 18 <= v <= 25 else "reference")]:
        mf = MetricFrame(metrics=selection_rate, y_true=favourable, y_pred=favourable,
                         sensitive_features=payload[feature].map(groups))
        got = m.details.features[feature]
        assert got.monitored_favourable_rate == pytest.approx(mf.by_group["monitored"])
        assert got.reference_favourable_rate == pytest.approx(mf.by_group["reference"])
        assert m.metrics[feature] == pytest.approx(mf.by_group["monitored"] / mf.by_group["reference"])
    # balanced data for Sex, recomputed record by record through the list scorer
    scorer = mon.ctx.scorer
    rows = payload[FEATURE_COLUMNS].values.tolist()
    sex = FEATURE_COLUMNS.index("Sex")
    flipped = [[*r[:sex], "male" if r[sex] == "female" else "female", *r[sex + 1:]] for r in rows]
    flipped_labels = [label for _, label, _ in scorer.score(flipped, FEATURE_COLUMNS)]
    orig = list(payload["predictedLabel"])
    fem = [r[sex] == "female" for r in rows]
    fav_orig = [o == "No Risk" for o in orig]
    fav_flip = [x == "No Risk" for x in flipped_labels]
    mon_fav = sum(o for o, f in zip(fav_orig, fem) if f) + sum(x for x, f in zip(fav_flip, fem) if not f)
    ref_fav = sum(o for o, f in zip(fav_orig, fem) if not f) + sum(x for x, f in zip(fav_flip, fem) if f)
    assert m.metrics["Sex_balanced"] == pytest.approx((mon_fav / len(rows)) / (ref_fav / len(rows)))
    # biased: exactly the women refused (Risk) whose copy as a man is granted (No Risk); men never
    biased = mon.fairness.biased_transactions(m.measurement_id)
    flips = {sid for sid, o, x, f in zip(payload["scoring_id"], orig, flipped_labels, fem)
             if f and o == "Risk" and x == "No Risk"}
    assert set(biased[biased["feature"] == "Sex"]["scoring_id"]) == flips
    assert set(biased["group_name"]) <= {"monitored"}
    assert m.metrics["Sex_biased_transactions"] == len(flips)


def test_debiased_endpoint_and_monitor_agree(monitored) -> None:  # type: ignore[no-untyped-def]
    dep, mon = monitored
    mon.fairness.enable(**FAIRNESS)
    sample = feed_sample(300, seed=9)
    reply = requests.post(f"{dep.scoring_url}/debiased", json=sample, timeout=30).json()
    served = [v[-2] for v in reply["values"]]
    frame = pd.DataFrame(sample["values"], columns=sample["fields"])
    labels, debiased = mon.fairness.debiased_labels(frame)
    assert served == list(debiased)
    changed = [i for i, (a, b) in enumerate(zip(labels, debiased)) if a != b]
    assert changed, "expected some outcomes to change on 300 records"
    sex, age = FEATURE_COLUMNS.index("Sex"), FEATURE_COLUMNS.index("Age")
    for i in changed:  # only monitored-group records change, and only from unfavourable to favourable
        row = sample["values"][i]
        assert row[sex] == "female" or 18 <= row[age] <= 25
        assert (labels[i], debiased[i]) == ("Risk", "No Risk")
    assert set(mon.ctx.datamart.get_payload(mon.subscription)["scoring_id"]).isdisjoint(v[-1] for v in reply["values"])


def test_debiasing_needs_the_fairness_monitor(trained, spark) -> None:  # type: ignore[no-untyped-def]
    ws, model, _ = trained
    engine = MLEngine(ws)
    dep = engine.deploy(model, "not monitored", spark, verify_rows=20)
    try:
        reply = requests.post(f"{dep.scoring_url}/debiased", json=sample_payload(), timeout=10)
        assert reply.status_code == 409 and "enable the fairness monitor" in reply.json()["error"]["message"]
        fresh = Monitoring.for_deployment(ws, dep)
        with pytest.raises(MonitorNotEnabledError, match="quality monitor is not enabled"):
            fresh.quality.run()
        fresh.close()
    finally:
        engine.delete(dep)


def test_quality_statuses_metrics_and_alerts(monitored, spark) -> None:  # type: ignore[no-untyped-def]
    _, mon = monitored
    mon.quality.enable(threshold=0.99, min_records=50)
    window_start = datetime(2020, 3, 1)
    feedback = load_feedback_data()
    mon.feedback.log(feedback.head(12), timestamp=window_start)
    m = mon.quality.run(start=window_start, end=window_start + timedelta(hours=1))
    assert m.status == "not_evaluated" and m.message == "not evaluated: 12 of 50 feedback records"
    mon.feedback.log(feedback.iloc[12:].to_dict("records"), timestamp=window_start)
    m = mon.quality.run(start=window_start, end=window_start + timedelta(hours=1))
    assert m.status == "evaluated" and m.record_count == 98
    # cross-check area under ROC with Spark's own evaluator on the same records and model
    from pyspark.ml import PipelineModel
    from pyspark.ml.evaluation import BinaryClassificationEvaluator

    model_path = mon.ctx.workspace.models_dir / mon.subscription.model_id / "spark_model"
    sdf = spark.createDataFrame(feedback.assign(label=(feedback["Risk"] == "Risk").astype(float)))
    auc = BinaryClassificationEvaluator(labelCol="label").evaluate(PipelineModel.load(str(model_path)).transform(sdf))
    assert m.metrics["area_under_roc"] == pytest.approx(auc, abs=1e-9)
    cm = m.details.confusion_matrix
    assert cm.tp + cm.fp + cm.tn + cm.fn == 98 and cm.tp + cm.fn == int((feedback["Risk"] == "Risk").sum())
    assert m.metrics["accuracy"] == pytest.approx((cm.tp + cm.tn) / 98)
    alerts = mon.alerts("quality")
    assert m.measurement_id in set(alerts["measurement_id"])  # 0.99 is out of reach


def test_feedback_is_validated_and_all_or_nothing(monitored) -> None:  # type: ignore[no-untyped-def]
    _, mon = monitored
    before = mon.feedback.count()
    bad = load_feedback_data().head(5).to_dict("records")
    bad[1]["Age"] = "old"
    bad[3]["Risk"] = "Maybe"
    del bad[4]["Sex"]
    with pytest.raises(FeedbackError) as info:
        mon.feedback.log(bad)
    message = str(info.value)
    assert "row 1, field 'Age': expected a number" in message
    assert "row 3, field 'Risk': 'Maybe' is not one of" in message
    assert "row 4: missing field(s) Sex" in message
    assert mon.feedback.count() == before
    rows = load_feedback_data().head(2)
    body = {"fields": list(rows.columns), "values": [list(rows.iloc[0]), list(rows.iloc[1])[:-1]]}
    with pytest.raises(FeedbackError, match=r"row\(s\) 1 do not have one value per field \(21 fields\)"):
        mon.feedback.log(body)
    assert mon.feedback.count() == before
    assert mon.feedback.log(data_path("german_credit_feedback.json")) == 98


def test_drift_finds_no_drift_on_training_data_and_finds_shifted_features(monitored) -> None:  # type: ignore[no-untyped-def]
    _, mon = monitored
    config = mon.drift.enable(threshold=0.05, min_records=100)
    training = load_training_data()
    start = datetime(2020, 4, 1)
    insert_payload(mon, training, start, step=timedelta(milliseconds=100))
    same = mon.drift.run(start=start, end=start + timedelta(hours=1))
    assert same.record_count == 5000
    assert all(v.jensen_shannon == pytest.approx(0, abs=1e-9) for v in same.details.feature_drift.values())
    assert same.metrics["output_drift"] == pytest.approx(0, abs=1e-9)
    assert abs(same.metrics["drift_magnitude"]) < 0.02 and not same.broken()
    assert same.metrics["base_accuracy"] == config.base_accuracy
    shifted = training.sample(600, random_state=1).copy()
    shifted["LoanAmount"] = shifted["LoanAmount"] * 3
    shifted["Age"] = shifted["Age"] + 25
    later = datetime(2020, 5, 1)
    insert_payload(mon, shifted, later)
    moved = mon.drift.run(start=later, end=later + timedelta(hours=1))
    assert set(moved.details.features_driving_drift[:2]) == {"LoanAmount", "Age"}
    assert moved.details.feature_drift["LoanAmount"].total_variation > 0.3
    assert all(t.p_correct < 0.5 for t in moved.details.transactions_driving_drift if t.view != "consistency")


def test_explanations(monitored) -> None:  # type: ignore[no-untyped-def]
    dep, mon = monitored
    reply = requests.post(dep.scoring_url, json=sample_payload(), timeout=10).json()
    tid = reply["values"][6][-1]  # the tutorial's one "Risk" applicant
    with pytest.raises(UnknownTransactionError, match="no transaction 'nope'"):
        mon.explanations.lime("nope")
    lime = mon.explanations.lime(tid, num_samples=5000)
    assert lime["predicted_class"] == reply["values"][6][21]
    assert lime["confidence"] == pytest.approx(max(reply["values"][6][22]))
    assert sorted(f["feature"] for f in lime["features"]) == sorted(FEATURE_COLUMNS)
    assert abs(lime["features"][0]["weight"]) >= abs(lime["features"][-1]["weight"])
    con = mon.explanations.contrastive(tid)
    neg = con["pertinent_negative"]
    assert neg["found"]
    changed = list(sample_payload()["values"][6])
    for change in neg["changes"]:
        changed[FEATURE_COLUMNS.index(change["feature"])] = change["to"]
    assert mon.ctx.scorer.score([changed], FEATURE_COLUMNS)[0][1] == neg["new_class"] != lime["predicted_class"]
    assert con["pertinent_positive"]["holds"]
    integers = {c["name"] for c in mon.subscription.input_schema if c["type"] == "integer"}
    sent = [c["to"] for c in neg["changes"] if c["feature"] in integers]
    sent += [f["value"] for f in con["pertinent_positive"]["features"] if f["feature"] in integers]
    assert all(isinstance(v, int) for v in sent), sent  # values a client could send
    stored = mon.explanations.stored(tid)
    assert stored["lime"]["features"][0] == lime["features"][0] and "contrastive" in stored


def test_model_health_per_hour(monitored) -> None:  # type: ignore[no-untyped-def]
    _, mon = monitored
    mon.model_health.enable()
    sample = feed_sample(12, seed=3)
    frame = pd.DataFrame(sample["values"], columns=sample["fields"])
    start = datetime(2020, 6, 1, 9)
    insert_payload(mon, frame.head(6), start, request_size=2, response_ms=[1.0, 2.0, 9.0])
    insert_payload(mon, frame.tail(6), start + timedelta(hours=1), request_size=3, response_ms=[4.0, 6.0])
    hourly = mon.model_health.hourly(start, start + timedelta(hours=2)).set_index("hour")
    first, second = hourly.loc[pd.Timestamp(start)], hourly.loc[pd.Timestamp(start + timedelta(hours=1))]
    assert (first["scoring_requests"], first["records"]) == (3, 6)
    assert first["response_time_avg_ms"] == pytest.approx(4.0) and first["response_time_median_ms"] == 2.0
    assert first["response_time_max_ms"] == 9.0
    assert (second["scoring_requests"], second["records"], second["response_time_avg_ms"]) == (2, 6, 5.0)
    m = mon.model_health.run(start, start + timedelta(hours=2))
    assert m.metrics["scoring_requests"] == 5 and m.metrics["records"] == 12


def test_rejected_requests_count_in_model_health(monitored) -> None:  # type: ignore[no-untyped-def]
    dep, mon = monitored
    before = mon.model_health.hourly()["rejected_requests"].sum()
    for _ in range(3):
        assert requests.post(dep.scoring_url, data=b"nope", headers={"Content-Type": "application/json"},
                             timeout=5).status_code == 400
    assert mon.model_health.hourly()["rejected_requests"].sum() == before + 3


def test_scheduler_runs_what_is_due(monitored) -> None:  # type: ignore[no-untyped-def]
    _, mon = monitored
    mon.fairness.enable(**FAIRNESS)
    mon.drift.enable()
    mon.quality.enable()
    mon.model_health.enable()
    sched = Scheduler(mon.ctx.workspace)
    now = datetime(2030, 1, 1, 12)
    mine = lambda pairs: {m for s, m in pairs if s == mon.subscription.subscription_id}  # noqa: E731
    assert mine(sched.due(now)) == {"quality", "fairness", "drift", "model_health"}
    done = [m for m in sched.run_pending(now) if m.subscription_id == mon.subscription.subscription_id]
    assert {m.monitor for m in done} == {"quality", "fairness", "drift", "model_health"}
    assert all(m.window_end == now for m in done)
    assert mine(sched.due(now + timedelta(minutes=59))) == set()
    assert mine(sched.due(now + timedelta(hours=1))) == {"quality", "fairness", "model_health"}
    assert mine(sched.due(now + timedelta(hours=3))) == {"quality", "fairness", "drift", "model_health"}
    sched.close()
    # run_forever stops promptly when asked
    runner = Scheduler(mon.ctx.workspace)
    thread = threading.Thread(target=runner.run_forever, kwargs={"poll_seconds": 30, "on_result": lambda m: None})
    thread.start()
    runner.stop()
    thread.join(30)
    assert not thread.is_alive()


def test_scheduler_skips_a_subscription_whose_deployment_is_gone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from openscale_lab.monitors.base import MonitorStore

    from .helpers import make_subscription

    ws = lab.provision(tmp_path / "ws").workspace
    dm = lab.DataMart(ws.datamart_url)
    sub = make_subscription(dm, "removed-by-hand")
    MonitorStore(dm).save_config(sub.subscription_id, "drift", {}, 3.0)
    sched = Scheduler(ws)
    try:
        assert sched.due(datetime(2030, 1, 1)) == [(sub.subscription_id, "drift")]
        assert sched.run_pending(datetime(2030, 1, 1)) == []
        assert "no longer in" in sched.skipped[sub.subscription_id]
    finally:
        sched.close()
        dm.close()


def test_monitors_on_postgresql(trained, spark, tmp_path, postgres_url) -> None:  # type: ignore[no-untyped-def]
    _, _, result = trained
    ws = lab.provision(tmp_path / "pg-ws", datamart_url=postgres_url).workspace
    model = lab.publish_model(ws, result)
    engine = MLEngine(ws)
    dep = engine.deploy(model, "pg deployment", spark, verify_rows=20)
    mon = Monitoring.for_deployment(ws, dep)
    try:
        score_in_batches(dep, feed_sample(300, seed=4), batch_size=100, progress=False)
        mon.quality.enable()
        mon.feedback.log(data_path("german_credit_feedback.json"))
        mon.fairness.enable(**FAIRNESS)
        mon.drift.enable()
        results = mon.run_all()
        assert {k: v.status for k, v in results.items()} == {k: "evaluated" for k in
                                                            ["quality", "fairness", "drift"]}
        assert results["fairness"].record_count == 300
        assert len(mon.measurements()) == 3
        biased = results["fairness"].metrics["Sex_biased_transactions"] + results["fairness"].metrics[
            "Age_biased_transactions"]
        assert len(mon.fairness.biased_transactions()) == biased
        assert np.isfinite(results["quality"].metrics["area_under_roc"])
    finally:
        mon.close()
        engine.stop_all()
