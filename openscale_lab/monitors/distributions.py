"""Feature and output distributions for drift, binned as OpenScale's drift v2 bins them, and the distance a
window shows by chance alone.

Binning (IBM's "Feature drift in drift v2 metrics"): a numeric feature is *discrete* when its number of
distinct training values is below log2 of the number of training records, and then gets one bin per value;
otherwise its bins are the training deciles. Values below or above the training range get their own
underflow and overflow bins (never clipped into the end bins), numbers between the values of a discrete
feature an "unseen value" bin, and categories not seen in training an "unseen category" bin.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

CONTINUOUS_BINS = 10
NOISE_DRAWS = 1000  # windows drawn from the training distribution to measure chance distances
NOISE_QUANTILE = 0.95


@dataclass
class Bins:
    """How one feature's values are counted: categories, discrete values, or edges of continuous bins."""

    kind: str  # categorical | discrete | continuous
    values: list[Any] = field(default_factory=list)  # categories or discrete values
    edges: list[float] = field(default_factory=list)  # continuous: training quantiles, min … max

    @classmethod
    def learn(cls, values: pd.Series, categorical: bool) -> Bins:
        """Bins for a feature's training values."""
        clean = values.dropna()
        if categorical:
            return cls("categorical", values=sorted(clean.unique().tolist(), key=str))
        numbers = clean.to_numpy(dtype=float)
        distinct = np.unique(numbers)
        if len(distinct) < np.log2(max(len(numbers), 2)):
            return cls("discrete", values=[_plain(v) for v in distinct])
        edges = np.unique(np.quantile(numbers, np.linspace(0, 1, CONTINUOUS_BINS + 1)))
        return cls("continuous", edges=[float(e) for e in edges])

    @property
    def labels(self) -> list[str]:
        """A name for every bin, in the order `counts` uses."""
        if self.kind == "categorical":
            return [str(v) for v in self.values] + ["unseen category"]
        if self.kind == "discrete":
            return ["below training range", *(str(v) for v in self.values), "unseen value", "above training range"]
        inner = [f"{lo:g}–{hi:g}" for lo, hi in zip(self.edges[:-1], self.edges[1:], strict=True)]
        return ["below training range", *inner, "above training range"]

    def codes(self, values: pd.Series) -> np.ndarray:
        """The bin of every value (vectorised)."""
        if self.kind == "categorical":
            codes = category_codes(values, self.values)
            return np.where(codes < 0, len(self.values), codes)
        x = values.to_numpy(dtype=float, na_value=np.nan)
        if self.kind == "discrete":
            known = np.asarray(self.values, dtype=float)
            pos = np.searchsorted(known, x)
            hit = (pos < len(known)) & (known[np.minimum(pos, len(known) - 1)] == x)
            out = np.where(hit, pos + 1, len(known) + 1)  # unseen value in range
            out = np.where(x < known[0], 0, out)
            return np.where(x > known[-1], len(known) + 2, out)
        edges = np.asarray(self.edges, dtype=float)
        inner = np.clip(np.searchsorted(edges, x, side="right"), 1, max(len(edges) - 1, 1))
        out = np.where(x < edges[0], 0, inner)
        return np.where(x > edges[-1], max(len(edges), 2), out)

    def counts(self, values: pd.Series) -> np.ndarray:
        return np.bincount(self.codes(values), minlength=len(self.labels)).astype(float)


def category_codes(values: pd.Series, known: list[Any]) -> np.ndarray:
    """Position of each value among `known` (-1: not among them, or missing). Hashes only the distinct
    values, so it stays fast on strings read from a database."""
    import pandas as pd

    inverse, uniques = pd.factorize(values, use_na_sentinel=True)
    index = {v: i for i, v in enumerate(known)}
    lookup = np.array([index.get(u, -1) for u in uniques] + [-1], dtype=int)
    return lookup[inverse]  # the sentinel -1 picks the trailing -1


def _plain(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def probability_edges() -> np.ndarray:
    """Ten equal-width bins of a class probability."""
    return np.linspace(0.0, 1.0, 11)


def probability_counts(p: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(np.clip(p, 0.0, 1.0), bins=probability_edges())
    return counts.astype(float)


def _rows_normalised(counts: np.ndarray) -> np.ndarray:
    counts = np.atleast_2d(np.asarray(counts, dtype=float))
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Total variation distance between distributions (rows of `q` against `p`)."""
    return 0.5 * np.abs(_rows_normalised(q) - _rows_normalised(p)).sum(axis=1)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance in base 2 (rows of `q` against `p`); scipy's `jensenshannon`, vectorised."""
    a, b = np.broadcast_arrays(_rows_normalised(p), _rows_normalised(q))
    m = 0.5 * (a + b)

    def kl(x: np.ndarray) -> np.ndarray:
        ratio = np.divide(x, m, out=np.ones_like(x), where=(x > 0) & (m > 0))
        return (x * np.log2(ratio)).sum(axis=1)

    return np.sqrt(np.maximum(0.5 * kl(a) + 0.5 * kl(b), 0.0))


def chance_distance(training_counts: np.ndarray, n: int, seed: int = 0) -> float:
    """The total variation that a window of `n` records drawn from the training distribution itself exceeds
    only 5 % of the time: distances below it are what sampling alone produces."""
    p = _rows_normalised(training_counts)[0]
    if n <= 0 or p.sum() == 0:
        return float("nan")
    draws = np.random.default_rng(seed + n).multinomial(n, p, size=NOISE_DRAWS)
    return float(np.quantile(total_variation(p, draws), NOISE_QUANTILE))
