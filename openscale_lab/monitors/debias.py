"""Fairness groups, perturbation and debiasing: shared by the fairness monitor and the debiased endpoint."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def in_group(value: Any, group: Sequence[Any]) -> bool:
    """Whether a value belongs to a group given as categories or as [low, high] ranges (inclusive)."""
    for item in group:
        if isinstance(item, (list, tuple)):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and item[0] <= value <= item[1]:
                return True
        elif value == item:
            return True
    return False


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
    """Debiased labels for rows already scored with `labels` (see `combine_debiased`)."""
    pos = {f: i for i, f in enumerate(fields)}
    flips = []
    for feature in config["features"]:
        col = pos[feature["feature"]]
        chosen = [i for i, row in enumerate(rows) if in_group(row[col], feature["monitored"])]
        flipped = [[*row[:col], feature["perturbation"]["to_reference"], *row[col + 1:]]
                   for row in (rows[i] for i in chosen)]
        scored = scorer.score(flipped, fields) if flipped else []
        flips.append({i: label for i, (_, label, _) in zip(chosen, scored)})
    return combine_debiased(labels, flips)
