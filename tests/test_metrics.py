"""Known answers for every monitor metric."""
from __future__ import annotations

import math

import numpy as np
import pytest

from openscale_lab.monitors.base import Threshold
from openscale_lab.monitors.metrics import (
    binary_quality,
    category_counts,
    disparate_impact,
    favourable_rate,
    histogram,
    jensen_shannon_distance,
    total_variation_distance,
)


def test_disparate_impact_of_a_hand_built_payload() -> None:
    monitored = np.array([1] * 4 + [0] * 6, dtype=bool)  # 40% favourable
    reference = np.array([1] * 8 + [0] * 2, dtype=bool)  # 80% favourable
    assert favourable_rate(monitored) == 0.4 and favourable_rate(reference) == 0.8
    assert disparate_impact(0.4, 0.8) == 0.5
    assert disparate_impact(0.0, 0.0) != disparate_impact(0.0, 0.0)  # NaN: nothing to compare
    assert math.isnan(favourable_rate(np.array([], dtype=bool)))


@pytest.mark.parametrize("p, q, tvd", [([1, 0], [0, 1], 1.0), ([5, 5], [1, 1], 0.0), ([3, 1], [1, 1], 0.25),
                                       ([0.2, 0.3, 0.5], [0.5, 0.3, 0.2], 0.3)])
def test_total_variation_distance(p: list[float], q: list[float], tvd: float) -> None:
    assert total_variation_distance(p, q) == pytest.approx(tvd)


def test_jensen_shannon_distance() -> None:
    assert jensen_shannon_distance([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0, abs=1e-12)
    assert jensen_shannon_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    # JS divergence of [1,0] and [.5,.5] in bits: 0.5*KL([1,0]||[.75,.25]) + 0.5*KL([.5,.5]||[.75,.25])
    m = np.array([0.75, 0.25])
    js = 0.5 * np.log2(1 / 0.75) + 0.5 * (0.5 * np.log2(0.5 / m[0]) + 0.5 * np.log2(0.5 / m[1]))
    assert jensen_shannon_distance([1, 0], [0.5, 0.5]) == pytest.approx(math.sqrt(js))


def test_binary_quality_known_answers() -> None:
    y_true = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    y_pred = (p >= 0.5).astype(int)  # [0, 0, 0, 1]
    m = binary_quality(y_true, p, y_pred)
    assert m["area_under_roc"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["true_positive_rate"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)
    assert m["false_positive_rate"] == 0.0 and m["precision"] == 1.0
    assert m["f1_measure"] == pytest.approx(2 / 3)
    expected_loss = -np.mean(np.log([0.9, 0.6, 0.35, 0.8]))
    assert m["log_loss"] == pytest.approx(expected_loss)
    assert m["confusion_matrix"] == {"tp": 1, "fp": 0, "tn": 2, "fn": 1}
    # precision-recall points (recall, precision) by falling threshold: (0,1) (.5,1) (.5,.5) (1,2/3);
    # trapezoids: 0.5 * 1 + 0.5 * (0.5 + 2/3) / 2, as Spark's areaUnderPR computes it
    assert m["area_under_pr"] == pytest.approx(0.5 + 0.5 * (0.5 + 2 / 3) / 2)


def test_histogram_and_category_counts() -> None:
    edges = np.array([0.0, 0.5, 1.0])
    assert histogram(np.array([-1, 0.2, 0.7, 3.0]), edges).tolist() == [2, 2]
    assert category_counts(["a", "b", "a", "zzz"], ["a", "b", "c"]).tolist() == [2, 1, 0, 1]


def test_thresholds() -> None:
    assert Threshold("auc", "lower_limit", 0.7).broken_by(0.69)
    assert not Threshold("auc", "lower_limit", 0.7).broken_by(0.7)
    assert Threshold("drift", "upper_limit", 0.05).broken_by(0.06)
    assert not Threshold("drift", "upper_limit", 0.05).broken_by(float("nan"))
