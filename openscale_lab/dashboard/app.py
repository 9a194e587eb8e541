"""The Insights dashboard as ipywidgets: overview → deployment → hour → transactions → explanation."""
from __future__ import annotations

import html
from datetime import datetime, timedelta
from typing import Any

import ipywidgets as w
import pandas as pd
from matplotlib.figure import Figure

from ..workspace import Workspace
from . import charts
from .data import FAIRNESS_VIEWS, HEADLINE, TILE_MONITORS, InsightsData, fairness_rates

SERIES = [("fairness", None, "Fairness (disparate impact)"), ("quality", ["area_under_roc"], "Quality"),
          ("drift", ["drift_magnitude", "data_drift_magnitude", "output_drift", "feature_drift"], "Drift"),
          ("model_health", ["response_time_avg_ms", "response_time_p95_ms"], "Model health (ms)")]


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else html.escape(str(value))


def table_html(frame: pd.DataFrame, max_rows: int = 50) -> str:
    """A plain HTML table (escaped), for widgets and the report."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>"
                   for row in frame.head(max_rows).itertuples(index=False))
    more = f"<p>… {len(frame) - max_rows} more</p>" if len(frame) > max_rows else ""
    return f"<table class='osl-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def picture(fig: Figure) -> w.Image:
    """A chart as an image widget. The dashboard sets widgets' values rather than capturing displayed output
    in Output widgets: a headless notebook runner then never has to send output state back to the kernel."""
    width = f"{round(fig.get_figwidth() * charts.DPI)}px"  # its own size, not stretched to the page
    return w.Image(value=charts.to_png(fig), format="png", layout=w.Layout(width=width, max_width="100%"))


def headline(monitor: str, metrics: dict[str, Any], thresholds: list[dict[str, Any]]) -> dict[str, float]:
    """The values a tile shows: fairness per feature, else the monitor's main metric."""
    main = HEADLINE.get(monitor)
    if main is None:
        limited = [t["metric"] for t in thresholds]  # fairness: one value per monitored feature
        return {k: metrics[k] for k in limited if isinstance(metrics.get(k), (int, float))}
    return {main: metrics[main]} if main in metrics else {}


class InsightsDashboard:
    """Build with a workspace and display `.widget`; each step is also a method, for notebooks and tests."""

    def __init__(self, workspace: Workspace) -> None:
        self.data = InsightsData(workspace)
        self.subscription_id: str | None = None
        self.hour: datetime | None = None
        self.rates: pd.DataFrame | None = None
        self.shown_transactions: pd.DataFrame | None = None
        self.last_explanation: dict[str, Any] | None = None
        self.tiles = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.header = w.HTML()
        self.hour_picker = w.Dropdown(description="Hour", options=[], layout=w.Layout(width="320px"))
        self.charts = w.VBox()
        self.hour_summary = w.HTML()
        self.view = w.ToggleButtons(options=list(FAIRNESS_VIEWS), description="Fairness on")
        self.details = w.VBox()
        self.tx_kind = w.ToggleButtons(options=["All transactions", "Biased transactions"], value="All transactions")
        self.tx_table = w.HTML()
        self.tx_pick = w.Dropdown(description="Transaction", options=[], layout=w.Layout(width="420px"))
        self.tx_id = w.Text(description="or id", placeholder="a transaction id", layout=w.Layout(width="420px"))
        self.explain_button = w.Button(description="Explain", button_style="primary", icon="search")
        self.explanation = w.VBox()
        self.status = w.HTML()
        self.deployment_box = w.VBox([
            self.header, self.hour_picker, self.charts, w.HTML("<h3>Details of the selected hour</h3>"),
            self.hour_summary, self.view, self.details, w.HTML("<h3>View transactions</h3>"), self.tx_kind,
            self.tx_table, w.HTML("<h3>Explain a transaction</h3>"), w.HBox([self.tx_pick, self.explain_button]),
            self.tx_id, self.explanation], layout=w.Layout(display="none"))
        self.widget = w.VBox([w.HTML("<h2>Insights</h2>"), self.tiles, self.status, self.deployment_box])
        self._quiet = False
        self.hour_picker.observe(lambda change: None if self._quiet else self.select_hour(change["new"]),
                                 names="value")
        self.view.observe(lambda change: self._draw_details(), names="value")
        self.tx_kind.observe(lambda change: self.show_transactions(change["new"] == "Biased transactions"),
                             names="value")
        self.explain_button.on_click(lambda _: self.explain(self.tx_id.value.strip() or self.tx_pick.value))
        self.refresh()

    # -- overview -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw the overview tiles from the data mart."""
        tiles = []
        for tile in self.data.overview():
            lines = []
            for monitor in TILE_MONITORS:
                latest = tile["latest"].get(monitor)
                if latest:
                    shown = ", ".join(f"{k} {v:.3f}" for k, v in headline(monitor, latest["metrics"],
                                                                                latest["thresholds"]).items())
                    lines.append(f"<b>{monitor}</b>: {html.escape(shown)}")
                else:
                    lines.append(f"<b>{monitor}</b>: no measurement yet")
            lines.append(f"<b>alerts</b>: {tile['total_alerts']}")
            card = w.HTML(f"<div class='osl-tile'><h3>{html.escape(tile['deployment_name'])}</h3>"
                          f"<p>{html.escape(tile['model'])}</p><p>{'<br>'.join(lines)}</p></div>")
            button = w.Button(description=f"Open {tile['deployment_name']}"[:60], tooltip=tile["subscription_id"],
                              layout=w.Layout(width="auto"))
            button.on_click(lambda _, s=tile["subscription_id"]: self.open_deployment(s))
            tiles.append(w.VBox([card, button], layout=w.Layout(border="1px solid #ccc", padding="8px",
                                                                margin="4px", width="420px")))
        self.tiles.children = tiles or [w.HTML("No deployment is monitored yet: run notebooks 01 and 02.")]

    # -- deployment ---------------------------------------------------------------------------
    def open_deployment(self, subscription_id: str) -> None:
        self.subscription_id = subscription_id
        sub = self.data.subscription(subscription_id)
        self.header.value = (f"<h2 class='osl-deployment'>{html.escape(sub.deployment_name)}</h2>"
                             f"<p>{html.escape(sub.model_name)} v{html.escape(sub.model_version)} — "
                             f"subscription {sub.subscription_id}</p>")
        hours = self.data.hours(subscription_id)
        self.deployment_box.layout.display = "flex"
        self._quiet = True
        self.hour_picker.options = [(f"{h - timedelta(hours=1):%Y-%m-%d %H:00}–{h:%H:00}", h) for h in hours]
        self.hour_picker.value = hours[-1] if hours else None
        self._quiet = False
        if hours:
            self.select_hour(hours[-1])
        else:
            self._draw_charts()

    def _draw_charts(self) -> None:
        sub_id = self.subscription_id
        shown = []
        for monitor, metrics, title in SERIES + self._extra_series():
            series = self.data.series(sub_id, monitor)
            if series.empty:
                continue
            metrics = metrics or [t["metric"] for t in self.data.thresholds(sub_id, monitor)]
            shown.append(picture(charts.timeseries(series, metrics, self.data.thresholds(sub_id, monitor),
                                                   self.data.alerts(sub_id, monitor), title, self.hour)))
        self.charts.children = shown

    def _extra_series(self) -> list[tuple[str, list[str] | None, str]]:
        done = self.data.measurements(self.subscription_id)
        if done.empty:
            return []
        others = sorted(set(done["monitor"]) - set(TILE_MONITORS))
        return [(m, list(done[done["monitor"] == m]["metrics"].iloc[-1]), m.replace("_", " ").capitalize())
                for m in others]

    def select_hour(self, hour: datetime | None) -> None:
        """Show the deployment's charts with `hour` marked, and that hour's details and transactions."""
        if hour is None:
            return
        self.hour = hour
        self._draw_charts()
        self._draw_details()
        self.show_transactions(self.tx_kind.value == "Biased transactions")

    def _draw_details(self) -> None:
        if self.subscription_id is None or self.hour is None:
            return
        sub_id, hour = self.subscription_id, self.hour
        fairness = self.data.at_hour(sub_id, "fairness", hour)
        quality = self.data.at_hour(sub_id, "quality", hour)
        drift = self.data.at_hour(sub_id, "drift", hour)
        parts = [f"<p>Hour ending <b>{hour:%Y-%m-%d %H:%M}</b>.</p>"]
        pictures = []
        if fairness and fairness.evaluated:
            self.rates = fairness_rates(fairness.details, self.view.value, self.data.training_rates(sub_id))
            for r in self.rates.itertuples():
                verb = "less" if r[4] < r[5] else "more"
                parts.append(f"<p class='osl-fairness'>For {r.feature}, {html.escape(r[2])} got the favourable "
                             f"outcome {verb} often than {html.escape(r[3])}: {r[4]:.0%} vs {r[5]:.0%} "
                             f"({self.view.value.lower()} data).</p>")
            pictures.append(picture(charts.fairness_bars(self.rates, self.view.value)))
        else:
            self.rates = None
            parts.append(f"<p>Fairness: {html.escape(fairness.message) if fairness else 'no run this hour'}"
                         "</p>")
        if quality and quality.evaluated:
            parts.append(f"<p>Quality: area under ROC {quality.metrics['area_under_roc']:.3f} on "
                         f"{quality.record_count} feedback records.</p>")
            pictures.append(picture(charts.confusion(quality.details)))
        if drift and drift.evaluated:
            d = drift.details
            m = drift.metrics
            shown = [t.scoring_id for t in d.transactions_driving_drift]
            features = ", ".join(d.features_driving_drift[:3]) or "none beyond chance"
            parts.append(f"<p>Drift: drop in accuracy {m['drift_magnitude']:.3f}; "
                         f"{m.get('data_drift_magnitude', 0.0):.1%} of transactions inconsistent with the "
                         f"training data; features driving it: {html.escape(features)}; transactions responsible"
                         f"{': ' + html.escape(', '.join(shown[:5])) if shown else ': none'}.</p>")
            pictures.append(picture(charts.drift_features(drift)))
        self.details.children = pictures
        self.hour_summary.value = "".join(parts)

    # -- transactions and explanations --------------------------------------------------------
    def show_transactions(self, biased_only: bool = False) -> pd.DataFrame:
        """List the selected hour's transactions (all, or the biased ones) and offer them for explaining."""
        if self.subscription_id is None or self.hour is None:
            return pd.DataFrame()
        wanted = "Biased transactions" if biased_only else "All transactions"
        if self.tx_kind.value != wanted:
            self.tx_kind.value = wanted  # its observer comes back here
            return self.shown_transactions
        frame = self.data.transactions(self.subscription_id, self.hour, biased_only)
        self.shown_transactions = frame
        shown = self.data.transaction_columns(self.subscription_id) + (["feature"] if biased_only else [])
        columns = [c for c in shown if c in frame.columns]
        label = "biased transactions" if biased_only else "transactions"
        self.tx_table.value = f"<p class='osl-count'>{len(frame)} {label} in this hour</p>" + table_html(
            frame[columns])
        ids = list(frame["scoring_id"].head(200))
        self.tx_pick.options = ids
        self.tx_pick.value = ids[0] if ids else None
        return frame

    def explain(self, transaction_id: str | None) -> dict[str, Any] | None:
        """LIME weights, the contrastive explanation, confidence and the attributes sent to the model."""
        if not transaction_id or self.subscription_id is None:
            self.status.value = "<p>Pick a transaction or type its id.</p>"
            return None
        try:
            result = self.data.explanation(self.subscription_id, transaction_id)
        except Exception as error:  # shown to the learner, not raised into the page
            self.explanation.children = [w.HTML(f"<p class='osl-error'>{html.escape(str(error))}</p>")]
            return None
        lime, con = result["lime"], result["contrastive"]
        neg, pos = con["pertinent_negative"], con["pertinent_positive"]
        changes = "; ".join(f"{c['feature']}: {c['from']} → {c['to']}" for c in neg["changes"]) or "none found"
        keeps = ", ".join(f"{p['feature']} = {p['value']}" for p in pos["features"]) or "none needed"
        attributes = pd.DataFrame([result["attributes"]])
        self.explanation.children = [
            w.HTML(f"<p class='osl-explained'>Transaction <b>{html.escape(transaction_id)}</b>: "
                   f"<b>{html.escape(lime['predicted_class'])}</b> with confidence {lime['confidence']:.0%}.</p>"
                   f"<p>Smallest change that flips it to {html.escape(neg['new_class'])}: {html.escape(changes)}.</p>"
                   f"<p>Features that alone keep the decision: {html.escape(keeps)}.</p>"),
            picture(charts.lime_bars(lime)),
            w.HTML("<p>Attributes sent to the model:</p>" + table_html(attributes))]
        self.last_explanation = result
        return result

    def close(self) -> None:
        self.data.close()
