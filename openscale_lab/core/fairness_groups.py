"""Fairness groups and the debiasing rule, in one place: used by the fairness monitor, the debiased scoring
endpoint and the Insights dashboard.

A group is a list of categories (`["female"]`) and/or inclusive numeric ranges (`[[18, 25]]`), as in
OpenScale's fairness configuration (`monitored_group` / `reference_group`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def group_mask(values: pd.Series | Sequence[Any], group: Sequence[Any]) -> np.ndarray:
    """Which values belong to a group given as categories or [low, high] ranges (inclusive), vectorised.

    Ranges only match numbers: a text value is never inside a numeric range.
    """
    import pandas as pd  # loaded on first use: a scoring server that never debiases does without it

    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    mask = np.zeros(len(series), dtype=bool)
    cats = [g for g in group if not isinstance(g, (list, tuple))]
    if cats:
        mask |= series.isin(cats).to_numpy()
    ranges = [g for g in group if isinstance(g, (list, tuple))]
    if ranges:
        if series.dtype.kind in "iuf":
            numeric = series.to_numpy(dtype=float, na_value=np.nan)
        else:
            numeric = pd.to_numeric(series.where(series.map(_is_number)), errors="coerce").to_numpy(dtype=float)
        for low, high in ranges:
            mask |= (numeric >= low) & (numeric <= high)
    return mask


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def representative(values: pd.Series, group: Sequence[Any]) -> Any:
    """The value a record takes when perturbed into `group`: its most frequent category, or the median of
    its range(s), in `values` (the training data)."""
    members = values[group_mask(values, group)]
    if members.empty:
        first = group[0]
        return first[0] if isinstance(first, (list, tuple)) else first
    if all(isinstance(g, (list, tuple)) for g in group):
        return int(round(float(members.median())))
    mode = members.mode().iloc[0]
    return mode.item() if hasattr(mode, "item") else mode


def combine_debiased(original: Sequence[str], flips: Sequence[dict[int, str]]) -> list[str]:
    """The debiasing rule: a monitored-group record whose outcome changes when only its protected value is
    set to the reference group's gets the reference group's outcome; every other record keeps its own.

    `flips` holds, per protected feature in configured order, the flipped outcome of each monitored-group
    record (by position); the first feature whose flip changes the outcome decides.
    """
    result = list(original)
    decided: set[int] = set()
    for flip in flips:
        for i, label in flip.items():
            if i not in decided and label != original[i]:
                result[i] = label
                decided.add(i)
    return result


def debias_rows(scorer: Any, config: dict[str, Any], fields: Sequence[str], rows: Sequence[Sequence[Any]],
                labels: Sequence[str]) -> list[str]:
    """Debiased labels for rows already scored with `labels` (see `combine_debiased`).

    `config` is the fairness monitor's stored configuration; `scorer` a compiled scorer (`score(rows, fields)`).
    """
    pos = {f: i for i, f in enumerate(fields)}
    flips = []
    for feature in config["features"]:
        col = pos[feature["feature"]]
        chosen = np.flatnonzero(group_mask([row[col] for row in rows], feature["monitored"])).tolist()
        flipped = [[*row[:col], feature["perturbation"]["to_reference"], *row[col + 1:]]
                   for row in (rows[i] for i in chosen)]
        scored = scorer.score(flipped, fields) if flipped else []
        flips.append({i: label for i, (_, label, _) in zip(chosen, scored, strict=True)})
    return combine_debiased(labels, flips)
