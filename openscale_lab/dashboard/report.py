"""The dashboard's current state as one standalone HTML file (charts embedded), for grading or CI."""
from __future__ import annotations

import base64
import html
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from ..core.clock import utcnow
from ..workspace import Workspace
from . import charts
from .app import DRIFT_VIEWS, table_html
from .data import FAIRNESS_VIEWS, InsightsData, alert_counts, fairness_rates, value_outcomes
from .panels import chart_inputs
from .tiles import MONITOR_NAMES, NO_DEPLOYMENT, application_tile, deployment_tile

STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px}table.osl-table{border-collapse:collapse;
font-size:12px}.osl-table td,.osl-table th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}
.osl-tile{display:inline-block;vertical-align:top;border:1px solid #ccc;padding:8px;margin:4px;width:440px}"""


def _img(fig: object, alt: str) -> str:
    data = base64.b64encode(charts.to_png(fig)).decode()  # type: ignore[arg-type]
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def _hour_section(data: InsightsData, sub_id: str, selected: datetime) -> list[str]:
    """One hour's details: fairness in every view with the outcomes per value, the confusion matrix, the
    transactions responsible for drift, and the biased transactions."""
    parts = [f"<h3>Hour ending {selected:%Y-%m-%d %H:%M}</h3>"]
    fairness = data.at_hour(sub_id, "fairness", selected)
    if fairness and fairness.evaluated:
        for view in FAIRNESS_VIEWS:
            rates = fairness_rates(fairness.details, view, data.training_rates(sub_id))
            parts.append(f"<h4>Fairness, {view} data</h4>" + table_html(rates))
        parts.append(_img(charts.fairness_bars(
            fairness_rates(fairness.details, "Payload", data.training_rates(sub_id)), "Payload"), "fairness"))
        for feature, found in fairness.details.features.items():
            parts.append(f"<h4 class='value-outcomes'>Outcomes per value of {html.escape(feature)}</h4>"
                         + _img(charts.value_outcomes(value_outcomes(found), feature), f"outcomes per {feature}"))
    elif fairness:
        parts.append(f"<p>Fairness: {html.escape(fairness.message)}</p>")
    quality = data.at_hour(sub_id, "quality", selected)
    if quality and quality.evaluated:
        parts.append(_img(charts.confusion(quality.details), "confusion matrix"))
    drift = data.at_hour(sub_id, "drift", selected)
    if drift and drift.evaluated:
        counts = pd.DataFrame([{"transactions responsible for": label,
                                "count": len(data.drift_transactions(sub_id, selected, view))}
                               for label, view in DRIFT_VIEWS.items()])
        parts.append(f"<h4>Drift run {drift.window_start:%Y-%m-%d %H:%M}–{drift.window_end:%H:%M}</h4>"
                     + table_html(counts))
    biased = data.transactions(sub_id, selected, biased_only=True)
    cols = [c for c in [*data.transaction_columns(sub_id), "feature"]
            if c in biased.columns and c != "scoring_timestamp"]
    parts.append(f"<h4><span class='biased-count'>{len(biased)}</span> biased transactions</h4>"
                 + table_html(biased[cols]))
    return parts


def write_report(workspace: Workspace, path: str | Path, hour: datetime | None = None) -> Path:
    """Write every monitored deployment's tiles, charts, alerts and one hour's details (default: the hour
    with the lowest fairness) to `path`; returns the path."""
    data = InsightsData(workspace)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>OpenScale Lab Insights report</title>"
             f"<style>{STYLE}</style></head><body><h1>OpenScale Lab Insights report</h1>"
             f"<p>Written {utcnow():%Y-%m-%d %H:%M} UTC from the data mart of {html.escape(str(workspace.root))}.</p>"]
    try:
        tiles = data.overview()
        if not tiles:
            parts.append(NO_DEPLOYMENT)
        for tile in tiles:
            sub_id = tile["subscription_id"]
            parts.append(f"<section class='deployment' data-subscription='{sub_id}'>"
                         f"<h2>{html.escape(tile['deployment_name'])}</h2><p>{html.escape(tile['model'])} — "
                         f"<span class='alert-count'>{tile['total_alerts']}</span> alerts</p>")
            parts.append(deployment_tile(tile))
            parts += [application_tile(app) for app in data.applications() if app["subscription_id"] == sub_id]
            lowest = data.lowest_fairness_hour(sub_id)
            selected = hour or (lowest[0] if lowest else None)
            hours = data.hours(sub_id)
            span = (hours[0] - timedelta(hours=1), hours[-1]) if hours else None
            redeployments = data.redeployments(sub_id)
            for spec, series, thresholds, alerts in chart_inputs(data, sub_id):
                if not series.empty:
                    parts.append(_img(charts.timeseries(series, spec, thresholds, alerts, selected, span,
                                                        redeployments), spec.title))
            alerts = data.alerts(sub_id)
            if not alerts.empty:
                by_monitor = alert_counts(alerts, "monitor")
                parts.append("<h3>Alerts per monitor</h3><ul class='alerts-by-monitor'>" + "".join(
                    f"<li>{html.escape(MONITOR_NAMES.get(m, m))}: <span class='monitor-alerts' "
                    f"data-monitor='{html.escape(m)}'>{n}</span></li>" for m, n in by_monitor.items()) + "</ul>")
                summary = alerts.groupby(["monitor", "metric"]).size().reset_index(name="alerts")
                parts.append(table_html(summary))
            if selected is not None:
                parts += _hour_section(data, sub_id, selected)
            parts.append("</section>")
    finally:
        data.close()
    parts.append("</body></html>")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(parts), encoding="utf-8")
    return target
