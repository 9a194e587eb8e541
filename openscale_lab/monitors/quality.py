"""The quality monitor: the deployed model's area under ROC (and more) on logged feedback."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from .base import Measurement, MonitorContext, Threshold
from .feedback import FeedbackLog
from .metrics import binary_quality

NAME = "quality"


class QualityMonitor:
    """`enable()` stores the configuration; `run()` scores the feedback and stores a measurement."""

    def __init__(self, ctx: MonitorContext, feedback: FeedbackLog) -> None:
        self.ctx = ctx
        self.feedback = feedback

    def enable(self, threshold: float = 0.7, min_records: int = 50, positive_label: str | None = None,
               window_hours: float | None = None, schedule_hours: float | None = None) -> dict[str, Any]:
        """Alert when area_under_roc drops below `threshold`; needs `min_records` feedback records.

        The positive class defaults to the model's class 1 (the one Spark's areaUnderROC scores).
        """
        labels = self.ctx.labels
        positive = positive_label or labels[1]
        if positive not in labels:
            raise ValueError(f"positive_label {positive!r} is not one of the model's labels {labels}")
        config = {"threshold": threshold, "min_records": min_records, "positive_label": positive,
                  "window_hours": window_hours}
        self.ctx.store.save_config(self.ctx.subscription.subscription_id, NAME, config, schedule_hours)
        return config

    def run(self, start: datetime | None = None, end: datetime | None = None) -> Measurement:
        config = self.ctx.config(NAME)
        thresholds = [Threshold("area_under_roc", "lower_limit", config["threshold"])]
        start, end = self.ctx.window(start, end, config["window_hours"])
        data = self.feedback.read(start, end)
        if len(data) < config["min_records"]:
            return self.ctx.not_evaluated(NAME, start, end, len(data), config["min_records"], "feedback records",
                                          thresholds)
        pred, probs = self.ctx.scorer.predict_frame(data)
        pos = self.ctx.labels.index(config["positive_label"])
        label_col = self.ctx.subscription.label_column
        y_true = (data[label_col].to_numpy() == config["positive_label"]).astype(int)
        metrics = binary_quality(y_true, probs[:, pos], (pred == pos).astype(int))
        confusion = metrics.pop("confusion_matrix")
        details = {"confusion_matrix": confusion, "positive_label": config["positive_label"],
                   "labels": self.ctx.labels, "records": len(data),
                   "predicted_positive": int((pred == pos).sum()), "actual_positive": int(np.sum(y_true))}
        return self.ctx.store.save(Measurement(
            monitor=NAME, subscription_id=self.ctx.subscription.subscription_id, status="evaluated", message="",
            window_start=start, window_end=end, record_count=len(data), metrics=metrics, thresholds=thresholds,
            details=details))
