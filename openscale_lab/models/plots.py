"""Charts the notebooks show (matplotlib)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from .training import TrainingResult


def feature_importances(result: TrainingResult) -> pd.Series:
    """The random forest's feature importances by input column, largest first."""
    import pandas as pd

    forest = result.model.stages[2]
    assembler = result.model.stages[1]
    names = [c.removesuffix("_IX") for c in assembler.getInputCols()]
    return pd.Series(forest.featureImportances.toArray(), index=names).sort_values(ascending=False)


def plot_feature_importances(result: TrainingResult, top: int = 12) -> Axes:
    """Horizontal bars of the most important features."""
    import matplotlib.pyplot as plt

    values = feature_importances(result).head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.barh(values.index, values.values, color="#1f6fb4")
    ax.set_xlabel("importance (Spark RandomForest)")
    ax.set_title("What the credit-risk model relies on")
    fig.tight_layout()
    return ax


def plot_scored_probabilities(frame: Any, class_labels: list[str], favourable: str = "No Risk") -> Axes:
    """One bar per scored applicant: probability of the favourable outcome, coloured by decision.

    `class_labels` are the model's labels by class index (the order of each probability list).
    """
    import matplotlib.pyplot as plt

    labels = list(frame["predictedLabel"])
    index = class_labels.index(favourable)
    p = [probs[index] for probs in frame["probability"]]
    fig, ax = plt.subplots(figsize=(7, 3))
    colors = ["#2e8b57" if lab == favourable else "#c0392b" for lab in labels]
    ax.bar(range(len(p)), p, color=colors)
    ax.axhline(0.5, color="grey", lw=1, ls="--")
    ax.set_xticks(range(len(p)))
    ax.set_xlabel("applicant")
    ax.set_ylabel(f"P({favourable})")
    ax.set_ylim(0, 1)
    ax.set_title("Scored applicants (green: No Risk, red: Risk)")
    fig.tight_layout()
    return ax
