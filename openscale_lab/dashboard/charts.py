"""The dashboard's charts (matplotlib figures)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from ..monitors.explain import plot_lime
from ..monitors.quality import QualityDetails
from ..monitors.results import Measurement

DPI = 90  # pixels per inch of the PNG charts
COLORS = ["#1f6fb4", "#e67e22", "#2e8b57", "#8e44ad"]


def timeseries(series: pd.DataFrame, metrics: list[str], thresholds: list[dict[str, Any]], alerts: pd.DataFrame,
               title: str, selected: datetime | None = None) -> Figure:
    """Metrics over time with threshold lines, alert points (red) and the selected hour."""
    fig = Figure(figsize=(9, 2.6))
    ax = fig.subplots()
    for i, metric in enumerate(metrics):
        if metric not in series:
            continue
        color = COLORS[i % len(COLORS)]
        ax.plot(series["window_end"], series[metric], ".-", color=color, lw=1, ms=3, label=metric)
        for t in thresholds:
            if t["metric"] == metric:
                ax.axhline(t["value"], color=color, ls="--", lw=0.8)
        hit = alerts[alerts["metric"] == metric] if not alerts.empty else alerts
        if not hit.empty:
            ax.plot(pd.to_datetime(hit["timestamp"]), hit["value"], "o", color="#c0392b", ms=4)
    if selected is not None:
        ax.axvline(selected, color="black", lw=1.2, alpha=0.6)
    ax.set_title(title, fontsize=10, loc="left")
    ax.legend(fontsize=8, loc="upper left", ncol=4)
    ax.tick_params(labelsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
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
    fig = Figure(figsize=(5, 2.8))
    ax = measurement.plot(fig.subplots())
    ax.set_title("Drift: features", fontsize=10, loc="left")
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
