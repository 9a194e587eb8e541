"""Monitors: one contract (`Monitor`), the registered monitors, custom monitors, business KPIs, the
explanation service and the scheduler.

Reading order: `results` (measurements, thresholds, typed details) → `base` (the contract and the data
mart store) → one file per monitor → `registry` → `monitoring` (a subscription's monitors) → `scheduler`.
"""
from ..datamart.feedback import FeedbackError, FeedbackLog
from .base import Evaluation, Monitor, MonitorContext, MonitorNotEnabledError, MonitorStore, NotEvaluated
from .business import BusinessApplication, BusinessApplications, BusinessError, BusinessKPIMonitor
from .custom import CustomMonitor, CustomMonitorDefinition, CustomMonitorError, CustomMonitors
from .drift import DriftMonitor
from .explain import ExplanationService, UnknownTransactionError, plot_lime
from .fairness import FairnessMonitor
from .health import ModelHealthMonitor, plot_hourly
from .monitoring import Monitoring
from .quality import QualityMonitor
from .registry import MONITORS, measurement_from_row
from .results import Details, Measurement, MonitorConfig, Threshold
from .scheduler import Scheduler

__all__ = [
    "MONITORS", "BusinessApplication", "BusinessApplications", "BusinessError", "BusinessKPIMonitor",
    "CustomMonitor", "CustomMonitorDefinition", "CustomMonitorError", "CustomMonitors", "Details", "DriftMonitor",
    "Evaluation", "ExplanationService", "FairnessMonitor", "FeedbackError", "FeedbackLog", "Measurement",
    "ModelHealthMonitor", "Monitor", "MonitorConfig", "MonitorContext", "MonitorNotEnabledError", "MonitorStore",
    "Monitoring", "NotEvaluated", "QualityMonitor", "Scheduler", "Threshold", "UnknownTransactionError",
    "measurement_from_row", "plot_hourly", "plot_lime",
]
