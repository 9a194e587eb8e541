"""The dashboard's current state as one standalone HTML file (charts embedded), for grading or CI."""
from __future__ import annotations

import base64
import html
from datetime import datetime
from pathlib import Path

from ..core.clock import utcnow
from ..workspace import Workspace
from . import charts
from .app import SERIES, table_html
from .data import FAIRNESS_VIEWS, InsightsData, fairness_rates

STYLE = """body{font-family:sans-serif;margin:2em;max-width:1100px}table.osl-table{border-collapse:collapse;
font-size:12px}.osl-table td,.osl-table th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}"""


def _img(fig: object, alt: str) -> str:
    data = base64.b64encode(charts.to_png(fig)).decode()  # type: ignore[arg-type]
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def write_report(workspace: Workspace, path: str | Path, hour: datetime | None = None) -> Path:
    """Write every monitored deployment's tiles, charts, alerts and one hour's details (default: the hour
    with the lowest fairness) to `path`; returns the path."""
    data = InsightsData(workspace)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>OpenScale Lab Insights report</title>"
             f"<style>{STYLE}</style></head><body><h1>OpenScale Lab Insights report</h1>"
             f"<p>Written {utcnow():%Y-%m-%d %H:%M} UTC from the data mart of {html.escape(str(workspace.root))}.</p>"]
    try:
        for tile in data.overview():
            sub_id = tile["subscription_id"]
            parts.append(f"<section class='deployment' data-subscription='{sub_id}'>"
                         f"<h2>{html.escape(tile['deployment_name'])}</h2><p>{html.escape(tile['model'])} — "
                         f"<span class='alert-count'>{tile['total_alerts']}</span> alerts</p>")
            for monitor, metrics, title in SERIES:
                series = data.series(sub_id, monitor)
                if series.empty:
                    continue
                metrics = metrics or [t["metric"] for t in data.thresholds(sub_id, monitor)]
                chosen = hour
                fig = charts.timeseries(series, metrics, data.thresholds(sub_id, monitor), data.alerts(sub_id, monitor),
                                        title, chosen)
                parts.append(_img(fig, title))
            alerts = data.alerts(sub_id)
            if not alerts.empty:
                summary = alerts.groupby(["monitor", "metric"]).size().reset_index(name="alerts")
                parts.append("<h3>Alerts</h3>" + table_html(summary))
            lowest = data.lowest_fairness_hour(sub_id)
            selected = hour or (lowest[0] if lowest else None)
            if selected is not None:
                parts.append(f"<h3>Hour ending {selected:%Y-%m-%d %H:%M}</h3>")
                fairness = data.at_hour(sub_id, "fairness", selected)
                if fairness and fairness.evaluated:
                    for view in FAIRNESS_VIEWS:
                        rates = fairness_rates(fairness.details, view, data.training_rates(sub_id))
                        parts.append(f"<h4>Fairness, {view} data</h4>" + table_html(rates))
                    parts.append(_img(charts.fairness_bars(
                        fairness_rates(fairness.details, "Payload", data.training_rates(sub_id)), "Payload"),
                        "fairness"))
                quality = data.at_hour(sub_id, "quality", selected)
                if quality and quality.evaluated:
                    parts.append(_img(charts.confusion(quality.details), "confusion matrix"))
                biased = data.transactions(sub_id, selected, biased_only=True)
                cols = [c for c in [*data.transaction_columns(sub_id), "feature"]
                        if c in biased.columns and c != "scoring_timestamp"]
                parts.append(f"<h4><span class='biased-count'>{len(biased)}</span> biased transactions</h4>"
                             + table_html(biased[cols]))
            parts.append("</section>")
    finally:
        data.close()
    parts.append("</body></html>")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(parts), encoding="utf-8")
    return target
