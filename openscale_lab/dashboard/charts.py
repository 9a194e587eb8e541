"""The dashboard's charts (matplotlib figures)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import matplotlib.dates as mdates
import matplotlib.ticker as ticker
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..monitors.explain import plot_lime
from ..monitors.quality import QualityDetails
from ..monitors.results import Measurement
from .panels import LABELS, ChartSpec

DPI = 90  # pixels per inch of the PNG charts
COLORS = ["#1f6fb4", "#e67e22", "#2e8b57", "#8e44ad"]
ALERT, NOT_EVALUATED, REDEPLOYED = "#c0392b", "#7f8c8d", "#555555"
REDEPLOYMENT = "redeployment"  # the gid of a redeployment's line and label
GROUP_COLORS = {"monitored": "#e67e22", "reference": "#1f6fb4"}
# time charts: the same width and margins (inches), so that their time axes line up
WIDTH_IN, LEFT_IN, RIGHT_IN, TOP_IN, BOTTOM_IN, PANEL_IN, GAP_IN = 9.0, 1.1, 0.2, 0.3, 0.45, 1.5, 0.3


def plot_area(width_px: float) -> tuple[int, int]:
    """Where a time chart's axes lie in its image (left offset and width, in pixels), so that a slider can
    be laid out under them."""
    left = round(LEFT_IN * DPI)
    return left, round(width_px - left - RIGHT_IN * DPI)


def _x(series: pd.DataFrame, daily: bool) -> pd.Series:
    return pd.to_datetime(series["window_start"] if daily else series["window_end"])


def _compact(value: float, _position: int | None = None) -> str:
    """An axis value: 14.5M, 5.5k for large ones, as it is otherwise."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if abs(value) >= size:
            return f"{value / size:.4g}{suffix}"
    return f"{value:.6g}"


def _widths(series: pd.DataFrame) -> pd.Series:
    """Each measurement's window (a day where it has no start)."""
    start = pd.to_datetime(series["window_start"])
    return (pd.to_datetime(series["window_end"]) - start).fillna(pd.Timedelta(days=1))


def _alert_x(x: datetime, half: timedelta | None, span: tuple[datetime, datetime] | None) -> datetime:
    """Where an alert is drawn: at its measurement's time, or mid-window for a day's KPI (`half` its window's
    half), kept within `span`."""
    if half is None:
        return x
    x = x + half
    if span is not None:
        x = min(max(x, span[0] + timedelta(minutes=30)), span[1] - timedelta(minutes=30))
    return x


def mark_redeployments(axes: list[Axes], redeployments: pd.DataFrame | None,
                       span: tuple[datetime, datetime] | None = None) -> None:
    """A vertical dashed line on every axis at each redeployment's time, labelled "v1 → v2" at the top of the
    first axis (inside it: the legend is above); labels of close redeployments are stepped down. With `span`,
    only the redeployments within it."""
    if redeployments is None or redeployments.empty:
        return
    shown = redeployments.assign(time=pd.to_datetime(redeployments["time"])).sort_values("time")
    if span is not None:
        shown = shown[(shown["time"] >= span[0]) & (shown["time"] <= span[1])]
    for ax in axes:
        for t in shown["time"]:
            ax.axvline(t.to_pydatetime(), color=REDEPLOYED, ls="--", lw=0.9, alpha=0.8, gid=REDEPLOYMENT, zorder=1)
    if shown.empty:
        return
    top = axes[0]
    low, high = top.get_xlim()
    width = (high - low) or 1.0
    level, previous = 0, None
    for row in shown.itertuples():
        x = mdates.date2num(row.time.to_pydatetime())
        level = (level + 1) % 3 if previous is not None and x - previous < 0.1 * width else 0
        previous = x
        right = (x - low) / width > 0.85  # near the right edge: written to the left of its line
        top.text(row.time.to_pydatetime(), 0.97 - 0.16 * level, f" v{row.from_version} → v{row.to_version} ",
                 transform=top.get_xaxis_transform(), ha="right" if right else "left", va="top", fontsize=6.5,
                 color=REDEPLOYED, gid=REDEPLOYMENT, clip_on=True, zorder=4,
                 bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.7})


def timeseries(series: pd.DataFrame, spec: ChartSpec, thresholds: list[dict[str, Any]], alerts: pd.DataFrame,
               selected: datetime | None = None, span: tuple[datetime, datetime] | None = None,
               redeployments: pd.DataFrame | None = None) -> Figure:
    """A monitor's metrics over time, one axis per panel of `spec`, with threshold lines (dashed), alerts (red
    points), measurements not evaluated (grey crosses, the line broken there), the selected hour and the
    deployment's redeployments (vertical dashed lines labelled "v1 → v2").

    `series` is `InsightsData.series(..., not_evaluated=True)`; `span` fixes the time axis, so that every
    chart of a deployment lines up with the others and with the hour slider under them; `redeployments` is
    `InsightsData.redeployments(...)`.
    """
    n = len(spec.panels)
    fig = Figure(figsize=(WIDTH_IN, TOP_IN + BOTTOM_IN + PANEL_IN * n + GAP_IN * (n - 1)))
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    fig.subplots_adjust(left=LEFT_IN / WIDTH_IN, right=1 - RIGHT_IN / WIDTH_IN, top=1 - TOP_IN / fig.get_figheight(),
                        bottom=BOTTOM_IN / fig.get_figheight(), hspace=GAP_IN / PANEL_IN)
    x = _x(series, spec.daily)
    ok = series["evaluated"].astype(bool) if "evaluated" in series else pd.Series(True, index=series.index)
    where = dict(zip(series["measurement_id"], x, strict=True))
    half = dict(zip(series["measurement_id"], _widths(series) / 2, strict=True)) if spec.daily else {}
    limited = [t["metric"] for t in thresholds]
    for p, (ax, panel) in enumerate(zip(axes, spec.panels, strict=True)):
        for i, metric in enumerate(panel.metrics or tuple(limited)):
            color = COLORS[(p + i if spec.daily else i) % len(COLORS)]
            values = series[metric] if metric in series else pd.Series(float("nan"), index=series.index)
            label = LABELS.get(metric, metric)
            if spec.daily:  # a bar over each measurement's window (a day)
                ax.bar(x, values, width=_widths(series), align="edge", color=color, alpha=0.45, edgecolor=color,
                       label=label)
            else:
                ax.plot(x, values.where(ok), ".-", color=color, lw=1, ms=3, label=label)  # NaN: the line breaks
            for t in thresholds:
                if t["metric"] == metric:
                    ax.axhline(t["value"], color=color, ls="--", lw=0.8)
            hit = alerts[alerts["metric"] == metric] if not alerts.empty else alerts
            hit = hit[hit["measurement_id"].isin(list(where))] if not hit.empty else hit
            if not hit.empty:
                ax.plot([_alert_x(where[m], half.get(m), span) for m in hit["measurement_id"]], hit["value"], "o",
                        color=ALERT, ms=4, label="alert" if i == 0 else None, zorder=3)
        if (~ok).any():
            ax.plot(x[~ok], [0.06] * int((~ok).sum()), "x", color=NOT_EVALUATED, ms=4, mew=1,
                    transform=ax.get_xaxis_transform(), label="not evaluated" if p == 0 else None, clip_on=False)
        if selected is not None:
            ax.axvspan(selected - timedelta(hours=1), selected, color="#f1c40f", alpha=0.35, lw=0)
            ax.axvline(selected, color="black", lw=1, alpha=0.6)
        ax.set_ylabel(panel.unit, fontsize=8)
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(_compact))
        ax.tick_params(labelsize=7)
        ax.grid(axis="y", lw=0.4, alpha=0.5)
        if ax.get_legend_handles_labels()[0]:  # above the axes, clear of the data
            ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1, 1), ncol=6, frameon=False,
                      borderaxespad=0.1)
    if span is not None:
        axes[-1].set_xlim(span)
    mark_redeployments(list(axes), redeployments, span)
    locator = mdates.AutoDateLocator(minticks=4, maxticks=12)
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes[0].set_title(spec.title, fontsize=10, loc="left")
    return fig


def value_outcomes(outcomes: pd.DataFrame, feature: str) -> Figure:
    """Favourable and unfavourable outcomes per value of a feature (stacked bars, coloured by group), on
    Payload data beside Payload + Perturbed data."""
    views = ["Payload", "Payload + Perturbed"]
    fig = Figure(figsize=(WIDTH_IN, 3.2))
    axes = fig.subplots(1, 2)
    numeric = not outcomes.empty and all(isinstance(v, (int, float)) for v in outcomes["value"])
    values = sorted(set(outcomes["value"]), key=lambda v: (isinstance(v, str), v))
    position = {v: (v if numeric else i) for i, v in enumerate(values)}
    for ax, view in zip(axes, views, strict=True):
        shown = outcomes[outcomes["view"] == view]
        for group, color in GROUP_COLORS.items():
            rows = shown[shown["group"] == group]
            pos = [position[v] for v in rows["value"]]
            width = 0.8 if numeric else 0.6
            ax.bar(pos, rows["favourable"], width, color=color, label=f"{group} group: favourable")
            ax.bar(pos, rows["unfavourable"], width, bottom=rows["favourable"], color=color, alpha=0.3,
                   label=f"{group} group: unfavourable")
        total = int(shown[["favourable", "unfavourable"]].to_numpy().sum())
        ax.set_title(f"{view} data — {total} records", fontsize=9, loc="left")
        ax.set_xlabel(feature + (" (one bar per value)" if numeric else ""), fontsize=8)
        ax.tick_params(labelsize=7)
        if not numeric:
            ax.set_xticks(range(len(values)), [str(v) for v in values])
        if shown.empty:
            ax.text(0.5, 0.5, "not stored for this measurement", ha="center", va="center", transform=ax.transAxes)
    axes[0].set_ylabel("transactions (count)", fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", ncol=4, frameon=False)
    fig.suptitle(f"Outcomes per value of {feature}", fontsize=10, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    return fig


def fairness_bars(rates: pd.DataFrame, view: str) -> Figure:
    """Favourable rate of monitored vs reference group per feature."""
    fig = Figure(figsize=(6, 2.8))
    ax = fig.subplots()
    x = range(len(rates))
    ax.bar([i - 0.2 for i in x], rates["monitored rate"], 0.4, color="#e67e22", label="monitored group")
    ax.bar([i + 0.2 for i in x], rates["reference rate"], 0.4, color="#1f6fb4", label="reference group")
    for i, r in rates.iterrows():
        ax.text(i, max(r["monitored rate"], r["reference rate"]) + 0.03, f"DI {r['disparate impact']:.2f}",
                ha="center", fontsize=9)
    names = zip(rates["feature"], rates["monitored group"], rates["reference group"], strict=True)
    ax.set_xticks(list(x), [f"{f}\n{m} vs {r}" for f, m, r in names], fontsize=8)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("favourable rate")
    ax.set_title(f"Fairness — {view} data", fontsize=10, loc="left")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def confusion(details: QualityDetails) -> Figure:
    """The quality measurement's confusion matrix, drawn by the result itself."""
    fig = Figure(figsize=(3.2, 2.8))
    details.confusion_matrix.plot(details.positive_label, fig.subplots())
    fig.tight_layout()
    return fig


def drift_features(measurement: Measurement) -> Figure:
    """Features furthest from the training data, drawn by the drift result itself."""
    fig = Figure(figsize=(7, 2.8))
    ax = measurement.plot(fig.subplots())
    ax.set_title("")
    ax.set_title("Drift: features furthest from the training data", fontsize=10, loc="left")
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def lime_bars(explanation: dict[str, Any], top: int = 10) -> Figure:
    fig = Figure(figsize=(6, 3.2))
    ax = plot_lime(explanation, top, fig.subplots())
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def to_png(fig: Figure) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
