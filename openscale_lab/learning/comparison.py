"""Champion against challenger on the same held-out feedback: every quality metric, disparate impact per
monitored feature, and the two confusion matrices."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.fairness_groups import group_mask
from ..monitors.metrics import binary_quality, disparate_impact
from ..monitors.quality import ConfusionMatrix
from .settings import METRICS

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from ..models.scorer import CompiledPipeline


@dataclass
class Scored:
    """One model's results on the held-out feedback."""

    name: str
    version: str
    metrics: dict[str, float]
    confusion_matrix: ConfusionMatrix
    disparate_impact: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cm = self.confusion_matrix
        return {"version": self.version, "metrics": self.metrics, "disparate_impact": self.disparate_impact,
                "confusion_matrix": {"tp": cm.tp, "fp": cm.fp, "tn": cm.tn, "fn": cm.fn}}


def score_feedback(name: str, version: str, scorer: CompiledPipeline, data: pd.DataFrame, label_column: str,
                   positive_label: str, fairness: dict[str, Any] | None) -> Scored:
    """A model's quality on labelled records, as the quality monitor measures it (the positive class is the
    quality monitor's), and the disparate impact of its decisions for each feature the fairness monitor
    watches (favourable rate of the monitored group over the reference group's)."""
    labels = scorer.labels
    pred, probs = scorer.predict_frame(data)
    pos = labels.index(positive_label)
    y_true = (data[label_column].to_numpy() == positive_label).astype(int)
    metrics = binary_quality(y_true, probs[:, pos], (pred == pos).astype(int))
    cm = ConfusionMatrix(**metrics.pop("confusion_matrix"))
    impact = {}
    if fairness:
        decided = np.asarray(labels, dtype=object)[pred]
        favourable = np.isin(decided, fairness["favourable_classes"])
        for feature in fairness["features"]:
            mon = group_mask(data[feature["feature"]], feature["monitored"])
            ref = group_mask(data[feature["feature"]], feature["reference"])
            rates = [float(favourable[m].mean()) if m.any() else float("nan") for m in (mon, ref)]
            impact[feature["feature"]] = disparate_impact(*rates)
    return Scored(name, version, {k: float(v) for k, v in metrics.items()}, cm, impact)


@dataclass
class Comparison:
    """The champion and the challenger on the same held-out records, and what the decision compares."""

    champion: Scored
    challenger: Scored
    metric: str
    records: int
    positive_label: str

    @property
    def gain(self) -> float:
        """How much better the challenger is on the compared metric (negative: worse)."""
        return self.challenger.metrics[self.metric] - self.champion.metrics[self.metric]

    def metrics(self) -> pd.DataFrame:
        """Every quality metric (and disparate impact per feature) of both models, with the difference."""
        import pandas as pd

        rows = [{"metric": m, "champion": self.champion.metrics[m], "challenger": self.challenger.metrics[m]}
                for m in [*METRICS, "false_positive_rate", "log_loss"] if m in self.champion.metrics]
        rows += [{"metric": f"disparate_impact {f}", "champion": v, "challenger": self.challenger.disparate_impact[f]}
                 for f, v in self.champion.disparate_impact.items()]
        frame = pd.DataFrame(rows).set_index("metric")
        frame["difference"] = frame["challenger"] - frame["champion"]
        return frame

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "records": self.records, "gain": self.gain,
                "positive_label": self.positive_label,
                "champion": self.champion.to_dict(), "challenger": self.challenger.to_dict()}

    def plot(self, threshold: float | None = None) -> Axes:
        """Both models' metrics side by side, and their confusion matrices."""
        import matplotlib.pyplot as plt

        fig, (bars, left, right) = plt.subplots(1, 3, figsize=(12, 3.6), gridspec_kw={"width_ratios": [2.4, 1, 1]})
        frame = self.metrics().drop(index=["log_loss"], errors="ignore")
        x = np.arange(len(frame))
        for offset, who, color in [(-0.2, "champion", "#95a5a6"), (0.2, "challenger", "#2e86c1")]:
            bars.bar(x + offset, frame[who], width=0.4, color=color,
                     label=f"{who} v{getattr(self, who).version}")
        if threshold is not None:
            bars.axhline(threshold, color="#c0392b", ls="--", lw=1, label=f"threshold {threshold:g}")
        bars.set_xticks(x, frame.index, rotation=40, ha="right", fontsize=7)
        values = frame[["champion", "challenger"]].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]  # a disparate impact with no favourable reference outcome is infinite
        bars.set_ylim(0, max(1.05, float(finite.max()) * 1.05 if finite.size else 1.05))
        bars.set_ylabel("value on held-out feedback")
        bars.set_title(f"Champion vs challenger on {self.records} held-out feedback records", fontsize=10)
        bars.legend(fontsize=7)
        for ax, who in [(left, self.champion), (right, self.challenger)]:
            who.confusion_matrix.plot(self.positive_label, ax)
            ax.set_title(f"{who.name} v{who.version}", fontsize=9)
        fig.tight_layout()
        return bars
