"""Which metrics each time chart of a deployment shows, and the unit of each of its axes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .data import KPI_MONITOR, TILE_MONITORS

if TYPE_CHECKING:
    import pandas as pd

    from .data import InsightsData


@dataclass(frozen=True)
class Panel:
    """One axis of a chart: its metrics (empty: the metrics the monitor's thresholds limit) and its unit."""

    metrics: tuple[str, ...]
    unit: str


@dataclass(frozen=True)
class ChartSpec:
    """One chart: a monitor's panels over time, one axis each; `daily` charts draw a bar per day."""

    monitor: str
    title: str
    panels: tuple[Panel, ...]
    daily: bool = False


SERIES = [
    ChartSpec("fairness", "Fairness", (Panel((), "disparate impact (ratio)"),)),
    ChartSpec("quality", "Quality", (Panel(("area_under_roc",), "area under ROC (AUC)"),)),
    ChartSpec("drift", "Drift", (
        Panel(("drift_magnitude",), "drop in accuracy"),
        Panel(("data_drift_magnitude",), "share of transactions\ninconsistent"),
        Panel(("output_drift", "feature_drift"), "distance beyond\nchance (TV)"))),
    ChartSpec("model_health", "Model health", (Panel(("response_time_avg_ms", "response_time_p95_ms"),
                                                     "response time (ms)"),)),
]
# what a legend calls a metric, where its name alone says little
LABELS = {"drift_magnitude": "drop in accuracy", "data_drift_magnitude": "drop in data consistency",
          "output_drift": "output drift", "feature_drift": "feature drift",
          "response_time_avg_ms": "mean response time", "response_time_p95_ms": "95th percentile",
          "area_under_roc": "area under ROC"}


def kpi_spec(units: dict[str, str], application: str) -> ChartSpec:
    """A business application's KPIs per day (`units`: each KPI's unit, see `data.kpi_units`), each on its own
    axis: their scales differ by orders of magnitude."""
    return ChartSpec(KPI_MONITOR, f"Business KPIs — {application}",
                     tuple(Panel((kpi,), unit) for kpi, unit in units.items()), daily=True)


def other_spec(monitor: str, metrics: list[str]) -> ChartSpec:
    """A monitor the dashboard knows nothing about (a custom monitor): its metrics on one axis."""
    return ChartSpec(monitor, monitor.replace("_", " ").capitalize(), (Panel(tuple(metrics), "value"),))


def other_monitors(monitors: list[str]) -> list[str]:
    """Monitors beyond the tile's four and the business KPIs, in the order given."""
    return [m for m in monitors if m not in TILE_MONITORS and m != KPI_MONITOR]


# a chart and what it draws: the series (not-evaluated measurements included), thresholds and alerts
ChartInput = tuple[ChartSpec, "pd.DataFrame", list[dict[str, Any]], "pd.DataFrame"]


def chart_inputs(data: InsightsData, subscription_id: str) -> list[ChartInput]:
    """Every time chart of a deployment, with what it draws: the four monitors of the tiles, each business
    application's KPIs, then any other monitor."""
    done = data.measurements(subscription_id)
    monitors = list(dict.fromkeys(done["monitor"])) if not done.empty else []
    specs = [s for s in SERIES if s.monitor in monitors]
    apps = [a for a in data.applications() if a["subscription_id"] == subscription_id]
    if KPI_MONITOR in monitors:
        specs += [kpi_spec(a["units"], a["application"]) for a in apps]
    unknown = other_monitors(monitors) + ([KPI_MONITOR] if KPI_MONITOR in monitors and not apps else [])
    for monitor in unknown:  # a KPI monitor whose application is gone: its KPIs on one axis
        last = done[done["monitor"] == monitor]["metrics"].iloc[-1]
        specs.append(other_spec(monitor, [k for k, v in last.items() if isinstance(v, (int, float))]))
    sub = subscription_id
    return [(s, data.series(sub, s.monitor, not_evaluated=True), data.thresholds(sub, s.monitor),
             data.alerts(sub, s.monitor)) for s in specs]
