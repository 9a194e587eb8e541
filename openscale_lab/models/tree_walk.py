"""The loop that walks a batch of feature vectors through every tree of an ensemble, compiled by Numba.

Why compiled: a NumPy walk goes through a batch one tree level at a time, each level several passes over a
(records × trees) array of node indices; this loop takes one record through one tree while its nodes sit in
cache, in one pass, about twice to three times as fast on the tutorial's model, and lets go of the interpreter
(`nogil`), so the scorer's threads walk parts of a large batch side by side. Numba compiles it on first use
(well under a second) and keeps the machine code in its cache (beside this file, or in the user's cache folder
where this one is read-only; compiled anew in each process where neither can be written), so later processes
load it.

The decisions are Spark's, node by node: a continuous split sends a value left when `value <= threshold` (so
a NaN goes right), a categorical split when its category is one of the node's left categories (an unseen,
negative, fractional or NaN value is never one of them). The leaves' values are added tree by tree in tree
order, each times its tree's weight (1.0 for a random forest or a single tree: an exact product), the same
additions in the same order as Spark's own loop, so the sums are Spark's to the last bit. Nothing here checks
bounds: `scorer.FlatEnsemble` builds the arrays and checks what the loop relies on.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from numba import njit


def _compiled(function: Callable[..., Any]) -> Any:
    """`function` compiled without the interpreter lock, its machine code cached where Numba can write it."""
    try:
        return njit(nogil=True, cache=True)(function)
    except RuntimeError:  # no folder to cache in that Numba can write: compiled in each process instead
        return njit(nogil=True)(function)


@_compiled
def weighted_leaf_sums(X: np.ndarray, roots: np.ndarray, feature: np.ndarray, threshold: np.ndarray,
                       categorical: np.ndarray, children: np.ndarray, category_child: np.ndarray, width: int,
                       category_count: np.ndarray, value: np.ndarray, weights: np.ndarray,
                       out: np.ndarray) -> None:  # pragma: no cover - compiled; tested through CompiledPipeline
    """out[i] = Σ_t value[leaf_t(X[i])] * weights[t], added in tree order (t = 0 first).

    Node arrays are flat over all trees (tree t's node j at roots[t] + j); `feature` is -1 at a leaf; a
    categorical node's child for category bin b is `category_child[node * width + b]`, where a feature's bins
    are its categories 0..count-1 and `count` for any other value."""
    n = X.shape[0]
    k = value.shape[1]
    for i in range(n):
        for t in range(roots.shape[0]):
            node = roots[t]
            while feature[node] >= 0:
                f = feature[node]
                x = X[i, f]
                if categorical[node]:
                    count = category_count[f]
                    b = count
                    if x >= 0.0 and x < count:
                        whole = int(x)
                        if whole == x:
                            b = whole
                    node = category_child[node * width + b]
                elif x <= threshold[node]:
                    node = children[node, 0]
                else:
                    node = children[node, 1]
            w = weights[t]
            if t == 0:
                for j in range(k):
                    out[i, j] = value[node, j] * w
            else:
                for j in range(k):
                    out[i, j] += value[node, j] * w
