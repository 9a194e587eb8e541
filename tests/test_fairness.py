"""The fairness monitor against OpenScale's definitions, every value recomputed independently: biased
transactions and debiasing, balanced data with seeded draws from the training data, per-feature thresholds,
group rates on labelled data against fairlearn, and undefined values left not evaluated."""
from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from openscale_lab.core.fairness_groups import debias_rows
from openscale_lab.data import feed_sample, load_feedback_data, load_training_data
from openscale_lab.errors import LabError
from openscale_lab.monitors import Monitoring
from openscale_lab.monitors.fairness import FairnessDetails, FeatureFairness, labelled_fairness
from openscale_lab.tutorial import FEATURE_COLUMNS

from .helpers import T0, insert_payload, own_subscription

pytestmark = pytest.mark.spark

FAV, UNFAV = "No Risk", "Risk"
FEATURES = [{"feature": "Sex", "monitored": ["female"], "reference": ["male"]},
            {"feature": "Age", "monitored": [[18, 25]], "reference": [[26, 75]]}]
GROUPS = {"Sex": (lambda v: v == "female", lambda v: v == "male"),
          "Age": (lambda v: 18 <= v <= 25, lambda v: 26 <= v <= 75)}
WINDOW = (T0, T0 + timedelta(hours=1))


@pytest.fixture
def mon(trained, deployment) -> Iterator[Monitoring]:  # type: ignore[no-untyped-def]
    """Monitoring of a new, empty subscription of the suite's deployment (its own payload log)."""
    monitoring = own_subscription(trained[0], deployment, "fair")
    yield monitoring
    monitoring.close()


def enable(mon: Monitoring, features: list[dict[str, Any]] = FEATURES, **settings: Any) -> Any:
    return mon.fairness.enable(features=features, favourable_classes=[FAV], unfavourable_classes=[UNFAV],
                               **{"min_records": 50, **settings})


def feed_frame(n: int, seed: int) -> pd.DataFrame:
    sample = feed_sample(n, seed=seed)
    return pd.DataFrame(sample["values"], columns=sample["fields"])


# -- the documented draw, written out again -------------------------------------------------------------
def training_counts(feature: str, in_group: Any) -> pd.Series:
    """Training values of a group and their counts, by value."""
    values = load_training_data()[feature]
    return values[values.map(in_group)].value_counts().sort_index()


def documented_draw(record: dict[str, Any], counts: pd.Series, seed: int, feature: str, group: str) -> Any:
    """The value `record` takes when moved into `group`, as core.fairness_groups documents the draw (written with
    Python integers, one record at a time)."""
    mask = 2**64 - 1

    def text(v: Any) -> str:
        return repr(float(v)) if isinstance(v, (int, float, np.integer, np.floating)) else str(v)

    def h(t: str) -> int:
        return int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "big")

    def mix(x: int) -> int:
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
        return x ^ (x >> 31)

    r = 0
    for name in sorted(FEATURE_COLUMNS):
        r = mix((r * 0x9E3779B97F4A7C15 + h(f"{name}={text(record[name])}")) & mask)
    u = (mix(r ^ h(f"{seed}|{feature}|{group}")) >> 11) / 2**53
    cumulative = (counts.cumsum() / counts.sum()).to_numpy()
    return counts.index[int(np.searchsorted(cumulative, u, side="right"))]


def perturbed(mon: Monitoring, records: list[dict[str, Any]], feature: str, seed: int = 0
              ) -> tuple[list[Any], list[str]]:
    """Each record of one of the feature's groups moved into the other: drawn value and the model's label
    (list scorer); None for records in neither group."""
    in_mon, in_ref = GROUPS[feature]
    to_ref, to_mon = training_counts(feature, in_ref), training_counts(feature, in_mon)
    values: list[Any] = []
    for r in records:
        if in_mon(r[feature]):
            values.append(documented_draw(r, to_ref, seed, feature, "reference"))
        elif in_ref(r[feature]):
            values.append(documented_draw(r, to_mon, seed, feature, "monitored"))
        else:
            values.append(None)
    moved = [[v if c == feature else r[c] for c in FEATURE_COLUMNS] for r, v in zip(records, values, strict=True)
             if v is not None]
    scored = iter(mon.ctx.scorer.score(moved, FEATURE_COLUMNS)) if moved else iter(())
    return values, [next(scored)[1] if v is not None else None for v in values]


# -- (a) biased transactions and debiasing -------------------------------------------------------------------
def training_payload(mon: Monitoring, seed: int) -> pd.DataFrame:
    """300 training records at random, and 250 the model refuses made 18 to 25 years old (the model refuses
    no young applicant of the training data, so without them no record could be biased for Age), drawn from the
    400 refused closest to being granted: age moves a decision only near the boundary."""
    rng = np.random.default_rng(seed)
    train = load_training_data()[FEATURE_COLUMNS]
    pred, probs = mon.ctx.scorer.predict_frame(train)
    refused = train.assign(p_fav=probs[:, mon.ctx.labels.index(FAV)])[pred == mon.ctx.labels.index(UNFAV)]
    refused = refused.nlargest(400, "p_fav").drop(columns="p_fav").sample(250, random_state=seed)
    young = refused.assign(Age=rng.integers(18, 26, size=len(refused)))
    return pd.concat([train.sample(300, random_state=seed), young], ignore_index=True)


@pytest.mark.parametrize("seed", [3, 17, 29])
def test_biased_transactions_are_refused_monitored_records_granted_when_moved(mon: Monitoring, seed: int) -> None:
    enable(mon)
    insert_payload(mon, training_payload(mon, seed), T0)
    m = mon.fairness.run(*WINDOW)
    assert m.evaluated, m.message
    payload = mon.ctx.payload(*WINDOW)
    records = payload[FEATURE_COLUMNS].to_dict("records")
    labels = list(payload["predictedLabel"])
    stored = mon.fairness.biased_transactions(m.measurement_id)
    assert set(stored["group_name"]) <= {"monitored"}
    assert (stored["original_label"] == UNFAV).all() and (stored["perturbed_label"] == FAV).all()
    biased_at: dict[str, set[int]] = {}
    unbiased_flips: dict[str, int] = {}
    for feature, (in_mon, in_ref) in GROUPS.items():
        values, moved = perturbed(mon, records, feature)
        expected = {i for i, (r, label, new) in enumerate(zip(records, labels, moved, strict=True))
                    if in_mon(r[feature]) and label == UNFAV and new == FAV}
        biased_at[feature] = expected
        mine = stored[stored["feature"] == feature]
        assert set(mine["scoring_id"]) == {payload["scoring_id"].iloc[i] for i in expected}
        assert m.metrics[f"{feature}_biased_transactions"] == len(expected)
        for row in mine.itertuples():
            i = int(np.flatnonzero(payload["scoring_id"] == row.scoring_id)[0])
            assert in_mon(records[i][feature]) and row.original_value == str(records[i][feature])
            assert row.perturbed_value == str(values[i]) and in_ref(values[i])
        # every flip that is not biased (reference records, favourable to unfavourable) is left out
        flips = {i for i, (label, new) in enumerate(zip(labels, moved, strict=True)) if new and new != label}
        left_out = {payload["scoring_id"].iloc[i] for i in flips - expected}
        assert not left_out & set(mine["scoring_id"])
        unbiased_flips[feature] = len(left_out)
    assert biased_at["Sex"] and biased_at["Age"], "expected biased records for both features"
    assert unbiased_flips["Sex"] > 0, "expected flips the old rule counted and OpenScale's does not"
    # debiased: only biased records change, only from unfavourable to favourable; the endpoint agrees
    original, debiased = mon.fairness.debiased_labels(payload[FEATURE_COLUMNS])
    assert list(original) == labels
    changed = {i for i, (a, b) in enumerate(zip(original, debiased, strict=True)) if a != b}
    assert changed == biased_at["Sex"] | biased_at["Age"]
    assert all((original[i], debiased[i]) == (UNFAV, FAV) for i in changed)
    config = mon.ctx.datamart.monitor_config(mon.subscription.subscription_id, "fairness")
    rows = [[r[c] for c in FEATURE_COLUMNS] for r in records]
    assert debias_rows(mon.ctx.scorer, config, FEATURE_COLUMNS, rows, labels) == list(debiased)
    # a record's debiased outcome does not depend on the batch it comes in
    assert debias_rows(mon.ctx.scorer, config, FEATURE_COLUMNS, rows[::-1], labels[::-1]) == list(debiased)[::-1]
    debiased_fav = np.isin(debiased, [FAV])
    sex_mon = payload["Sex"].eq("female").to_numpy()
    assert m.metrics["Sex_debiased"] == pytest.approx(debiased_fav[sex_mon].mean() / debiased_fav[~sex_mon].mean())


def test_debiasing_reads_configurations_stored_with_one_value_per_group(mon: Monitoring) -> None:
    """Configurations stored before the groups' training values were kept hold `to_reference` alone."""
    frame = feed_frame(200, 5)
    rows = frame[FEATURE_COLUMNS].values.tolist()
    labels = [label for _, label, _ in mon.ctx.scorer.score(rows, FEATURE_COLUMNS)]
    old = {"favourable_classes": [FAV], "unfavourable_classes": [UNFAV], "features": [
        {"feature": "Sex", "monitored": ["female"], "reference": ["male"],
         "perturbation": {"to_reference": "male", "to_monitored": "female"}}]}
    as_men = [["male" if c == "Sex" else v for c, v in zip(FEATURE_COLUMNS, r, strict=True)] for r in rows]
    men_labels = [label for _, label, _ in mon.ctx.scorer.score(as_men, FEATURE_COLUMNS)]
    sex = FEATURE_COLUMNS.index("Sex")
    expected = [FAV if r[sex] == "female" and a == UNFAV and b == FAV else a
                for r, a, b in zip(rows, labels, men_labels, strict=True)]
    assert debias_rows(mon.ctx.scorer, old, FEATURE_COLUMNS, rows, labels) == expected


# -- (b) balanced data --------------------------------------------------------------------------------------
def test_balanced_disparate_impact_recomputed_from_the_documented_draws(mon: Monitoring) -> None:
    config = enable(mon, perturbation_seed=11)
    assert config.perturbation_seed == 11
    ages = config.features[1]["perturbation"]["reference"]
    expected_ages = training_counts("Age", GROUPS["Age"][1])
    assert ages == {"values": expected_ages.index.tolist(), "counts": expected_ages.tolist()}
    insert_payload(mon, feed_frame(400, 8), T0)
    m = mon.fairness.run(*WINDOW)
    assert m.evaluated, m.message
    payload = mon.ctx.payload(*WINDOW)
    records = payload[FEATURE_COLUMNS].to_dict("records")
    fav = payload["predictedLabel"].eq(FAV).to_numpy()
    for feature, (in_mon, in_ref) in GROUPS.items():
        values, moved = perturbed(mon, records, feature, seed=11)
        mon_mask = np.array([in_mon(r[feature]) for r in records])
        ref_mask = np.array([in_ref(r[feature]) for r in records])
        moved_fav = np.array([x == FAV for x in moved])
        mon_rate = (fav[mon_mask].sum() + moved_fav[ref_mask].sum()) / (mon_mask.sum() + ref_mask.sum())
        ref_rate = (fav[ref_mask].sum() + moved_fav[mon_mask].sum()) / (mon_mask.sum() + ref_mask.sum())
        got = m.details.features[feature]
        assert got.balanced_monitored_favourable_rate == pytest.approx(mon_rate)
        assert got.balanced_reference_favourable_rate == pytest.approx(ref_rate)
        assert m.metrics[f"{feature}_balanced"] == pytest.approx(mon_rate / ref_rate)
        if feature == "Age":  # drawn across the whole reference range, not one representative age
            drawn = [v for v, r in zip(values, records, strict=True) if in_mon(r["Age"])]
            assert len(set(drawn)) >= 10 and all(26 <= a <= 75 for a in drawn)
    again = mon.fairness.run(*WINDOW)  # the same window gives the same draws
    assert again.metrics["Age_balanced"] == m.metrics["Age_balanced"]


# -- (c) per-feature thresholds ------------------------------------------------------------------------------
def _known_frame() -> tuple[pd.DataFrame, list[str]]:
    """200 records: women 56/80 favourable (0.7), men 96/120 (0.8); aged 22: 28/40, aged 40: 124/160."""
    frame = feed_frame(200, 21)
    cells = [("female", 22, 20, 12), ("female", 40, 60, 44), ("male", 22, 20, 16), ("male", 40, 100, 80)]
    sexes, ages, labels = [], [], []
    for sex, age, n, favourable in cells:
        sexes += [sex] * n
        ages += [age] * n
        labels += [FAV] * favourable + [UNFAV] * (n - favourable)
    return frame.assign(Sex=sexes, Age=ages), labels


def test_each_feature_alerts_against_its_own_threshold(mon: Monitoring) -> None:
    features = [{**FEATURES[0], "threshold": 0.9}, FEATURES[1]]
    config = enable(mon, features, threshold=0.8)
    assert [(t.metric, t.value) for t in mon.fairness.thresholds(config)] == [("Sex", 0.9), ("Age", 0.8)]
    frame, labels = _known_frame()
    insert_payload(mon, frame, T0, labels)
    m = mon.fairness.run(*WINDOW)
    fav = pd.Series(labels).eq(FAV)
    sex_di = fav[frame["Sex"].eq("female")].mean() / fav[frame["Sex"].eq("male")].mean()
    age_di = fav[frame["Age"].eq(22)].mean() / fav[frame["Age"].eq(40)].mean()
    assert (m.metrics["Sex"], m.metrics["Age"]) == (pytest.approx(sex_di), pytest.approx(age_di))
    assert sex_di < 0.9 and 0.9 < age_di < 0.95  # Sex breaks its own limit; Age only the stricter one
    assert set(mon.fairness.alerts()["metric"]) == {"Sex"}
    enable(mon, [FEATURES[0], {**FEATURES[1], "threshold": 0.95}], threshold=0.8)
    again = mon.fairness.run(*WINDOW)
    assert [(t.metric, t.value) for t in again.thresholds] == [("Sex", 0.8), ("Age", 0.95)]
    assert [a["metric"] for a in again.alerts] == ["Age"]


@pytest.mark.parametrize("bad", [0, 1.5, -0.2, "0.9", True, None, float("nan")])
def test_a_feature_threshold_outside_0_1_is_refused_naming_the_feature(mon: Monitoring, bad: Any) -> None:
    with pytest.raises(LabError, match=r"fairness feature 'Age': threshold must be a number in \(0, 1\]"):
        enable(mon, [FEATURES[0], {**FEATURES[1], "threshold": bad}])
    assert not mon.fairness.enabled


def test_feature_settings_are_checked(mon: Monitoring) -> None:
    with pytest.raises(LabError, match="fairness feature 'Sex': unknown setting.*treshold"):
        enable(mon, [{**FEATURES[0], "treshold": 0.9}])
    with pytest.raises(LabError, match="fairness feature 'Age': the monitored group .* overlap"):
        enable(mon, [{"feature": "Age", "monitored": [[18, 30]], "reference": [[26, 75]]}])
    with pytest.raises(LabError, match="fairness feature 'Age': no training record is in the monitored group"):
        enable(mon, [{"feature": "Age", "monitored": [[80, 90]], "reference": [[26, 75]]}])
    with pytest.raises(LabError, match=r"the fairness threshold must be a number in \(0, 1\]"):
        enable(mon, threshold=95)
    with pytest.raises(LabError, match="fairness feature\\(s\\) 'Sex' configured more than once"):
        enable(mon, [FEATURES[0], {**FEATURES[0], "threshold": 0.9}])
    with pytest.raises(LabError, match=r"fairness feature 'Sex': give the monitored group as a list"):
        enable(mon, [{"feature": "Sex", "monitored": "female", "reference": ["male"]}])
    with pytest.raises(LabError, match=r"fairness feature 'Age': reference range \[75, 26\] must be \[low, high\]"):
        enable(mon, [{"feature": "Age", "monitored": [[18, 25]], "reference": [[75, 26]]}])
    with pytest.raises(LabError, match="fairness min_records must be a whole number"):
        enable(mon, min_records="200")
    with pytest.raises(LabError, match="fairness window_hours must be a number of hours > 0"):
        enable(mon, window_hours=0)
    assert not mon.fairness.enabled


# -- (d) labelled data ----------------------------------------------------------------------------------------
def _fairlearn_by_group(truth: np.ndarray, predicted: np.ndarray, groups: np.ndarray) -> pd.DataFrame:
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
    from sklearn.metrics import accuracy_score

    return MetricFrame(metrics={"true_positive_rate": true_positive_rate, "false_positive_rate": false_positive_rate,
                                "accuracy": accuracy_score, "selection_rate": selection_rate},
                       y_true=truth.astype(int), y_pred=predicted.astype(int), sensitive_features=groups).by_group


def test_group_rates_on_labelled_data_match_fairlearn() -> None:
    from fairlearn.metrics import equal_opportunity_difference, equalized_odds_difference

    rng = np.random.default_rng(4)
    n = 600
    groups = rng.choice(["monitored", "reference", "neither"], size=n, p=[0.35, 0.5, 0.15])
    truth = rng.random(n) < 0.6
    predicted = np.where(groups == "monitored", rng.random(n) < 0.45, rng.random(n) < 0.65) ^ (rng.random(n) < 0.1)
    found = labelled_fairness(truth, predicted, groups == "monitored", groups == "reference")
    inside = groups != "neither"
    expected = _fairlearn_by_group(truth[inside], predicted[inside], groups[inside])
    for group in ("monitored", "reference"):
        mine = getattr(found, group)
        assert mine.records == int((groups == group).sum())
        assert mine.positives == int(truth[groups == group].sum())
        for metric in expected.columns:
            assert getattr(mine, metric) == pytest.approx(expected.loc[group, metric])
    eo = equal_opportunity_difference(truth[inside], predicted[inside], sensitive_features=groups[inside])
    assert abs(found.equal_opportunity_difference) == pytest.approx(eo)
    assert found.equal_opportunity_difference == pytest.approx(
        expected.loc["monitored", "true_positive_rate"] - expected.loc["reference", "true_positive_rate"])
    assert found.equalized_odds_difference == pytest.approx(
        equalized_odds_difference(truth[inside], predicted[inside], sensitive_features=groups[inside]))


def test_fairness_on_the_feedback_of_the_window(mon: Monitoring) -> None:
    enable(mon)
    insert_payload(mon, feed_frame(300, 6), T0)
    feedback = load_feedback_data()
    mon.feedback.log(feedback, timestamp=T0 + timedelta(minutes=5))
    m = mon.fairness.run(*WINDOW)
    assert m.evaluated, m.message
    labels = [label for _, label, _ in mon.ctx.scorer.score(feedback[FEATURE_COLUMNS].values.tolist(),
                                                            FEATURE_COLUMNS)]
    truth, predicted = feedback["Risk"].eq(FAV).to_numpy(), np.array([x == FAV for x in labels])
    sex = feedback["Sex"].map({"female": "monitored", "male": "reference"}).to_numpy()
    expected = _fairlearn_by_group(truth, predicted, sex)
    got = m.details.features["Sex"].labelled
    for group in ("monitored", "reference"):
        assert getattr(got, group).records == int((sex == group).sum())
        for metric in expected.columns:
            assert getattr(getattr(got, group), metric) == pytest.approx(expected.loc[group, metric])
    tpr, fpr = expected["true_positive_rate"], expected["false_positive_rate"]
    assert m.metrics["Sex_equal_opportunity_difference"] == pytest.approx(tpr["monitored"] - tpr["reference"])
    assert m.metrics["Sex_equalized_odds_difference"] == pytest.approx(
        max(abs(tpr["monitored"] - tpr["reference"]), abs(fpr["monitored"] - fpr["reference"])))
    # one young applicant of the feedback is Risk: the false-positive rate of 18-25 rests on that record
    age = m.details.features["Age"].labelled
    assert (age.monitored.records, age.monitored.negatives) == (18, 1)
    assert not any(t.metric.endswith("_difference") for t in m.thresholds)
    loaded = mon.fairness.latest().details
    assert loaded.features["Sex"].labelled.monitored.true_positive_rate == pytest.approx(
        expected.loc["monitored", "true_positive_rate"])


def test_details_stored_before_labelled_fairness_still_load() -> None:
    old = {"favourable_classes": [FAV], "features": {"Sex": {
        "monitored_group": ["female"], "reference_group": ["male"], "monitored_count": 60, "reference_count": 148,
        "monitored_favourable_rate": 0.8, "reference_favourable_rate": 0.6, "disparate_impact": 1.33,
        "perturbation": {"to_reference": "male", "to_monitored": "female"}}}}
    details = FairnessDetails.from_dict(old)
    assert details.features["Sex"].labelled is None and details.features["Sex"].rates() == (0.8, 0.6, 1.33)


# -- (e) undefined values -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["only women", "no man granted, some women", "nobody granted"])
def test_undefined_fairness_is_not_evaluated_with_a_reason_naming_the_feature(mon: Monitoring, case: str) -> None:
    enable(mon)
    frame = feed_frame(200, 12)
    women = frame["Sex"].eq("female").to_numpy()
    if case == "only women":
        frame, labels = frame.assign(Sex="female"), None
    elif case == "no man granted, some women":
        labels = [FAV if w else UNFAV for w in women]
    else:
        labels = [UNFAV] * len(frame)
    insert_payload(mon, frame, T0, labels)
    m = mon.fairness.run(*WINDOW)
    assert not m.evaluated and m.metrics == {} and m.details is None
    if case == "only women":
        assert m.message == ("not evaluated: Sex: 200 records in the monitored group and 0 in the reference "
                             "group; both are needed")
    else:
        assert m.message == (f"not evaluated: Sex: no favourable outcome among the {int((~women).sum())} records "
                             "of the reference group, so disparate impact is undefined")
    assert mon.fairness.alerts().empty and mon.fairness.biased_transactions().empty


@pytest.mark.parametrize("view", ["balanced", "debiased"])
@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_a_disparate_impact_that_is_not_finite_in_any_view_is_undefined(view: str, value: float) -> None:
    fine = FeatureFairness(monitored_count=10, reference_count=20, monitored_favourable_rate=0.5,
                           reference_favourable_rate=0.5, disparate_impact=1.0, balanced_disparate_impact=1.0,
                           debiased_disparate_impact=1.0)
    assert fine.undefined("Age") is None
    setattr(fine, f"{view}_disparate_impact", value)
    assert fine.undefined("Age") == f"Age: the disparate impact on {view} data is {value}, not a finite number"
