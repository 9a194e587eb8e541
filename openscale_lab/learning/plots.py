"""The loop closed, in one picture: the quality monitor's hourly values with the redeployment marked."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes


def plot_quality_recovery(measurements: pd.DataFrame, redeployed_at: datetime, threshold: float = 0.7,
                          metric: str = "area_under_roc", label: str = "challenger deployed",
                          ax: Axes | None = None) -> Axes:
    """`metric` of each quality measurement at its window's end (stored measurements, as
    `Monitoring.measurements("quality")` gives them), the threshold, alerts in red, and the moment the learning
    system ran (`label` says what it did)."""
    import matplotlib.pyplot as plt
    import pandas as pd

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.4))
    frame = measurements.assign(value=measurements["metrics"].map(lambda m: m.get(metric)))
    frame = frame.dropna(subset=["value"]).sort_values("window_end")
    below = frame["value"] < threshold
    ax.plot(frame["window_end"], frame["value"], color="#2e86c1", lw=1.2, label=f"{metric} per hour")
    ax.scatter(frame.loc[below, "window_end"], frame.loc[below, "value"], color="#c0392b", s=14, zorder=3,
               label="alert (below the threshold)")
    ax.axhline(threshold, color="#c0392b", ls="--", lw=1, label=f"threshold {threshold:g}")
    ax.axvline(pd.Timestamp(redeployed_at), color="#27ae60", lw=2, label=label)
    ax.set_ylabel(f"{metric} on feedback")
    ax.set_xlabel("window end (UTC)")
    ax.set_ylim(max(0.0, float(frame["value"].min()) - 0.05) if len(frame) else 0.0, 1.0)
    ax.set_title("Quality over the week: concept drift, then the retrained model")
    ax.legend(loc="lower left", fontsize=7)
    ax.figure.autofmt_xdate()
    return ax
