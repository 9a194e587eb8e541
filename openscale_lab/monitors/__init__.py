"""Monitors: quality, fairness, drift, explainability and model health, with schedules."""
from .base import Measurement, MonitorNotEnabledError, Threshold
from .monitoring import Monitoring
from .scheduler import Scheduler

__all__ = ["Measurement", "MonitorNotEnabledError", "Monitoring", "Scheduler", "Threshold"]
