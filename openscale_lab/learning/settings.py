"""The learning system's configuration, as Watson Machine Learning's continuous learning defined it.

WML's learning configuration (the `learning_configuration` of a published model) has a feedback data
reference, `min_feedback_data_size` (the fewest feedback records that start an iteration), `auto_retrain`
(never | always | conditionally: retrain when the model's quality on the feedback is below its threshold)
and `auto_redeploy` (never | always | conditionally: redeploy when the retrained model's quality is better
than the deployed one's). An iteration evaluates the deployed model on the feedback, retrains on the training
data and the feedback, and evaluates both. The lab adds the margin a challenger must win by and the share of
feedback held out for that comparison.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..datamart.database import LIVE
from ..datamart.tables import REPLAY_PREFIX
from ..errors import LearningError
from ..monitors.results import is_number
from ..tutorial import SPLIT_SEED

MODES = ("never", "conditionally", "always")
# what the challenger learns from: WML's iteration uses the training data and the feedback; after concept drift
# the old training rows describe a world that is gone, and the feedback alone describes the one there is now
TRAINING_DATA = ("training+feedback", "feedback")
SOURCES = {"live": LIVE, "story": REPLAY_PREFIX}  # the data mart's feedback: live, or the replayed week's
# quality metrics where higher is better: the ones a challenger can be compared on
METRICS = ("area_under_roc", "area_under_pr", "accuracy", "f1_measure", "precision", "recall", "true_positive_rate")


@dataclass(frozen=True)
class LearningConfig:
    """How the learning system retrains and redeploys one deployment's model (checked as it is made)."""

    source: str = "live"  # whose labelled feedback: "live" (the deployment's) or "story" (the replayed week's)
    min_feedback: int = 500  # WML's min_feedback_data_size: fewer records in the window, no iteration
    retrain: str = "conditionally"  # WML's auto_retrain
    redeploy: str = "conditionally"  # WML's auto_redeploy
    metric: str = "area_under_roc"  # compared between champion and challenger
    threshold: float = 0.7  # `retrain="conditionally"` retrains when the champion's metric is below it
    margin: float = 0.01  # `redeploy="conditionally"` deploys a challenger better by at least this much
    holdout: float = 0.25  # share of the window's feedback held out: both models are compared on it
    training_data: str = "training+feedback"  # or "feedback": the window's feedback only
    num_trees: int = 20  # the challenger's forest, as notebook 01 trains it
    max_depth: int = 5
    seed: int = SPLIT_SEED

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise LearningError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        for name in ("retrain", "redeploy"):
            if getattr(self, name) not in MODES:
                raise LearningError(f"{name} must be one of {', '.join(MODES)}, got {getattr(self, name)!r}")
        if self.training_data not in TRAINING_DATA:
            raise LearningError(f"training_data must be one of {', '.join(TRAINING_DATA)}, got {self.training_data!r}")
        if self.metric not in METRICS:
            raise LearningError(f"metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        for name, low, high in [("threshold", 0.0, 1.0), ("margin", 0.0, 1.0), ("holdout", 0.05, 0.9)]:
            value = getattr(self, name)
            if not (is_number(value) and low <= value <= high):
                raise LearningError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
        for name, low in [("min_feedback", 10), ("num_trees", 1), ("max_depth", 1), ("seed", 0)]:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise LearningError(f"{name} must be a whole number ≥ {low}, got {value!r}")

    @property
    def record_source(self) -> str:
        """The data mart's source marker of the feedback read (LIVE or the replay prefix)."""
        return SOURCES[self.source]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LearningConfig:
        """A stored configuration; settings this version does not know are named, not ignored."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LearningError(f"unknown learning setting(s) {', '.join(unknown)}; the settings are "
                                f"{', '.join(sorted(known))}")
        return cls(**data)
