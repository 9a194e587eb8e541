"""Charts of monitor results (matplotlib)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from .base import Measurement


def plot_quality(m: Measurement) -> Axes:
    """Quality metrics as bars, area under ROC against its threshold, and the confusion matrix."""
    import matplotlib.pyplot as plt

    fig, (ax, cm_ax) = plt.subplots(1, 2, figsize=(10, 3.5), gridspec_kw={"width_ratios": [2.2, 1]})
    names = [k for k in m.metrics if k != "log_loss"]
    ax.bar(names, [m.metrics[k] for k in names], color="#1f6fb4")
    for t in m.thresholds:
        ax.axhline(t.value, color="#c0392b", ls="--", lw=1, label=f"{t.metric} threshold {t.value}")
    ax.set_ylim(0, 1)
    ax.tick_params(axis="x", rotation=45)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Quality on feedback data")
    cm = m.details["confusion_matrix"]
    pos = m.details["positive_label"]
    grid = [[cm["tp"], cm["fn"]], [cm["fp"], cm["tn"]]]
    cm_ax.imshow(grid, cmap="Blues")
    for i in range(2):
        for j in range(2):
            cm_ax.text(j, i, grid[i][j], ha="center", va="center")
    cm_ax.set_xticks([0, 1], [f"pred {pos}", "pred other"])
    cm_ax.set_yticks([0, 1], [f"true {pos}", "true other"])
    cm_ax.set_title("Confusion matrix")
    fig.tight_layout()
    return ax


def plot_fairness(m: Measurement, view: str = "payload") -> Axes:
    """Favourable rate of monitored vs reference group per feature: payload, balanced or debiased data."""
    import matplotlib.pyplot as plt
    import numpy as np

    prefix = {"payload": "", "balanced": "balanced_", "debiased": "debiased_"}[view]
    feats = list(m.details["features"])
    mon = [m.details["features"][f][f"{prefix}monitored_favourable_rate"] for f in feats]
    ref = [m.details["features"][f][f"{prefix}reference_favourable_rate"] for f in feats]
    x = np.arange(len(feats))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(x - 0.2, mon, 0.4, label="monitored group", color="#e67e22")
    ax.bar(x + 0.2, ref, 0.4, label="reference group", color="#1f6fb4")
    for i, f in enumerate(feats):
        di = m.details["features"][f][f"{prefix}disparate_impact"]
        ax.text(i, max(mon[i], ref[i]) + 0.03, f"DI {di:.2f}", ha="center")
    ax.set_xticks(x, feats)
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("favourable rate")
    ax.set_title(f"Fairness ({view} data)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return ax


def plot_feature_drift(m: Measurement, top: int = 10) -> Axes:
    """Jensen-Shannon distance of each feature's payload distribution from the training data."""
    import matplotlib.pyplot as plt

    drift = m.details["feature_drift"]
    names = sorted(drift, key=lambda f: drift[f]["jensen_shannon"])[-top:]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.barh(names, [drift[f]["jensen_shannon"] for f in names], color="#8e44ad")
    ax.set_xlabel("Jensen-Shannon distance to training data")
    ax.set_title(f"Feature drift (drop in accuracy {m.metrics['drift_magnitude']:.3f})")
    fig.tight_layout()
    return ax


def plot_lime(explanation: dict[str, Any], top: int = 12) -> Axes:
    """LIME weights: which features pushed towards (positive) or away from the predicted class."""
    import matplotlib.pyplot as plt

    feats = explanation["features"][:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.barh([f"{f['feature']} = {f['value']}" for f in feats], [f["weight"] for f in feats],
            color=["#2e8b57" if f["weight"] > 0 else "#c0392b" for f in feats])
    ax.axvline(0, color="grey", lw=1)
    ax.set_title(f"Why {explanation['predicted_class']} ({explanation['confidence']:.0%})")
    ax.set_xlabel("LIME weight")
    fig.tight_layout()
    return ax


def plot_model_health(hourly: Any) -> Axes:
    """Records and median / p95 response time per hour."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(hourly["hour"].astype(str), hourly["records"], color="#95a5a6", label="records")
    ax.set_ylabel("records")
    ax2 = ax.twinx()
    ax2.plot(hourly["hour"].astype(str), hourly["response_time_median_ms"], "o-", label="median ms")
    ax2.plot(hourly["hour"].astype(str), hourly["response_time_p95_ms"], "s--", label="p95 ms")
    ax2.set_ylabel("response time (ms)")
    ax2.legend(loc="upper right")
    ax.set_title("Model health per hour")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return ax
