"""The quality monitor: the deployed model's area under ROC (and more) on logged feedback.

OpenScale's definition: quality is measured on feedback data (records with their true label) scored by
the deployed model; the default metric is area under ROC with a lower limit of 0.7, and a run needs a
minimum number of feedback records (the tutorial uses 50).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..datamart.window import WindowQuery
from ..errors import LabError
from .base import Evaluation, Monitor, NotEvaluated, check_window_settings
from .metrics import binary_quality
from .results import Details, Measurement, MonitorConfig, Threshold, axes, from_known

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes


@dataclass
class QualityConfig(MonitorConfig):
    threshold: float = 0.7
    min_records: int = 50
    positive_label: str = ""


@dataclass
class ConfusionMatrix:
    """Counts of the positive class (`tp`, `fn`) and of the other class (`fp`, `tn`)."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @property
    def sensitivity(self) -> float:
        """True positive rate: tp / (tp + fn)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def specificity(self) -> float:
        """True negative rate: tn / (tn + fp)."""
        return self.tn / (self.tn + self.fp) if self.tn + self.fp else float("nan")

    def plot(self, positive_label: str, ax: Axes | None = None) -> Axes:
        ax = axes(ax, (3.4, 3))
        grid = [[self.tp, self.fn], [self.fp, self.tn]]
        ax.imshow(grid, cmap="Blues")
        for i in range(2):
            for j in range(2):
                ax.text(j, i, grid[i][j], ha="center", va="center")
        ax.set_xticks([0, 1], [f"pred {positive_label}", "pred other"], fontsize=8)
        ax.set_yticks([0, 1], [f"true {positive_label}", "true other"], fontsize=8)
        ax.set_title("Confusion matrix", fontsize=10, loc="left")
        return ax


@dataclass
class QualityDetails(Details):
    title: ClassVar[str] = "Quality"
    confusion_matrix: ConfusionMatrix = field(default_factory=ConfusionMatrix)
    positive_label: str = ""
    labels: list[str] = field(default_factory=list)
    records: int = 0
    predicted_positive: int = 0
    actual_positive: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> QualityDetails:
        data = dict(data or {})
        data["confusion_matrix"] = from_known(ConfusionMatrix, data.get("confusion_matrix"))
        return super().from_dict(data)

    def summary(self) -> dict[str, Any]:
        cm = self.confusion_matrix
        return {"positive label": self.positive_label, "feedback records": self.records,
                "tp / fn / fp / tn": f"{cm.tp} / {cm.fn} / {cm.fp} / {cm.tn}"}

    def plot(self, measurement: Measurement, ax: Axes | None = None) -> Axes:
        """Quality metrics as bars against the area-under-ROC threshold, and the confusion matrix."""
        if ax is not None:
            return self.confusion_matrix.plot(self.positive_label, ax)
        import matplotlib.pyplot as plt

        fig, (bars, cm_ax) = plt.subplots(1, 2, figsize=(10, 3.5), gridspec_kw={"width_ratios": [2.2, 1]})
        without_log_loss = dataclasses.replace(
            measurement, metrics={k: v for k, v in measurement.metrics.items() if k != "log_loss"})
        super().plot(without_log_loss, bars)
        bars.set_ylim(0, 1)
        bars.set_title("Quality on feedback data")
        self.confusion_matrix.plot(self.positive_label, cm_ax)
        fig.tight_layout()
        return bars


class QualityMonitor(Monitor[QualityConfig, QualityDetails]):
    """`enable()` stores the configuration; `run()` scores the window's feedback and stores a measurement."""

    name = "quality"
    default_schedule_hours = 1.0
    config_type = QualityConfig
    details_type = QualityDetails
    data_description = "feedback records"

    def enable(self, *, threshold: float = 0.7, min_records: int = 50, positive_label: str | None = None,
               window_hours: float | None = None, schedule_hours: float | None = None,
               reach_back: bool = False) -> QualityConfig:
        """Alert when area_under_roc drops below `threshold`; needs `min_records` feedback records.

        The positive class defaults to the model's class 1 (the one Spark's areaUnderROC scores). With
        `reach_back`, a window holding fewer than `min_records` records uses the newest `min_records` instead
        (OpenScale's quality monitor reads the latest feedback records up to its sample size).
        """
        labels = self.ctx.labels
        positive = positive_label or labels[1]
        if positive not in labels:
            raise LabError(f"positive_label {positive!r} is not one of the model's labels {labels}")
        check_window_settings("quality", min_records, window_hours)
        config = QualityConfig(threshold=threshold, min_records=min_records, positive_label=positive,
                               window_hours=window_hours, reach_back=bool(reach_back))
        return self._store_config(config, schedule_hours)

    def thresholds(self, config: QualityConfig) -> list[Threshold]:
        return [Threshold("area_under_roc", "lower_limit", config.threshold)]

    def load(self, config: QualityConfig, start: datetime | None, end: datetime) -> pd.DataFrame:
        return self.ctx.labelled(start, end)

    def load_last(self, config: QualityConfig, records: int, end: datetime) -> tuple[pd.DataFrame, datetime | None]:
        data = self.ctx.labelled(None, end, last=records)
        return data, (data["timestamp"].min().to_pydatetime() if len(data) else None)

    def window(self, config: QualityConfig, start: datetime | None, end: datetime) -> WindowQuery:
        return self.ctx.feedback.window(start, end, source=self.ctx.source)

    def partial(self, config: QualityConfig, chunk: pd.DataFrame) -> QualityPart:
        """Per feedback record: whether its label is the positive class, the model's probability of that class
        and whether it predicts it (area under ROC needs every record's score)."""
        label_col = self.ctx.subscription.label_column
        pred, probs = self.ctx.scorer.predict_frame(chunk)
        pos = self.ctx.labels.index(config.positive_label)
        return QualityPart(truth=(chunk[label_col].to_numpy() == config.positive_label).astype(int),
                           score=probs[:, pos], predicted=(pred == pos).astype(int),
                           first_label=str(chunk[label_col].iloc[0]) if len(chunk) else "")

    def merge(self, a: QualityPart, b: QualityPart) -> QualityPart:
        return QualityPart(np.concatenate([a.truth, b.truth]), np.concatenate([a.score, b.score]),
                           np.concatenate([a.predicted, b.predicted]), a.first_label or b.first_label)

    def finish(self, config: QualityConfig, part: QualityPart, start: datetime | None,
               end: datetime) -> Evaluation[QualityDetails]:
        if not len(part.truth):
            raise NotEvaluated("no feedback records in the window")
        if part.truth.min() == part.truth.max():
            raise NotEvaluated(f"the feedback holds only one class ({part.first_label}); area under ROC needs both")
        metrics = binary_quality(part.truth, part.score, part.predicted)
        details = QualityDetails(confusion_matrix=ConfusionMatrix(**metrics.pop("confusion_matrix")),
                                 positive_label=config.positive_label, labels=list(self.ctx.labels),
                                 records=len(part.truth), predicted_positive=int(part.predicted.sum()),
                                 actual_positive=int(np.sum(part.truth)))
        return Evaluation(metrics, details, record_count=len(part.truth))

    def evaluate(self, config: QualityConfig, data: pd.DataFrame, start: datetime | None,
                 end: datetime) -> Evaluation[QualityDetails]:
        return self.finish(config, self.partial(config, data), start, end)


@dataclass
class QualityPart:
    """Part of a window of feedback: per record, truth (1: positive class), score and prediction (1: positive)."""

    truth: np.ndarray
    score: np.ndarray
    predicted: np.ndarray
    first_label: str = ""
