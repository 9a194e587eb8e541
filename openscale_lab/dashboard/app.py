"""The Insights dashboard as ipywidgets: overview → deployment → hour → transactions → explanation."""
from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import ipywidgets as w
import pandas as pd
from matplotlib.figure import Figure

from ..workspace import Workspace
from . import charts
from .data import FAIRNESS_VIEWS, InsightsData, fairness_rates, value_outcomes
from .panels import ChartInput, chart_inputs
from .rows import ExplainableRows
from .tiles import NO_DEPLOYMENT, NO_HISTORY, application_tile, deployment_tile

DRIFT_VIEWS = {"Drop in accuracy": "accuracy", "Drop in data consistency": "consistency", "Both": "both"}
DRIFT_WORDS = {"accuracy": "the drop in accuracy", "consistency": "the drop in data consistency",
               "both": "both the drop in accuracy and in data consistency"}
TRANSACTIONS_SHOWN, DRIFT_SHOWN = 50, 25
SLIDER_INSET = (14, 6, 2)  # px: track after the description, track to the right edge, image margin
NO_HOUR = ("no hour yet", "")  # the slider needs an option; this one selects nothing


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


def show_pictures(box: w.Box, figures: list[Figure]) -> None:
    """Show charts in `box`, reusing the image widgets it already holds (moving the hour along the slider
    then changes images, it does not pile up new widgets in the page)."""
    held = [c for c in box.children if isinstance(c, w.Image)]
    shown = []
    for i, fig in enumerate(figures):
        if i < len(held):
            held[i].value = charts.to_png(fig)
            held[i].layout.width = f"{round(fig.get_figwidth() * charts.DPI)}px"
            shown.append(held[i])
        else:
            shown.append(picture(fig))
    box.children = shown


def hour_label(hour: datetime) -> str:
    """An hour as the slider names it: its window."""
    return f"{hour - timedelta(hours=1):%Y-%m-%d %H:00}–{hour:%H:00}"


def error_html(error: Exception) -> str:
    """What the page shows when an action fails: the message, never a traceback."""
    return f"<p class='osl-error' style='color:#c0392b'>{html.escape(str(error) or type(error).__name__)}</p>"


class InsightsDashboard:
    """Build with a workspace and display `.widget`; each step is also a method, for notebooks and tests."""

    def __init__(self, workspace: Workspace) -> None:
        self.data = InsightsData(workspace)
        self.subscription_id: str | None = None
        self.hour: datetime | None = None
        self.hours: list[datetime] = []
        self.rates: pd.DataFrame | None = None
        self.outcomes: dict[str, pd.DataFrame] = {}  # per fairness feature: outcomes per value of the hour
        self.shown_transactions = pd.DataFrame()
        self.drift_listed = pd.DataFrame()
        self.last_explanation: dict[str, Any] | None = None
        self._chart_inputs: list[ChartInput] = []
        self.redeployments = pd.DataFrame()  # of the open deployment, marked on its time charts
        self._quiet = False
        self._build()
        self.refresh()

    # -- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.tiles = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.status = w.HTML()
        self.header = w.HTML()
        self.charts = w.VBox()
        self.hour_slider = w.SelectionSlider(options=[NO_HOUR], description="Hour", continuous_update=False,
                                             readout=False, layout=w.Layout())
        self.hour_slider.add_class("osl-hour-slider")
        self.previous_hour = w.Button(description="◀ previous hour", layout=w.Layout(width="auto"))
        self.next_hour = w.Button(description="next hour ▶", layout=w.Layout(width="auto"))
        self.hour_text = w.HTML()
        self.hour_box = w.VBox([self.hour_slider, w.HBox([self.previous_hour, self.next_hour, self.hour_text])],
                               layout=w.Layout(display="none"))
        self.hour_summary = w.HTML()
        self.view = w.ToggleButtons(options=list(FAIRNESS_VIEWS), description="Fairness on")
        self.details = w.VBox()
        self.drift_view = w.ToggleButtons(options=list(DRIFT_VIEWS.items()), description="Responsible for",
                                          style={"description_width": "initial", "button_width": "190px"})
        self.drift_rows = ExplainableRows(self._guarded(self.explain), DRIFT_SHOWN, "osl-drift-row")
        self.tx_kind = w.ToggleButtons(options=["All transactions", "Biased transactions"], value="All transactions")
        self.tx_rows = ExplainableRows(self._guarded(self.explain), TRANSACTIONS_SHOWN, "osl-tx-row")
        self.tx_id = w.Text(description="Transaction id", placeholder="type an id and press Enter",
                            continuous_update=False, style={"description_width": "initial"},
                            layout=w.Layout(width="420px"))
        self.explain_button = w.Button(description="Explain", button_style="primary", icon="search")
        self.explanation = w.VBox()
        self.deployment_box = w.VBox([
            self.header, w.HTML("<h3>Monitors over time</h3><p>Slide along the time axis (or use the arrow keys "
                                "on the slider) to pick an hour.</p>"), self.charts, self.hour_box,
            w.HTML("<h3>Details of the selected hour</h3>"), self.hour_summary, self.view, self.details,
            w.HTML("<h3>Transactions responsible for drift</h3>"), self.drift_view, self.drift_rows.widget,
            w.HTML("<h3>View transactions</h3>"), self.tx_kind, self.tx_rows.widget,
            w.HTML("<h3>Explain a transaction</h3>"), w.HBox([self.tx_id, self.explain_button]), self.explanation],
            layout=w.Layout(display="none"))
        self.widget = w.VBox([w.HTML("<h2>Insights</h2>"), self.tiles, self.status, self.deployment_box])
        self.hour_slider.observe(self._guarded(lambda change: None if self._quiet or not change["new"] else
                                               self.select_hour(change["new"])), names="value")
        self.previous_hour.on_click(self._guarded(lambda _: self.step_hour(-1)))
        self.next_hour.on_click(self._guarded(lambda _: self.step_hour(1)))
        self.view.observe(self._guarded(lambda change: self._draw_details()), names="value")
        self.drift_view.observe(self._guarded(lambda change: self.show_drift_transactions(change["new"])),
                                names="value")
        self.tx_kind.observe(self._guarded(lambda change: self.show_transactions(
            change["new"] == "Biased transactions")), names="value")
        self.tx_id.observe(self._guarded(lambda change: None if self._quiet else self.explain(
            change["new"].strip())), names="value")  # Enter (or leaving the box) sends the value
        self.explain_button.on_click(self._guarded(lambda _: self.explain(self.tx_id.value.strip())))

    def _guarded(self, action: Callable[..., Any]) -> Callable[..., None]:
        """`action` for a widget event: a failure is shown on the page as a message, never as a traceback."""
        def run(*args: Any) -> None:
            try:
                action(*args)
            except Exception as error:  # shown to the learner, not raised into the page
                self.status.value = error_html(error)
        return run

    # -- overview -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw the overview tiles from the data mart."""
        tiles = []
        for tile in self.data.overview():
            tiles.append(self._tile(deployment_tile(tile), f"Open {tile['deployment_name']}",
                                    tile["subscription_id"]))
        for app in self.data.applications():
            tiles.append(self._tile(application_tile(app), "Show the KPIs over time", app["subscription_id"]))
        self.tiles.children = tiles or [w.HTML(NO_DEPLOYMENT)]

    def _tile(self, card: str, action: str, subscription_id: str) -> w.VBox:
        button = w.Button(description=action[:60], tooltip=subscription_id, layout=w.Layout(width="auto"))
        button.on_click(self._guarded(lambda _: self.open_deployment(subscription_id)))
        return w.VBox([w.HTML(card), button], layout=w.Layout(border="1px solid #ccc", padding="8px", margin="4px",
                                                              width="440px"))

    # -- deployment ---------------------------------------------------------------------------
    def open_deployment(self, subscription_id: str) -> None:
        """Show a deployment's monitors over time, at its latest hour."""
        self.subscription_id = subscription_id
        sub = self.data.subscription(subscription_id)
        self.header.value = (f"<h2 class='osl-deployment'>{html.escape(sub.deployment_name)}</h2>"
                             f"<p>{html.escape(sub.model_name)} v{html.escape(sub.model_version)} — "
                             f"subscription {sub.subscription_id}</p>")
        self.hours = self.data.hours(subscription_id)
        self._chart_inputs = self._load_charts()
        self.deployment_box.layout.display = "flex"
        self._quiet = True
        self.hour_slider.options = [(hour_label(h), h) for h in self.hours] or [NO_HOUR]
        self._quiet = False
        self.hour_box.layout.display = "flex" if self.hours else "none"
        self._fit_slider()
        self.status.value = "" if self.hours else NO_HISTORY
        if self.hours:
            self.select_hour(self.hours[-1])
        else:
            self.hour = None
            self._draw_charts()

    def _fit_slider(self) -> None:
        """Lay the slider's track under the charts' time axis, its first option under the first hour's end
        and its last under the axis' end. `SLIDER_INSET` is where ipywidgets' CSS puts the track in the
        slider widget (after the description, before the right edge) and the image inside its widget."""
        if not self.hours:
            return
        left, width = charts.plot_area(charts.WIDTH_IN * charts.DPI)
        shown_hours = (self.hours[-1] - self.hours[0]) / timedelta(hours=1) + 1  # the axis starts an hour before
        offset = width / shown_hours
        after_label, right, image = SLIDER_INSET
        label = round(left + offset + image - after_label)
        self.hour_slider.style.description_width = f"{label}px"
        self.hour_slider.layout.width = f"{round(width - offset + label + after_label + right)}px"

    def _load_charts(self) -> list[ChartInput]:
        """What the deployment's time charts show, read once: moving the hour only redraws them."""
        assert self.subscription_id is not None
        self.redeployments = self.data.redeployments(self.subscription_id)
        return chart_inputs(self.data, self.subscription_id)

    def _draw_charts(self) -> None:
        span = (self.hours[0] - timedelta(hours=1), self.hours[-1]) if self.hours else None
        show_pictures(self.charts, [charts.timeseries(series, spec, thresholds, alerts, self.hour, span,
                                                      self.redeployments)
                                    for spec, series, thresholds, alerts in self._chart_inputs if not series.empty])

    def select_hour(self, hour: datetime | None) -> None:
        """Show the deployment's charts with `hour` (a window end) marked, and that hour's details,
        drift transactions and transactions."""
        if hour is None:
            return
        if hasattr(hour, "to_pydatetime"):
            hour = hour.to_pydatetime()
        self.hour = hour
        if hour in self.hours and self.hour_slider.value != hour:
            self._quiet = True
            self.hour_slider.value = hour
            self._quiet = False
        self.hour_text.value = f"<p class='osl-selected-hour'>Selected: <b>{hour_label(hour)}</b></p>"
        self._draw_charts()
        self._draw_details()
        self.show_drift_transactions(self.drift_view.value)
        self.show_transactions(self.tx_kind.value == "Biased transactions")

    def step_hour(self, step: int) -> None:
        """Move the selected hour `step` hours along the slider."""
        if self.hour in self.hours:
            i = min(max(self.hours.index(self.hour) + step, 0), len(self.hours) - 1)
            self.select_hour(self.hours[i])

    def _draw_details(self) -> None:
        if self.subscription_id is None or self.hour is None:
            return
        sub_id, hour = self.subscription_id, self.hour
        fairness = self.data.at_hour(sub_id, "fairness", hour)
        quality = self.data.at_hour(sub_id, "quality", hour)
        drift = self.data.at_hour(sub_id, "drift", hour)
        parts = [f"<p>Hour ending <b>{hour:%Y-%m-%d %H:%M}</b>.</p>"]
        pictures: list[Figure] = []
        self.outcomes = {}
        if fairness and fairness.evaluated:
            self.rates = fairness_rates(fairness.details, self.view.value, self.data.training_rates(sub_id))
            for r in self.rates.itertuples():
                verb = "less" if r[4] < r[5] else "more"
                parts.append(f"<p class='osl-fairness'>For {r.feature}, {html.escape(r[2])} got the favourable "
                             f"outcome {verb} often than {html.escape(r[3])}: {r[4]:.0%} vs {r[5]:.0%} "
                             f"({self.view.value.lower()} data).</p>")
            if fairness.message:  # a quiet hour's run reached back to earlier records: say so
                parts.append(f"<p class='osl-window'>Fairness {html.escape(fairness.message)} "
                             f"({fairness.record_count} records).</p>")
            pictures.append(charts.fairness_bars(self.rates, self.view.value))
            for feature, found in fairness.details.features.items():
                self.outcomes[feature] = value_outcomes(found)
                pictures.append(charts.value_outcomes(self.outcomes[feature], feature))
        else:
            self.rates = None
            parts.append(f"<p>Fairness: {html.escape(fairness.message) if fairness else 'no run this hour'}"
                         "</p>")
        if quality and quality.evaluated:
            reached = f" ({html.escape(quality.message)})" if quality.message else ""
            parts.append(f"<p>Quality: area under ROC {quality.metrics['area_under_roc']:.3f} on "
                         f"{quality.record_count} feedback records{reached}.</p>")
            pictures.append(charts.confusion(quality.details))
        elif quality:
            parts.append(f"<p>Quality: {html.escape(quality.message)}</p>")
        if drift and drift.evaluated:
            d = drift.details
            m = drift.metrics
            features = ", ".join(d.features_driving_drift[:3]) or "none beyond chance"
            parts.append(f"<p>Drift ({drift.window_start:%H:%M}–{drift.window_end:%H:%M}): drop in accuracy "
                         f"{m['drift_magnitude']:.3f}; {m.get('data_drift_magnitude', 0.0):.1%} of transactions "
                         f"inconsistent with the training data; features driving it: {html.escape(features)}.</p>")
            pictures.append(charts.drift_features(drift))
        elif drift:
            parts.append(f"<p>Drift: {html.escape(drift.message)}</p>")
        show_pictures(self.details, pictures)
        self.hour_summary.value = "".join(parts)

    # -- transactions and explanations --------------------------------------------------------
    def show_drift_transactions(self, view: str = "both") -> pd.DataFrame:
        """List the transactions the drift run covering the selected hour holds responsible for the drop in
        accuracy ("accuracy"), in data consistency ("consistency") or for both ("both")."""
        if self.subscription_id is None or self.hour is None:
            return pd.DataFrame()
        if self.drift_view.value != view:
            self.drift_view.value = view  # its observer comes back here
            return self.drift_listed
        frame = self.data.drift_transactions(self.subscription_id, self.hour, view)
        self.drift_listed = frame
        drift = self.data.at_hour(self.subscription_id, "drift", self.hour)
        if drift is None or not drift.evaluated:
            caption = (f"<p class='osl-drift-count'>No drift run covers this hour"
                       f"{': ' + html.escape(drift.message) if drift else ''}.</p>")
        else:
            caption = (f"<p class='osl-drift-count'>{len(frame)} transactions of the drift run "
                       f"{drift.window_start:%Y-%m-%d %H:%M}–{drift.window_end:%H:%M} responsible for "
                       f"{DRIFT_WORDS[view]}</p>")
        columns = ["scoring_id", "view", "p_correct", *self.data.transaction_columns(self.subscription_id)[2:],
                   "reasons"]
        self.drift_rows.show(frame, columns, caption)
        return frame

    def show_transactions(self, biased_only: bool = False) -> pd.DataFrame:
        """List the selected hour's transactions (all, or the biased ones), each with an Explain button."""
        if self.subscription_id is None or self.hour is None:
            return pd.DataFrame()
        wanted = "Biased transactions" if biased_only else "All transactions"
        if self.tx_kind.value != wanted:
            self.tx_kind.value = wanted  # its observer comes back here
            return self.shown_transactions
        frame = self.data.transactions(self.subscription_id, self.hour, biased_only)
        self.shown_transactions = frame
        shown = self.data.transaction_columns(self.subscription_id) + (["feature"] if biased_only else [])
        label = "biased transactions" if biased_only else "transactions"
        self.tx_rows.show(frame, shown, f"<p class='osl-count'>{len(frame)} {label} in this hour</p>")
        return frame

    def explain(self, transaction_id: str | None) -> dict[str, Any] | None:
        """LIME weights, the contrastive explanation, confidence and the attributes sent to the model."""
        if not transaction_id or self.subscription_id is None:
            self.explanation.children = [w.HTML("<p>Pick a transaction or type its id.</p>")]
            return None
        self._quiet = True
        self.tx_id.value = transaction_id
        self._quiet = False
        self.explanation.children = [w.HTML(f"<p class='osl-explaining'>Explaining {html.escape(transaction_id)}"
                                            "…</p>")]
        try:
            result = self.data.explanation(self.subscription_id, transaction_id)
        except Exception as error:  # shown to the learner, not raised into the page
            self.explanation.children = [w.HTML(error_html(error))]
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
