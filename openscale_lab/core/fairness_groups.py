"""Fairness groups, perturbation and the debiasing rule, in one place: used by the fairness monitor, the
debiased scoring endpoint and the Insights dashboard.

A group is a list of categories (`["female"]`) and/or inclusive numeric ranges (`[[18, 25]]`), as in
OpenScale's fairness configuration (`monitored_group` / `reference_group`).

Perturbation, as OpenScale's "Calculating fairness" describes it: a record is copied into the other group
with only its protected value changed, to a value of that group. The value is drawn at random across the
whole group as found in the training data: a category with its training frequency, a number among the
training values inside the range(s) with theirs. The configuration stores each group's training values and
counts (`group_distribution`), so the scoring app needs no training data.

The draw is deterministic per record, so the fairness monitor and the debiased endpoint give a record the
same perturbed value whatever batch or window it comes in. With `seed` the configuration's `perturbation_seed`
(default 0), `group` the group a record is moved into ("monitored" or "reference"), `h(text)` the first 8 bytes
of the SHA-256 of a text as an unsigned 64-bit number and `mix` SplitMix64's finaliser (all arithmetic modulo
2**64):

    r = 0; for each field, by name: r = mix(r * 0x9E3779B97F4A7C15 + h(f"{name}={value}"))
    u = (mix(r ^ h(f"{seed}|{feature}|{group}")) >> 11) / 2**53

numbers written as floats (`repr(float(v))`: 25 from a JSON request and 25 from the payload log hash alike),
and the value is the first whose cumulative share of the group's training counts exceeds u. A field's value is
hashed once per distinct value and the rest is integer arithmetic on whole columns: a window of a million
records draws in a fraction of a second, where hashing each record's text took most of a minute.

Biased transactions and debiasing follow IBM's "Reviewing debiased transactions" / "Calculating fairness":
the protected value is perturbed from the monitored group to the reference group, and a transaction is
biased when the model gives the monitored record an unfavourable outcome but the perturbed record a
favourable one. Reference-group records, and favourable-to-unfavourable flips, are never biased. The
perturbed record is the same copy the balanced data holds.
"""
from __future__ import annotations

import hashlib
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


def group_distribution(training: pd.Series, group: Sequence[Any]) -> dict[str, list[Any]] | None:
    """The group's values in the training data and how often each occurs: {"values": [...], "counts": [...]}
    (sorted by value), or None when no training value falls in the group."""
    counts = training[group_mask(training, group)].value_counts()
    if counts.empty:
        return None
    counts = counts.sort_index()
    return {"values": [v.item() if hasattr(v, "item") else v for v in counts.index],
            "counts": [int(c) for c in counts.to_numpy()]}


def stored_distribution(feature: dict[str, Any], group: str) -> dict[str, list[Any]]:
    """The training values of `group` ("monitored" or "reference") of a configured feature.

    Configurations stored before the values were kept hold one value per group (`to_monitored` /
    `to_reference`): that value, alone.
    """
    perturbation = feature["perturbation"]
    if group in perturbation:
        return dict(perturbation[group])
    return {"values": [perturbation[f"to_{group}"]], "counts": [1]}


def _canonical(value: Any) -> str:
    return repr(float(value)) if _is_number(value) else str(value)


GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, elementwise on unsigned 64-bit integers (wrapping)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def record_hashes(columns: dict[str, Sequence[Any] | np.ndarray]) -> np.ndarray:
    """Each record's 64-bit hash from its fields (name → column of values, all of one length), see the module."""
    import pandas as pd

    n = len(next(iter(columns.values()))) if columns else 0
    r = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in sorted(columns):
            values = columns[name]
            codes, uniques = pd.factorize(np.asarray(values) if not isinstance(values, pd.Series) else values,
                                          use_na_sentinel=False)
            hashed = np.array([_hash64(f"{name}={_canonical(_plain(v))}") for v in uniques], dtype=np.uint64)
            r = _mix(r * GOLDEN + hashed[codes])
    return r


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def uniform_draws(hashes: np.ndarray, seed: int, feature: str, group: str) -> np.ndarray:
    """One number in [0, 1) per record (by its `record_hashes`), for moving it into `group` of `feature`."""
    salt = np.uint64(_hash64(f"{seed}|{feature}|{group}"))
    with np.errstate(over="ignore"):
        return (_mix(hashes ^ salt) >> np.uint64(11)).astype(np.float64) / 2.0**53


def draw_values(distribution: dict[str, list[Any]], hashes: np.ndarray, seed: int, feature: str,
                group: str) -> list[Any]:
    """The value each record (by its hash) takes when moved into `group`, drawn with the training frequencies."""
    values, counts = distribution["values"], np.asarray(distribution["counts"], dtype=float)
    cdf = np.cumsum(counts) / counts.sum()
    idx = np.minimum(np.searchsorted(cdf, uniform_draws(hashes, seed, feature, group), side="right"),
                     len(values) - 1)
    return [values[i] for i in idx]


def is_biased(original: str, perturbed: str, favourable: Sequence[str], unfavourable: Sequence[str] = ()) -> bool:
    """A monitored record's outcome is biased when it is unfavourable and its perturbed copy's is favourable.

    Unfavourable means one of `unfavourable` when given, else any outcome that is not favourable.
    """
    bad = original in unfavourable if unfavourable else original not in favourable
    return bad and perturbed in favourable


def combine_debiased(original: Sequence[str], flips: Sequence[dict[int, str]], favourable: Sequence[str],
                     unfavourable: Sequence[str] = ()) -> list[str]:
    """The debiasing rule: a biased monitored-group record (`is_biased`) gets its perturbed copy's favourable
    outcome; every other record keeps its own.

    `flips` holds, per protected feature in configured order, the outcome of the perturbed copy (moved into
    the reference group) of each monitored-group record, by position; the first feature whose copy shows
    bias decides.
    """
    result = list(original)
    decided: set[int] = set()
    for flip in flips:
        for i, label in flip.items():
            if i not in decided and is_biased(original[i], label, favourable, unfavourable):
                result[i] = label
                decided.add(i)
    return result


def debias_rows(scorer: Any, config: dict[str, Any], fields: Sequence[str], rows: Sequence[Sequence[Any]],
                labels: Sequence[str]) -> list[str]:
    """Debiased labels for rows already scored with `labels` (see `combine_debiased`).

    `config` is the fairness monitor's stored configuration; `scorer` a compiled scorer (`score(rows, fields)`);
    `fields` the model's input fields, which `rows` hold in that order.
    """
    pos = {f: i for i, f in enumerate(fields)}
    hashes = record_hashes({f: [row[i] for row in rows] for i, f in enumerate(fields)})
    seed = int(config.get("perturbation_seed", 0))
    flips = []
    for feature in config["features"]:
        name = feature["feature"]
        col = pos[name]
        chosen = np.flatnonzero(group_mask([row[col] for row in rows], feature["monitored"])).tolist()
        moved = draw_values(stored_distribution(feature, "reference"), hashes[chosen], seed, name, "reference")
        flipped = [[*rows[i][:col], value, *rows[i][col + 1:]] for i, value in zip(chosen, moved, strict=True)]
        scored = scorer.score(flipped, fields) if flipped else []
        flips.append({i: label for i, (_, label, _) in zip(chosen, scored, strict=True)})
    return combine_debiased(labels, flips, config["favourable_classes"], config.get("unfavourable_classes", ()))
