"""The overview's tiles as HTML: one per deployment (each monitor's latest value beside its alerts) and one
per business application (the latest day's KPIs beside their limits and alerts). The dashboard and the
static report show the same tiles."""
from __future__ import annotations

import html
from typing import Any

from .data import HEADLINE, KPI_MONITOR, TILE_MONITORS
from .panels import LABELS, other_monitors

NEXT_STEP = ("run notebook 04 (<code>04_load_history.ipynb</code>), or <code>make lab</code> for every notebook, "
             "to replay a week of history")
NO_DEPLOYMENT = f"<p class='osl-empty'>No deployment is monitored yet: {NEXT_STEP}.</p>"
NO_HISTORY = f"<p class='osl-empty'>No measurement yet: {NEXT_STEP}.</p>"
MONITOR_NAMES = {"model_health": "model health", KPI_MONITOR: "business KPIs"}
TABLE = "style='border-collapse:collapse;font-size:13px;line-height:1.5'"
CELL = "style='padding:1px 8px 1px 0;vertical-align:top'"


def number(value: Any) -> str:
    """A value as a tile shows it: 14,559,595 or 179 for large or whole counts, 0.912 for ratios."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return html.escape(str(value))
    whole = isinstance(value, int) or (abs(value) >= 100 and float(value).is_integer())
    return f"{value:,.0f}" if whole or abs(value) >= 1000 else f"{value:.3f}"


def headline(monitor: str, metrics: dict[str, Any], thresholds: list[dict[str, Any]]) -> dict[str, float]:
    """The values a tile shows: fairness per feature, else the monitor's main metric (another monitor's first
    limited metrics, else its first two)."""
    main = HEADLINE.get(monitor)
    if main is None:
        limited = [t["metric"] for t in thresholds] or [k for k in metrics if k != "records"][:2]
        return {k: metrics[k] for k in limited if isinstance(metrics.get(k), (int, float))}
    return {main: metrics[main]} if main in metrics else {}


def alerts_html(count: int) -> str:
    """An alert count, red when there is any."""
    if not count:
        return "<span class='osl-alerts' data-alerts='0' style='color:#7f8c8d;white-space:nowrap'>no alerts</span>"
    return (f"<span class='osl-alerts' data-alerts='{count}' style='color:#c0392b;white-space:nowrap'>⚠ {count} "
            f"alert{'s' if count > 1 else ''}</span>")


def serving_html(tile: dict[str, Any]) -> str:
    """The model a deployment serves now, with its version (a redeployment or a rollback changes it)."""
    version = html.escape(str(tile.get("model_version", "")))
    return f"<p class='osl-serving' data-model-version='{version}'>Serving {html.escape(tile['model'])}</p>"


def deployment_tile(tile: dict[str, Any]) -> str:
    """A deployment: each monitor's latest value and its alert count, then the total."""
    rows = []
    for monitor in TILE_MONITORS + other_monitors(tile.get("monitors", [])) + (
            [KPI_MONITOR] if KPI_MONITOR in tile.get("monitors", []) else []):
        latest = tile["latest"].get(monitor)
        shown = (", ".join(f"{LABELS.get(k, k)} {number(v)}" for k, v in headline(monitor, latest["metrics"],
                                                                                latest["thresholds"]).items())
                 if latest else "no measurement yet")
        rows.append(f"<tr class='osl-monitor' data-monitor='{html.escape(monitor)}'>"
                    f"<td {CELL}><b style='white-space:nowrap'>{html.escape(MONITOR_NAMES.get(monitor, monitor))}</b>"
                    f"</td><td {CELL}>{html.escape(shown)}</td>"
                    f"<td {CELL}>{alerts_html(tile['alerts'].get(monitor, 0))}</td></tr>")
    note = NO_HISTORY if not tile["latest"] else ""
    return (f"<div class='osl-tile'><h3>{html.escape(tile['deployment_name'])}</h3>"
            f"{serving_html(tile)}<table class='osl-monitors' {TABLE}>{''.join(rows)}</table>"
            f"<p><b>alerts</b>: <span class='osl-total-alerts'>{tile['total_alerts']}</span> in all</p>{note}</div>")


def application_tile(app: dict[str, Any]) -> str:
    """A business application: the latest day's KPI values, their limits and their alert counts."""
    rows = []
    for kpi, limits in app["limits"].items():
        said = [f"≥ {number(limits['lower_limit'])}" if limits.get("lower_limit") is not None else "",
                f"≤ {number(limits['upper_limit'])}" if limits.get("upper_limit") is not None else ""]
        value = app["values"].get(kpi)
        rows.append(f"<tr class='osl-kpi' data-kpi='{html.escape(kpi)}'><td {CELL}><b>{html.escape(kpi)}</b></td>"
                    f"<td {CELL} class='osl-kpi-value'>{number(value) if value is not None else '—'}</td>"
                    f"<td {CELL}>limit {html.escape(' and '.join(s for s in said if s) or 'none')}</td>"
                    f"<td {CELL}>{alerts_html(app['alerts'].get(kpi, 0))}</td></tr>")
    day = (f"<p>Latest day: <b class='osl-kpi-day'>{app['day']:%Y-%m-%d}</b></p>" if app["day"] is not None
           else "<p>No KPI measured yet.</p>")
    return (f"<div class='osl-tile osl-app-tile'><h3>{html.escape(app['application'])}</h3>"
            f"<p>Business application — KPIs per day of {html.escape(app['deployment_name'])}</p>{day}"
            f"<table class='osl-kpis' {TABLE}>{''.join(rows)}</table></div>")
