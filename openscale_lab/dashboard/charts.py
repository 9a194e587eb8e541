"""The dashboard's charts (matplotlib figures)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

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
    ax.set_xticks(list(x), [f"{f}\n{m} vs {r}" for f, m, r in zip(rates["feature"], rates["monitored group"],
                                                                     rates["reference group"])], fontsize=8)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("favourable rate")
    ax.set_title(f"Fairness — {view} data", fontsize=10, loc="left")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def confusion(details: dict[str, Any]) -> Figure:
    cm = details["confusion_matrix"]
    pos = details["positive_label"]
    fig = Figure(figsize=(3.2, 2.8))
    ax = fig.subplots()
    grid = [[cm["tp"], cm["fn"]], [cm["fp"], cm["tn"]]]
    ax.imshow(grid, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, grid[i][j], ha="center", va="center")
    ax.set_xticks([0, 1], [f"pred {pos}", "pred other"], fontsize=8)
    ax.set_yticks([0, 1], [f"true {pos}", "true other"], fontsize=8)
    ax.set_title("Quality: confusion matrix", fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def drift_features(details: dict[str, Any], top: int = 8) -> Figure:
    drift = details["feature_drift"]
    names = sorted(drift, key=lambda f: drift[f]["jensen_shannon"])[-top:]
    fig = Figure(figsize=(5, 2.8))
    ax = fig.subplots()
    ax.barh(names, [drift[f]["jensen_shannon"] for f in names], color="#8e44ad")
    ax.set_xlabel("Jensen-Shannon distance to training data", fontsize=8)
    ax.set_title("Drift: features", fontsize=10, loc="left")
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def lime_bars(explanation: dict[str, Any], top: int = 10) -> Figure:
    feats = explanation["features"][:top][::-1]
    fig = Figure(figsize=(6, 3.2))
    ax = fig.subplots()
    ax.barh([f"{f['feature']} = {f['value']}" for f in feats], [f["weight"] for f in feats],
            color=["#2e8b57" if f["weight"] > 0 else "#c0392b" for f in feats])
    ax.axvline(0, color="grey", lw=1)
    ax.set_title(f"LIME: why {explanation['predicted_class']} ({explanation['confidence']:.0%})", fontsize=10,
                 loc="left")
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig


def to_png(fig: Figure) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
