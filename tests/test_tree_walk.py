"""The compiled tree walk against the one-record walk (`Tree.leaf`, Spark's decisions written out) on values at
every edge a split has, without Spark: the walk the scorer uses on every batch must reach the same leaves."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from openscale_lab.errors import UnsupportedModelError
from openscale_lab.models.scorer import FlatEnsemble, Tree

# feature 0 continuous, feature 1 categorical (categories 0..2 named by the splits)
TREES = [
    # 0: f0 <= 1.5 ? leaf 1 : (f1 in {0, 2} ? leaf 3 : leaf 4)
    Tree(feature=[0, -1, 1, -1, -1], threshold=[1.5, 0, 0, 0, 0], categories=[None, None, [0.0, 2.0], None, None],
         left=[1, -1, 3, -1, -1], right=[2, -1, 4, -1, -1],
         value=[[0, 0], [0.25, 0.75], [0, 0], [0.5, 0.5], [0.875, 0.125]]),
    # 1: f1 in {1} ? (f0 <= -0.0 ? leaf 2 : leaf 3) : leaf 4
    Tree(feature=[1, 0, -1, -1, -1], threshold=[0, -0.0, 0, 0, 0], categories=[[1.0], None, None, None, None],
         left=[1, 2, -1, -1, -1], right=[4, 3, -1, -1, -1],
         value=[[0, 0], [0, 0], [0.1, 0.9], [0.3, 0.7], [0.6, 0.4]]),
    # 2: a single leaf
    Tree(feature=[-1], threshold=[0], categories=[None], left=[-1], right=[-1], value=[[0.2, 0.8]]),
]
EDGES = [np.nan, -np.inf, -1.0, -0.0, 0.0, 0.5, 1.0, 1.5, np.nextafter(1.5, 2), 2.0, 3.0, 4.0, np.inf]


def test_compiled_walk_reaches_the_leaves_spark_reaches_at_every_edge() -> None:
    X = np.array(list(itertools.product(EDGES, EDGES)), dtype=np.float64)
    weights = np.array([1.0, 0.5, -2.0])
    flat = FlatEnsemble(TREES)
    for w in (None, weights):
        expected = np.zeros((len(X), 2))
        for r, x in enumerate(X):
            total = None
            for t, tree in enumerate(TREES):  # a left fold in tree order, as Spark adds them
                v = np.asarray(tree.value[tree.leaf(x)]) * (1.0 if w is None else w[t])
                total = v if total is None else total + v
            expected[r] = total
        got = flat.sums(X, w)
        assert np.array_equal(got, expected), np.argwhere(got != expected)
    assert np.array_equal(flat.sums(X[::-1].copy()), flat.sums(X)[::-1])  # no state between records
    assert np.array_equal(flat.sums(np.asfortranarray(X)), flat.sums(X))  # any memory layout


def test_trees_the_walk_cannot_follow_are_refused() -> None:
    looping = Tree(feature=[0, 0, -1], threshold=[1.0, 2.0, 0], categories=[None, None, None], left=[1, 0, -1],
                   right=[2, 2, -1], value=[[0.0], [0.0], [1.0]])
    with pytest.raises(UnsupportedModelError, match="children"):
        FlatEnsemble([looping])
    outside = Tree(feature=[0, -1], threshold=[1.0, 0], categories=[None, None], left=[1, -1], right=[5, -1],
                   value=[[0.0], [1.0]])
    with pytest.raises(UnsupportedModelError, match="outside"):
        FlatEnsemble([outside])
    with pytest.raises(UnsupportedModelError, match="weights"):
        FlatEnsemble(TREES).sums(np.zeros((2, 2)), np.ones(2))
    with pytest.raises(UnsupportedModelError, match="feature 1"):
        FlatEnsemble(TREES).sums(np.zeros((2, 1)))
