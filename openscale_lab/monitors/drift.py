"""The drift monitor: predicted drop in accuracy (a drift detection model), output drift and feature drift.

OpenScale's definition of drift followed here: a drift detection model, trained on the training data and the
deployed model's outcomes, predicts for each payload record whether the model scores it correctly; the drop
in accuracy is the base accuracy minus the predicted accuracy of the window (upper limit 0.05), and the
records predicted wrong are the transactions driving drift.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .base import Evaluation, Monitor
from .metrics import category_counts, histogram, jensen_shannon_distance, total_variation_distance
from .results import Details, Measurement, MonitorConfig, Threshold, axes, from_known

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

MODEL_FILE = "drift_model.pkl"
PROBABILITY_EDGES = np.linspace(0.0, 1.0, 11)
TRANSACTIONS_SHOWN = 10  # the records most likely scored wrong, listed as driving drift


@dataclass
class DriftModel:
    """Predicts, from a record's features, whether the deployed model scores it correctly."""

    classifier: Any
    columns: list[str]
    categorical: list[str]
    categories: dict[str, list[Any]]
    numeric_edges: dict[str, list[float]]
    training_counts: dict[str, list[float]]
    training_output_counts: list[float]
    base_accuracy: float
    favourable_index: int

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Categories as codes (unseen: NaN), numbers as they are."""
        out = np.empty((len(frame), len(self.columns)))
        for j, col in enumerate(self.columns):
            if col in self.categories:
                index = {c: i for i, c in enumerate(self.categories[col])}
                out[:, j] = frame[col].map(index).to_numpy(dtype=float, na_value=np.nan)
            else:
                out[:, j] = frame[col].to_numpy(dtype=float)
        return out

    def p_correct(self, frame: pd.DataFrame) -> np.ndarray:
        return self.classifier.predict_proba(self.encode(frame))[:, 1]

    def feature_counts(self, frame: pd.DataFrame, col: str) -> np.ndarray:
        if col in self.categories:
            return category_counts(frame[col], self.categories[col])
        return histogram(frame[col].to_numpy(dtype=float), np.asarray(self.numeric_edges[col]))


@dataclass
class DriftConfig(MonitorConfig):
    threshold: float = 0.05
    min_records: int = 100
    window_hours: float | None = 3.0
    base_accuracy: float = float("nan")
    model_path: str = ""
    training_records: int = 0
    favourable_class: str = ""


@dataclass
class FeatureDrift:
    """How far one feature's payload distribution is from the training data's (0: same, 1: disjoint)."""

    jensen_shannon: float = 0.0
    total_variation: float = 0.0


@dataclass
class DriftingTransaction:
    """A payload record the drift detection model expects the deployed model to score wrong."""

    scoring_id: str = ""
    p_correct: float = float("nan")


@dataclass
class DriftDetails(Details):
    title: ClassVar[str] = "Drift"
    feature_drift: dict[str, FeatureDrift] = field(default_factory=dict)
    features_driving_drift: list[str] = field(default_factory=list)
    transactions_driving_drift: list[DriftingTransaction] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DriftDetails:
        data = dict(data or {})
        data["feature_drift"] = {f: from_known(FeatureDrift, d) for f, d in data.get("feature_drift", {}).items()}
        data["transactions_driving_drift"] = [from_known(DriftingTransaction, t)
                                              for t in data.get("transactions_driving_drift", [])]
        return super().from_dict(data)

    def summary(self) -> dict[str, Any]:
        return {"features driving drift": ", ".join(self.features_driving_drift),
                "transactions driving drift": len(self.transactions_driving_drift)}

    def plot(self, measurement: Measurement, ax: Axes | None = None, top: int = 10) -> Axes:
        """Jensen-Shannon distance of each feature's payload distribution from the training data."""
        ax = axes(ax, (7, 3.5))
        names = sorted(self.feature_drift, key=lambda f: self.feature_drift[f].jensen_shannon)[-top:]
        ax.barh(names, [self.feature_drift[f].jensen_shannon for f in names], color="#8e44ad")
        ax.set_xlabel("Jensen-Shannon distance to training data")
        magnitude = measurement.metrics.get("drift_magnitude", float("nan"))
        ax.set_title(f"Feature drift (drop in accuracy {magnitude:.3f})")
        return ax


class DriftMonitor(Monitor[DriftConfig, DriftDetails]):
    """`enable()` trains the drift detection model on the training data (seconds); `run()` measures drift."""

    name = "drift"
    default_schedule_hours = 3.0
    config_type = DriftConfig
    details_type = DriftDetails

    @property
    def model_path(self) -> Any:
        return self.ctx.folder / MODEL_FILE

    def enable(self, *, threshold: float = 0.05, min_records: int = 100, window_hours: float | None = 3.0,
               schedule_hours: float | None = None, favourable_class: str | None = None,
               seed: int = 0) -> DriftConfig:
        """Alert when the predicted accuracy falls more than `threshold` below the base accuracy."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        sub = self.ctx.subscription
        data = self.ctx.training_data
        columns = self.ctx.input_columns
        categorical = [c["name"] for c in sub.input_schema if c["type"] == "string"]
        pred, probs = self.ctx.scorer.predict_frame(data)
        labels = np.asarray(self.ctx.labels, dtype=object)
        correct = (labels[pred] == data[sub.label_column].to_numpy(dtype=object)).astype(int)
        categories = {c: sorted(data[c].dropna().unique().tolist()) for c in categorical}
        edges = {}
        for c in columns:
            if c not in categories:
                qs = np.unique(np.quantile(data[c].to_numpy(dtype=float), np.linspace(0, 1, 11)))
                edges[c] = qs.tolist() if len(qs) > 1 else [float(qs[0]) - 0.5, float(qs[0]) + 0.5]
        fav = self.ctx.labels.index(favourable_class) if favourable_class else 0
        model = DriftModel(classifier=None, columns=columns, categorical=categorical, categories=categories,
                           numeric_edges=edges, training_counts={}, training_output_counts=[],
                           base_accuracy=float(correct.mean()), favourable_index=fav)
        model.classifier = HistGradientBoostingClassifier(
            categorical_features=[c in categories for c in columns], max_iter=150, learning_rate=0.08,
            random_state=seed).fit(model.encode(data), correct)
        model.training_counts = {c: model.feature_counts(data, c).tolist() for c in columns}
        model.training_output_counts = histogram(probs[:, fav], PROBABILITY_EDGES).tolist()
        with self.model_path.open("wb") as f:
            pickle.dump(model, f)
        config = DriftConfig(threshold=threshold, min_records=min_records, window_hours=window_hours,
                             base_accuracy=model.base_accuracy, model_path=str(self.model_path),
                             training_records=len(data), favourable_class=self.ctx.labels[fav])
        return self._store_config(config, schedule_hours)

    def load_model(self) -> DriftModel:
        with self.model_path.open("rb") as f:
            model: DriftModel = pickle.load(f)
        return model

    def thresholds(self, config: DriftConfig) -> list[Threshold]:
        return [Threshold("drift_magnitude", "upper_limit", config.threshold)]

    def evaluate(self, config: DriftConfig, data: pd.DataFrame, start: datetime | None,
                 end: datetime) -> Evaluation[DriftDetails]:
        model = self.load_model()
        p_correct = model.p_correct(data)
        predicted_accuracy = float(p_correct.mean())
        probs = np.array(data["probability"].tolist(), dtype=float)
        output = histogram(probs[:, model.favourable_index], PROBABILITY_EDGES)
        features = {}
        for col in model.columns:
            now = model.feature_counts(data, col)
            before = model.training_counts[col]
            features[col] = FeatureDrift(jensen_shannon=jensen_shannon_distance(before, now),
                                         total_variation=total_variation_distance(before, now))
        ranked = sorted(features, key=lambda c: features[c].jensen_shannon, reverse=True)
        suspicious = np.argsort(p_correct)[:TRANSACTIONS_SHOWN]
        drivers = [DriftingTransaction(str(data["scoring_id"].iloc[i]), float(p_correct[i]))
                   for i in suspicious if p_correct[i] < 0.5]
        metrics = {"drift_magnitude": model.base_accuracy - predicted_accuracy,
                   "predicted_accuracy": predicted_accuracy, "base_accuracy": model.base_accuracy,
                   "output_drift": total_variation_distance(model.training_output_counts, output),
                   "records_predicted_wrong": float((p_correct < 0.5).sum())}
        details = DriftDetails(feature_drift=features, features_driving_drift=ranked[:5],
                               transactions_driving_drift=drivers)
        return Evaluation(metrics, details)
