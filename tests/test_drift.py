"""The drift monitor catches what it exists to catch: shifted populations raise data-consistency and feature-drift
alerts, the tutorial's own traffic raises none, and every number matches an independent computation."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon

from openscale_lab.data import load_scoring_feed, load_training_data
from openscale_lab.errors import LabError
from openscale_lab.monitors import Monitoring
from openscale_lab.monitors.consistency import Constraints
from openscale_lab.monitors.distributions import Bins, chance_distance, jensen_shannon, total_variation
from openscale_lab.tutorial import FEATURE_COLUMNS

from .helpers import insert_payload, own_subscription

FALSE_ALARM_WINDOWS = 20


def feed_frame() -> pd.DataFrame:
    feed = load_scoring_feed()
    return pd.DataFrame(feed["values"], columns=feed["fields"])


# -- binning and distances, without a model -------------------------------------------------------------
def test_numbers_with_few_values_are_binned_per_value_and_out_of_range_values_get_their_own_bins() -> None:
    training = pd.Series([1, 2, 2, 3, 3, 3, 4, 4, 5, 6] * 100)  # 6 values < log2(1000)
    bins = Bins.learn(training, categorical=False)
    assert bins.kind == "discrete" and bins.values == [1, 2, 3, 4, 5, 6]
    assert bins.labels == ["below training range", "1", "2", "3", "4", "5", "6", "unseen value",
                           "above training range"]
    assert bins.counts(pd.Series([0, 1, 4, 5, 6, 6, 2.5, 9])).tolist() == [1, 1, 0, 0, 1, 1, 2, 1, 1]
    # per value, values 4-6 moving is seen in full (decile bins merged them)
    moved = pd.Series([4] * 10 + [6] * 90)
    expected_tv = 0.5 * (abs(0.1 - 0.2) + abs(0.9 - 0.1) + 0.1 + 0.2 + 0.3 + 0.1)
    assert total_variation(bins.counts(training), bins.counts(moved))[0] == pytest.approx(expected_tv)

    amounts = pd.Series(np.arange(250, 10250, 10, dtype=float))  # 1000 distinct values: continuous
    cont = Bins.learn(amounts, categorical=False)
    assert cont.kind == "continuous" and len(cont.edges) == 11
    counts = cont.counts(pd.Series([100.0, 250.0, 10240.0, 20000.0, 30000.0]))
    assert counts[0] == 1 and counts[-1] == 2 and counts[1:-1].sum() == 2  # nothing clipped into the end bins

    cats = Bins.learn(pd.Series(["a", "b", "b"]), categorical=True)
    assert cats.counts(pd.Series(["a", "z", "z", "b"])).tolist() == [1, 1, 2]
    assert cats.labels[-1] == "unseen category"


def test_distances_match_scipy_and_chance_shrinks_with_window_size() -> None:
    rng = np.random.default_rng(3)
    p = rng.integers(0, 50, 12).astype(float)
    qs = rng.integers(0, 50, (5, 12)).astype(float)
    for q, js in zip(qs, jensen_shannon(p, qs), strict=True):
        assert js == pytest.approx(jensenshannon(p / p.sum(), q / q.sum(), base=2), abs=1e-12)
    assert total_variation(p, qs)[0] == pytest.approx(0.5 * np.abs(p / p.sum() - qs[0] / qs[0].sum()).sum())
    tv200 = chance_distance(p, 200)
    tv5000 = chance_distance(p, 5000)
    assert 0 < tv5000 < tv200 < 0.2
    # what chance gives at 200 records is what windows drawn from the distribution show
    draws = rng.multinomial(200, p / p.sum(), size=2000)
    assert np.mean(total_variation(p, draws) > tv200) == pytest.approx(0.05, abs=0.02)


def test_constraints_learned_from_a_small_frame_and_the_reasons_they_give() -> None:
    n = 2000
    frame = pd.DataFrame({
        "Kind": ["a"] * 1000 + ["b"] * 1000,
        "Colour": (["red"] * 500 + ["blue"] * 500) + (["red"] * 1000),  # b never blue, expected 250 times
        "Amount": np.r_[np.linspace(100, 1000, 1000), np.linspace(100, 5000, 1000)],  # a: at most 1 000
    })
    c = Constraints.learn(frame, ["Kind", "Colour"], ["Amount"])
    assert c.categorical == {"Kind": ["a", "b"], "Colour": ["blue", "red"]}
    assert c.numeric_range == {"Amount": [100, 5000]}
    assert c.category_combinations == [{"columns": ["Kind", "Colour"], "combinations": [["b", "blue", "unseen", 0]]}]
    ranges = {tuple(i["columns"]): i["ranges"] for i in c.category_numeric_range}
    assert ranges[("Kind", "Amount")] == {"a": [100, 1000, 1000]}  # b's range is the overall one: not kept
    assert c.records == n and 0 < c.expected_inconsistent < 0.01
    window = pd.DataFrame({"Kind": ["a", "b", "c", "a", "b"], "Colour": ["red", "blue", "red", "red", "red"],
                           "Amount": [500, 200, 300, 2000, 6000]})
    bad, reasons = c.check(window)
    assert bad.tolist() == [False, True, True, True, True]
    assert sorted(reasons) == [1, 2, 3, 4]  # reasons only for the inconsistent rows
    assert reasons[1] == ["Kind=b with Colour=blue never occurs in training",
                          "Amount 200 is below 550.45–1 000, the range seen with Colour=blue"]
    assert reasons[2] == ["Kind=c never occurs in training (a, b)"]
    assert reasons[3] == ["Amount 2 000 is above 100–1 000, the range seen with Kind=a"]
    assert reasons[4] == ["Amount 6 000 is above the training range 100–5 000"]
    assert any(line == "Amount lies in 100–1 000 when Kind=a (1000 records)" for line in c.describe())


# -- the monitor on a real deployment ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def monitored(trained, deployment):  # type: ignore[no-untyped-def]
    ws, _, result = trained
    mon = own_subscription(ws, deployment, "drift")
    config = mon.drift.enable()
    yield mon, config, result
    mon.close()


def model_p_correct(mon: Monitoring, payload: pd.DataFrame) -> np.ndarray:
    return mon.drift.load_model().p_correct(payload)


def run_window(mon: Monitoring, frame: pd.DataFrame, start: datetime):  # type: ignore[no-untyped-def]
    insert_payload(mon, frame, start, step=timedelta(milliseconds=100))
    return mon.drift.run(start=start, end=start + timedelta(hours=1))


@pytest.mark.spark
def test_base_accuracy_is_the_held_out_accuracy_and_min_records_the_tutorials(monitored) -> None:  # type: ignore[no-untyped-def]
    mon, config, result = monitored
    training = load_training_data()
    rows = mon.ctx.model_metadata["evaluation_rows"]
    assert len(rows) >= result.test_count
    held = training.iloc[rows]
    scored = mon.ctx.scorer.score(held[FEATURE_COLUMNS].values.tolist(), FEATURE_COLUMNS)
    accuracy = np.mean([label == truth for (_, label, _), truth in zip(scored, held["Risk"], strict=True)])
    assert config.base_accuracy == pytest.approx(accuracy)
    assert config.base_accuracy_rows == len(rows) and config.min_records == 200
    assert config.constraints["records"] == 5000 and mon.drift.constraints().count > 20
    with pytest.raises(LabError, match="data_drift_threshold must be a number in"):
        mon.drift.enable(data_drift_threshold=2)


@pytest.mark.spark
def test_tutorial_traffic_raises_no_drift_alert(monitored) -> None:  # type: ignore[no-untyped-def]
    mon, _, _ = monitored
    feed = feed_frame()
    rng = np.random.default_rng(2026)
    alerted, worst = 0, {"data_drift_magnitude": 0.0, "output_drift": 0.0, "feature_drift": 0.0}
    predicted, cbpe, base = [], [], mon.drift.config().base_accuracy
    for w in range(FALSE_ALARM_WINDOWS):
        window = feed.iloc[rng.choice(len(feed), 200, replace=False)]
        m = run_window(mon, window, datetime(2021, 1, 1) + timedelta(days=w))
        assert m.evaluated and m.record_count == 200
        alerted += bool(m.broken())
        worst = {k: max(v, m.metrics[k]) for k, v in worst.items()}
        predicted.append(m.metrics["predicted_accuracy"])
        cbpe.append(m.metrics["cbpe_accuracy"])
    print(f"false alarms: {alerted} of {FALSE_ALARM_WINDOWS} windows; largest {worst}; "
          f"predicted accuracy {np.mean(predicted):.3f} (base {base:.3f}), CBPE {np.mean(cbpe):.3f}")
    assert alerted == 0
    # on traffic like the training data, both label-free estimates sit near the held-out accuracy
    assert abs(np.mean(predicted) - base) < 0.03 and abs(np.mean(cbpe) - base) < 0.03


@pytest.mark.spark
def test_a_shifted_population_raises_data_consistency_and_feature_drift_alerts(monitored) -> None:  # type: ignore[no-untyped-def]
    mon, config, _ = monitored
    shifted = feed_frame().sample(1000, random_state=1).copy()
    shifted["LoanAmount"] = (shifted["LoanAmount"] * 2.5).round().astype(int)
    shifted["Age"] = shifted["Age"] + 20
    m = run_window(mon, shifted, datetime(2021, 3, 1))
    broken = {t.metric for t in m.broken()}
    assert {"data_drift_magnitude", "feature_drift"} <= broken
    assert set(m.details.features_driving_drift[:2]) == {"LoanAmount", "Age"}
    # the share of inconsistent transactions, recomputed from the stored constraints
    payload = mon.ctx.payload(datetime(2021, 3, 1), datetime(2021, 3, 1, 1))
    bad, reasons = Constraints.from_dict(config.constraints).check(payload)
    assert m.metrics["data_drift_magnitude"] == pytest.approx(bad.mean()) and bad.mean() > 0.3
    over = payload["LoanAmount"] > 11676
    assert over.sum() > 0 and bad[over.to_numpy()].all()
    i = int(np.flatnonzero(over.to_numpy())[0])
    assert f"LoanAmount {payload['LoanAmount'].iloc[i]:,.0f} is above the training range 250–11 676".replace(
        ",", " ") in reasons[i]
    # the three views: each transaction in exactly one, with its reasons
    views = {v: set(mon.drift.transactions(v)["scoring_id"]) for v in ("accuracy", "consistency", "both")}
    wrong = set(payload["scoring_id"][model_p_correct(mon, payload) < 0.5])
    assert wrong and views["accuracy"] == wrong
    assert views["consistency"] == set(payload["scoring_id"][bad])
    assert views["both"] == wrong & views["consistency"]
    stored = mon.drift.transactions("consistency").set_index("scoring_id")
    assert sorted(reasons) == np.flatnonzero(bad).tolist()
    for row, why in reasons.items():
        assert why and all(w in stored.loc[payload["scoring_id"].iloc[row], "reasons"] for w in why)
    # feature drift per feature recomputed from the stored bins
    model = mon.drift.load_model()
    before = np.asarray(model.training_counts["Age"])
    now = model.bins["Age"].counts(payload["Age"])
    assert m.details.feature_drift["Age"].total_variation == pytest.approx(total_variation(before, now)[0])
    assert m.details.feature_drift["Age"].payload_share[-1] == pytest.approx(np.mean(payload["Age"] > 74))


@pytest.mark.spark
def test_swapped_category_frequencies_raise_feature_drift_not_inconsistency(monitored) -> None:  # type: ignore[no-untyped-def]
    mon, _, _ = monitored
    window = feed_frame().sample(400, random_state=4).copy()
    counts = load_training_data()["CheckingStatus"].value_counts()
    common, rare = counts.index[0], counts.index[-1]
    window["CheckingStatus"] = window["CheckingStatus"].map({common: rare, rare: common}).fillna(
        window["CheckingStatus"])
    m = run_window(mon, window, datetime(2021, 4, 1))
    assert m.details.features_driving_drift[0] == "CheckingStatus"
    broken = {t.metric for t in m.broken()}
    assert "feature_drift" in broken and "data_drift_magnitude" not in broken
    print(f"swapped CheckingStatus: feature drift {m.metrics['feature_drift']:.3f}, "
          f"inconsistent {m.metrics['data_drift_magnitude']:.3f}")


@pytest.mark.spark
def test_label_free_accuracy_estimates_against_their_formulas(monitored) -> None:  # type: ignore[no-untyped-def]
    from sklearn.isotonic import IsotonicRegression

    mon, config, _ = monitored
    window = feed_frame().sample(300, random_state=8)
    start = datetime(2021, 5, 1)
    m = run_window(mon, window, start)
    payload = mon.ctx.payload(start, start + timedelta(hours=1))
    model = mon.drift.load_model()
    assert m.metrics["predicted_accuracy"] == pytest.approx(model.p_correct(payload).mean())
    drop = config.base_accuracy - m.metrics["predicted_accuracy"]
    assert m.metrics["drift_magnitude"] == pytest.approx(max(0.0, drop))
    # CBPE: isotonic calibration on the held-out rows, then the mean calibrated probability of the predicted class
    training = load_training_data()
    held = training.iloc[mon.ctx.model_metadata["evaluation_rows"]]
    fav = mon.ctx.labels.index(config.favourable_class)
    _, probs = mon.ctx.scorer.predict_frame(held)
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(
        probs[:, fav], (held["Risk"] == config.favourable_class).astype(float))
    p = np.array(payload["probability"].tolist())[:, fav]
    q = iso.predict(p)
    is_fav = payload["predictedLabel"] == config.favourable_class
    assert m.metrics["cbpe_accuracy"] == pytest.approx(np.mean(np.where(is_fav, q, 1 - q)))
    assert 0 <= m.details.calibration_error < 0.2 and "concept drift" in m.details.note
