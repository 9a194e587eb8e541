"""The drift monitor: predicted drop in accuracy (a drift detection model), output drift and feature drift."""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from .base import Measurement, MonitorContext, Threshold
from .metrics import category_counts, histogram, jensen_shannon_distance, total_variation_distance

if TYPE_CHECKING:
    import pandas as pd

NAME = "drift"
MODEL_FILE = "drift_model.pkl"
PROBABILITY_EDGES = np.linspace(0.0, 1.0, 11)


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


class DriftMonitor:
    """`enable()` trains the drift detection model on the training data (seconds); `run()` measures drift."""

    def __init__(self, ctx: MonitorContext) -> None:
        self.ctx = ctx

    @property
    def model_path(self) -> Any:
        return self.ctx.folder / MODEL_FILE

    def enable(self, threshold: float = 0.05, min_records: int = 100, window_hours: float | None = 3.0,
               schedule_hours: float | None = None, favourable_class: str | None = None,
               seed: int = 0) -> dict[str, Any]:
        """Alert when the predicted accuracy falls more than `threshold` below the base accuracy."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        sub = self.ctx.subscription
        data = self.ctx.training_data
        columns = [c["name"] for c in sub.input_schema]
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
        config = {"threshold": threshold, "min_records": min_records, "window_hours": window_hours,
                  "base_accuracy": model.base_accuracy, "model_path": str(self.model_path),
                  "training_records": len(data), "favourable_class": self.ctx.labels[fav]}
        self.ctx.store.save_config(sub.subscription_id, NAME, config, schedule_hours)
        return config

    def load_model(self) -> DriftModel:
        with self.model_path.open("rb") as f:
            model: DriftModel = pickle.load(f)
        return model

    def run(self, start: datetime | None = None, end: datetime | None = None, top: int = 10) -> Measurement:
        config = self.ctx.config(NAME)
        thresholds = [Threshold("drift_magnitude", "upper_limit", config["threshold"])]
        start, end = self.ctx.window(start, end, config["window_hours"])
        payload = self.ctx.payload(start, end)
        if len(payload) < config["min_records"]:
            return self.ctx.not_evaluated(NAME, start, end, len(payload), config["min_records"],
                                          "payload records", thresholds)
        model = self.load_model()
        p_correct = model.p_correct(payload)
        predicted_accuracy = float(p_correct.mean())
        probs = np.array(payload["probability"].tolist(), dtype=float)
        output = histogram(probs[:, model.favourable_index], PROBABILITY_EDGES)
        features = {}
        for col in model.columns:
            now = model.feature_counts(payload, col)
            before = model.training_counts[col]
            features[col] = {"jensen_shannon": jensen_shannon_distance(before, now),
                             "total_variation": total_variation_distance(before, now)}
        ranked = sorted(features, key=lambda c: features[c]["jensen_shannon"], reverse=True)
        suspicious = np.argsort(p_correct)[:top]
        drivers = [{"scoring_id": payload["scoring_id"].iloc[i], "p_correct": float(p_correct[i])}
                   for i in suspicious if p_correct[i] < 0.5]
        metrics = {"drift_magnitude": model.base_accuracy - predicted_accuracy,
                   "predicted_accuracy": predicted_accuracy, "base_accuracy": model.base_accuracy,
                   "output_drift": total_variation_distance(model.training_output_counts, output),
                   "records_predicted_wrong": float((p_correct < 0.5).sum())}
        details = {"feature_drift": features, "features_driving_drift": ranked[:5],
                   "transactions_driving_drift": drivers}
        return self.ctx.store.save(Measurement(
            monitor=NAME, subscription_id=self.ctx.subscription.subscription_id, status="evaluated", message="",
            window_start=start, window_end=end, record_count=len(payload), metrics=metrics,
            thresholds=thresholds, details=details))
