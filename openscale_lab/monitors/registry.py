"""The registry of monitors: `Monitoring` and the scheduler discover monitors here, in run order.

A new monitor is one file (a `Monitor` subclass) and one line below; see docs/adding-a-monitor.md.
"""
from __future__ import annotations

from .base import Monitor
from .business import BusinessKPIMonitor
from .custom import CustomDetails
from .drift import DriftMonitor
from .fairness import FairnessMonitor
from .health import ModelHealthMonitor
from .quality import QualityMonitor
from .results import Details, Measurement

MONITORS: dict[str, type[Monitor]] = {cls.name: cls for cls in [  # type: ignore[type-abstract]
    QualityMonitor,
    FairnessMonitor,
    DriftMonitor,
    ModelHealthMonitor,
    BusinessKPIMonitor,
]}


def details_type(monitor: str) -> type[Details]:
    """The typed details class of a monitor's measurements (any other name: a custom monitor's)."""
    cls = MONITORS.get(monitor)
    return cls.details_type if cls is not None else CustomDetails


def measurement_from_row(row: dict[str, object]) -> Measurement:
    """A stored measurement row (from `MonitorStore.measurements()`) as a `Measurement` with typed details."""
    return Measurement.from_row(row, details_type(str(row["monitor"])))
