"""What the drift monitor learns at `enable`: the drift detection model, the training distributions, and the
calibration behind the confidence-based accuracy estimate.

- Drift detection model (OpenScale's drop in accuracy): a classifier trained on the training data and the
  deployed model's outcomes predicts, for a record, whether the model scores it correctly. Its mean predicted
  probability over a window is the predicted accuracy. (OpenScale counts the records predicted correct; the
  mean probability is the same estimate without the 0.5 cut, which would bias it towards the majority.)
- Confidence-based performance estimation (CBPE, as NannyML describes it): with probabilities calibrated on
  the model's held-out rows, a record scored as class c is correct with probability P(c | x), so the expected
  accuracy of a window is the mean calibrated probability of the predicted class (written for two classes,
  the lab's problem type: the other class's probability is one minus the favourable one). Unlike the drift
  model it needs no second classifier, but it also trusts that the relation between features and labels
  holds. On the held-out rows themselves it reproduces the base accuracy by construction.

Neither estimate can see a change in how labels relate to features (concept drift): only feedback can.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LabError
from .distributions import Bins, category_codes, probability_counts

if TYPE_CHECKING:
    import pandas as pd

CALIBRATION_BINS = 10


@dataclass
class Calibration:
    """Isotonic map from the model's favourable-class probability to the observed favourable rate, fitted on
    held-out rows, and how far the raw probabilities were from calibrated (expected calibration error)."""

    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    expected_calibration_error: float = float("nan")
    rows: int = 0

    @classmethod
    def fit(cls, p_fav: np.ndarray, is_fav: np.ndarray) -> Calibration:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p_fav, is_fav.astype(float))
        return cls(x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist(),
                   expected_calibration_error=expected_calibration_error(p_fav, is_fav), rows=len(p_fav))

    def __call__(self, p_fav: np.ndarray) -> np.ndarray:
        return np.interp(p_fav, self.x, self.y)


def expected_calibration_error(p: np.ndarray, outcome: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Record-weighted mean |observed rate − mean probability| over equal-width probability bins."""
    idx = np.minimum((np.asarray(p) * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(idx):
        inside = idx == b
        total += inside.sum() * abs(float(np.mean(outcome[inside])) - float(np.mean(p[inside])))
    return total / max(len(p), 1)


def cbpe_accuracy(p_fav_calibrated: np.ndarray, predicted_fav: np.ndarray) -> np.ndarray:
    """Per record, the calibrated probability that the predicted class is right."""
    return np.where(predicted_fav, p_fav_calibrated, 1.0 - p_fav_calibrated)


@dataclass
class DriftModel:
    """Everything `run` compares a window with; stored beside the monitor's configuration (`save_drift_model`)."""

    classifier: Any
    columns: list[str]
    categories: dict[str, list[Any]]
    bins: dict[str, Bins]
    training_counts: dict[str, list[float]]
    training_output_counts: list[float]
    training_label_shares: dict[str, float]
    base_accuracy: float
    favourable_index: int
    calibration: Calibration

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Categories as codes (unseen: NaN), numbers as they are."""
        out = np.empty((len(frame), len(self.columns)))
        for j, col in enumerate(self.columns):
            if col in self.categories:
                codes = category_codes(frame[col], self.categories[col]).astype(float)
                out[:, j] = np.where(codes < 0, np.nan, codes)
            else:
                out[:, j] = frame[col].to_numpy(dtype=float, na_value=np.nan)
        return out

    def p_correct(self, frame: pd.DataFrame) -> np.ndarray:
        return self.classifier.predict_proba(self.encode(frame))[:, 1]

    def cbpe(self, p_fav: np.ndarray, predicted_fav: np.ndarray) -> float:
        """The confidence-based accuracy estimate of records with these favourable-class probabilities."""
        return float(cbpe_accuracy(self.calibration(p_fav), predicted_fav).mean())

    def feature_counts(self, frame: pd.DataFrame, col: str) -> np.ndarray:
        return self.bins[col].counts(frame[col])


def train_drift_model(data: pd.DataFrame, columns: list[str], categorical: list[str], labels: list[str],
                      label_column: str, predicted: np.ndarray, probs: np.ndarray, held_out: np.ndarray,
                      favourable_index: int, seed: int = 0) -> DriftModel:
    """Learn from the training data scored by the deployed model (`predicted` label indices, `probs`).

    The base accuracy and the calibration use only `held_out` rows (the model's evaluation split), which the
    deployed model never saw; the drift detection model learns from every row, as OpenScale's does. Its
    "correct" labels on the rows the model was trained on are slightly optimistic, which would bias the
    drop in accuracy towards 0; the model is kept small (and the tests check that on the tutorial's traffic
    its estimate stays within 0.03 of the base accuracy).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    names = np.asarray(labels, dtype=object)
    truth = data[label_column].to_numpy(dtype=object)
    correct = (names[predicted] == truth).astype(int)
    categories = {c: sorted(data[c].dropna().unique().tolist(), key=str) for c in categorical}
    bins = {c: Bins.learn(data[c], c in categories) for c in columns}
    fav = favourable_index
    calibration = Calibration.fit(probs[held_out, fav], truth[held_out] == labels[fav])
    model = DriftModel(
        classifier=None, columns=columns, categories=categories, bins=bins,
        training_counts={c: bins[c].counts(data[c]).tolist() for c in columns},
        training_output_counts=probability_counts(probs[:, fav]).tolist(),
        training_label_shares={lab: float(np.mean(names[predicted] == lab)) for lab in labels},
        base_accuracy=float(correct[held_out].mean()), favourable_index=fav, calibration=calibration)
    model.classifier = HistGradientBoostingClassifier(
        categorical_features=[c in categories for c in columns], max_iter=60, learning_rate=0.12,
        max_leaf_nodes=15,
        random_state=seed).fit(model.encode(data), correct)
    return model


# The drift model is stored with skops, not pickle: unpickling a file runs whatever code the file names, so
# anyone able to replace it in the workspace could run code in the learner's kernel or the scheduler. skops
# rebuilds only the types it is told to trust and refuses any other before building anything. A digest of a
# pickle would protect as well only if kept in another store; a format that cannot run code needs no second
# store. Trusted beyond skops' own defaults (scikit-learn estimators, NumPy, builtins): the lab's plain
# dataclasses, the trees of HistGradientBoostingClassifier, and the check_array partial its preprocessor
# holds (a partial's function is audited on its own: a partial of anything else is still refused).
def _trusted_types() -> list[str]:
    own = [f"{cls.__module__}.{cls.__qualname__}" for cls in (DriftModel, Calibration, Bins)]
    return [*own, "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor", "functools.partial",
            "sklearn.utils.validation.check_array"]


def save_drift_model(model: DriftModel, path: Path) -> None:
    """Write the drift model with skops, atomically (readers see the old file or the new one)."""
    import skops.io as sio

    data = sio.dumps(model)
    untrusted = set(sio.get_untrusted_types(data=data)) - set(_trusted_types())
    if untrusted:  # a newer scikit-learn holding new types: refuse now rather than at every run
        raise LabError(f"the drift model holds types the lab does not trust yet: {', '.join(sorted(untrusted))}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load_drift_model(path: Path) -> DriftModel:
    """Read a drift model written by `save_drift_model`, building no type outside the trusted list.

    A file that is not such a model (replaced, truncated, or written by an earlier version) raises LabError
    saying to enable the drift monitor again; nothing in it has run.
    """
    import skops.io as sio

    again = "enable the drift monitor again to train a new one"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LabError(f"cannot read the drift model file {path} ({exc.strerror}): {again}") from exc
    try:
        untrusted = set(sio.get_untrusted_types(data=data))
    except Exception as exc:  # not a skops file (a pickle, say): BadZipFile, KeyError, JSON errors
        raise LabError(f"the drift model file {path} changed: it is not a drift model the lab wrote "
                       f"({type(exc).__name__}); {again}") from exc
    refused = untrusted - set(_trusted_types())
    if refused:
        raise LabError(f"the drift model file {path} changed: it holds types the lab does not trust "
                       f"({', '.join(sorted(refused))}); {again}")
    try:
        model = sio.loads(data, trusted=sorted(untrusted))
    except Exception as exc:  # any failure to rebuild it means the file is not one the lab wrote
        raise LabError(f"the drift model file {path} cannot be read ({exc}): {again}") from exc
    if not isinstance(model, DriftModel):
        raise LabError(f"the drift model file {path} changed: it holds a {type(model).__name__}; {again}")
    return model
