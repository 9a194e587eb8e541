"""Continuous learning: retrain the deployed model on labelled feedback, compare, redeploy in place."""
from .comparison import Comparison
from .plots import plot_quality_recovery
from .scheduler import LearningScheduler
from .settings import LearningConfig
from .system import LearningRun, LearningSystem

__all__ = ["Comparison", "LearningConfig", "LearningRun", "LearningScheduler", "LearningSystem",
           "plot_quality_recovery"]
