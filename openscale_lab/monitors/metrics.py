"""The monitors' metrics as plain functions with known answers (OpenScale's definitions)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial.distance import jensenshannon


def favourable_rate(favourable: np.ndarray) -> float:
    """Share of records with the favourable outcome (NaN for no records)."""
    return float(np.mean(favourable)) if len(favourable) else float("nan")


def disparate_impact(monitored_rate: float, reference_rate: float) -> float:
    """Favourable rate of the monitored group over that of the reference group (OpenScale's fairness value)."""
    if reference_rate == 0:
        return float("inf") if monitored_rate > 0 else float("nan")
    return monitored_rate / reference_rate


def total_variation_distance(p: Sequence[float], q: Sequence[float]) -> float:
    """Half the L1 distance between two distributions over the same bins (0: same, 1: disjoint)."""
    a, b = _normalise(p), _normalise(q)
    return float(0.5 * np.abs(a - b).sum())


def jensen_shannon_distance(p: Sequence[float], q: Sequence[float]) -> float:
    """Jensen-Shannon distance in base 2 (0: same, 1: disjoint)."""
    return float(jensenshannon(_normalise(p), _normalise(q), base=2))


def _normalise(p: Sequence[float]) -> np.ndarray:
    arr = np.asarray(p, dtype=float)
    total = arr.sum()
    return arr / total if total > 0 else arr


def binary_quality(y_true: np.ndarray, p_positive: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """OpenScale's binary quality metrics; y_true and y_pred are 1 for the positive class, else 0."""
    from sklearn.metrics import auc, log_loss, precision_recall_curve, roc_auc_score

    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    p_positive = np.asarray(p_positive, dtype=float)
    tp = int(((y_pred == 1) & (y_true == 1)).sum())
    fp = int(((y_pred == 1) & (y_true == 0)).sum())
    tn = int(((y_pred == 0) & (y_true == 0)).sum())
    fn = int(((y_pred == 0) & (y_true == 1)).sum())
    both = len(set(y_true.tolist())) == 2
    precision_curve, recall_curve, _ = precision_recall_curve(y_true, p_positive) if both else (None, None, None)
    # accuracy, precision, recall and F1 from the counts, as scikit-learn's scores with zero_division=0 give them
    # (its per-call input checks cost more than the arithmetic, hourly over a week)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "area_under_roc": float(roc_auc_score(y_true, p_positive)) if both else float("nan"),
        "area_under_pr": float(auc(recall_curve, precision_curve)) if both else float("nan"),
        "accuracy": (tp + tn) / len(y_true) if len(y_true) else float("nan"),
        "true_positive_rate": tp / (tp + fn) if tp + fn else float("nan"),
        "false_positive_rate": fp / (fp + tn) if fp + tn else float("nan"),
        "precision": precision,
        "recall": recall,
        "f1_measure": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "log_loss": float(log_loss(y_true, np.column_stack([1 - p_positive, p_positive]), labels=[0, 1])),
        "confusion_matrix": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
    }


def histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of values in bins given by edges (values outside fall in the first or last bin)."""
    clipped = np.clip(values, edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=edges)
    return counts.astype(float)


def category_counts(values: Sequence[object], categories: Sequence[object]) -> np.ndarray:
    """Counts of each category, plus a last bin for values not among them."""
    import pandas as pd

    index = {c: i for i, c in enumerate(categories)}
    codes = pd.Series(list(values) if not isinstance(values, pd.Series) else values, dtype=object).map(index)
    codes = codes.fillna(len(categories)).to_numpy(dtype=int)
    return np.bincount(codes, minlength=len(categories) + 1).astype(float)


def group_rates(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Outcomes of one group on labelled data, 1 meaning positive (fairness: the favourable outcome).

    Records, positives in the truth, true- and false-positive rate, accuracy and selection rate (share
    predicted positive); a rate whose denominator is 0 is NaN.
    """
    truth, predicted = np.asarray(truth, dtype=bool), np.asarray(predicted, dtype=bool)
    positives, negatives = int(truth.sum()), int((~truth).sum())
    tp, fp = int((predicted & truth).sum()), int((predicted & ~truth).sum())
    n = len(truth)
    return {"records": n, "positives": positives, "negatives": negatives,
            "true_positive_rate": tp / positives if positives else float("nan"),
            "false_positive_rate": fp / negatives if negatives else float("nan"),
            "accuracy": float(np.mean(truth == predicted)) if n else float("nan"),
            "selection_rate": float(np.mean(predicted)) if n else float("nan")}


def equal_opportunity_difference(tpr_monitored: float, tpr_reference: float) -> float:
    """True-positive rate of the monitored group minus that of the reference group (0: equal opportunity;
    below 0: the monitored group's deserving members get the favourable outcome less often)."""
    return float(tpr_monitored - tpr_reference)


def equalized_odds_difference(tpr_monitored: float, tpr_reference: float, fpr_monitored: float,
                              fpr_reference: float) -> float:
    """The larger of the absolute true-positive-rate and false-positive-rate differences between two
    groups (0: equalized odds); NaN when either rate is undefined for a group."""
    gaps = [abs(tpr_monitored - tpr_reference), abs(fpr_monitored - fpr_reference)]
    return float("nan") if any(np.isnan(gaps)) else float(max(gaps))
