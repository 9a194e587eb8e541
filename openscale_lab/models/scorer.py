"""A Spark PipelineModel compiled into plain Python and NumPy (its batch tree walk by Numba), scoring with no JVM.

Why not a library: MLeap needs a JVM, and onnxmltools' Spark converter keeps only one category per
categorical split (107 of 995 test labels differed on this model). This module reproduces Spark's
own arithmetic for StringIndexer, VectorAssembler, tree ensembles and IndexToString, in the same
order of floating-point operations, so predictions and probabilities match Spark's.
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ScoringInputError, UnsupportedModelError
from .saved_pipeline import SavedStage, read_pipeline

FORMAT = "openscale-lab-compiled-pipeline/1"
SMALL_BATCH = 16  # at or below this many rows, pure Python beats NumPy's per-call overhead
CHUNK_ROWS = 16_384  # rows walked through the trees at once: a large batch is shared between threads in such chunks
# Batches of at least this many rows are walked by several threads, one per core (the compiled walk releases the
# GIL, so two cores score a million records nearly twice as fast); a scoring request's batch is far
# smaller and stays on the thread that serves it.
PARALLEL_ROWS = 200_000
DICT_LOOKUP_ROWS = 10_000  # a column of up to this many values (a request's) is encoded by dict lookups
CLASSIFIERS = {
    "RandomForestClassificationModel": "random_forest",
    "DecisionTreeClassificationModel": "decision_tree",
    "GBTClassificationModel": "gbt",
}


@dataclass
class Tree:
    """One decision tree as flat per-node lists; `feature` is -1 at a leaf."""

    feature: list[int]
    threshold: list[float]
    categories: list[list[float] | None]  # left categories of a categorical split
    left: list[int]
    right: list[int]
    value: list[list[float]]  # per node: what a leaf contributes (see `_leaf_value`)

    def __post_init__(self) -> None:
        self._cats = [frozenset(c) if c is not None else None for c in self.categories]

    def leaf(self, x: Sequence[float]) -> int:
        """Leaf reached by one feature vector (Spark: `<=` threshold or category in the left set goes left)."""
        node = 0
        feature, left, right = self.feature, self.left, self.right
        while feature[node] >= 0:
            cats = self._cats[node]
            v = x[feature[node]]
            go_left = (v in cats) if cats is not None else (v <= self.threshold[node])
            node = left[node] if go_left else right[node]
        return node


class FlatEnsemble:
    """Every tree of an ensemble in one set of flat node arrays, walked for a whole batch by a compiled loop
    (`tree_walk`). Node `i` of tree `t` is at `roots[t] + i`.

    A continuous node keeps its threshold and its two children; a categorical node keeps, for each category bin
    of its feature (its categories 0..count-1, then one bin for any other value), the child that bin goes to:
    the decisions `Tree.leaf` makes, so the walk reaches Spark's leaves.
    """

    def __init__(self, trees: list[Tree]) -> None:
        sizes = [len(t.feature) for t in trees]
        self.roots = np.cumsum([0, *sizes[:-1]]).astype(np.int32)
        n = sum(sizes)
        continuous: set[int] = set()
        counts: dict[int, int] = {}  # categorical feature -> categories its splits name (max + 1)
        for tree in trees:
            for f, cats in zip(tree.feature, tree.categories, strict=True):
                if f >= 0 and cats is None:
                    continuous.add(f)
                elif f >= 0:
                    counts[f] = max(counts.get(f, 0), 1 + int(max(cats, default=0)))
        if continuous & set(counts):
            raise UnsupportedModelError("a feature split both as categorical and as continuous")
        features = max([f + 1 for f in (*continuous, *counts)], default=0)
        self.category_count = np.zeros(features, dtype=np.int32)
        for f, count in counts.items():
            self.category_count[f] = count
        self.width = 1 + max([*counts.values(), 0])  # category bins per node, the last for any other value
        self.feature = np.full(n, -1, dtype=np.int32)
        self.threshold = np.zeros(n, dtype=np.float64)
        self.categorical = np.zeros(n, dtype=np.bool_)
        self.children = np.zeros((n, 2), dtype=np.int32)
        self.category_child = np.zeros(n * self.width, dtype=np.int32)
        for tree, root in zip(trees, self.roots.tolist(), strict=True):
            for i, f in enumerate(tree.feature):
                if f < 0:
                    continue
                node = root + i
                if not (i < tree.left[i] < len(tree.feature) and i < tree.right[i] < len(tree.feature)):
                    # the compiled walk checks no bounds and follows children until a leaf: a child outside its tree
                    # or not after its parent (Spark numbers nodes parent first) is refused here, not read blindly
                    raise UnsupportedModelError(f"tree node {i} has children {tree.left[i]}, {tree.right[i]} outside "
                                                f"its tree of {len(tree.feature)} nodes or not after it")
                left, right = root + tree.left[i], root + tree.right[i]
                self.feature[node] = f
                self.threshold[node] = tree.threshold[i]
                self.children[node] = (left, right)
                if tree.categories[i] is not None:
                    self.categorical[node] = True
                    bins = self.category_child[node * self.width:(node + 1) * self.width]
                    bins[:] = right
                    bins[[int(c) for c in tree.categories[i] if 0 <= c < self.width - 1]] = left
        self.unit_weights = np.ones(len(trees), dtype=np.float64)  # a random forest's or a single tree's
        k = max(len(v) for t in trees for v in t.value)
        self.value = np.zeros((n, k), dtype=np.float64)
        for tree, root in zip(trees, self.roots.tolist(), strict=True):
            self.value[root:root + len(tree.value)] = np.asarray(tree.value, dtype=np.float64)

    def sums(self, X: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Per record, the leaves' values (each times its tree's weight, if given) added tree by tree in tree order,
        as Spark adds them: shape (records, values per leaf)."""
        from .tree_walk import weighted_leaf_sums

        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.shape[1] < len(self.category_count):
            raise UnsupportedModelError(f"the trees split on feature {len(self.category_count) - 1}, "
                                        f"the vectors have {X.shape[1]}")
        weights = self.unit_weights if weights is None else weights
        if np.shape(weights) != (len(self.roots),):
            raise UnsupportedModelError(f"{np.size(weights)} tree weights for {len(self.roots)} trees")
        out = np.empty((X.shape[0], self.value.shape[1]), dtype=np.float64)
        weighted_leaf_sums(X, self.roots, self.feature, self.threshold, self.categorical, self.children,
                           self.category_child, self.width, self.category_count, self.value,
                           np.ascontiguousarray(weights, dtype=np.float64), out)
        return out

    def margins(self, X: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Per record, the GBT margin: each tree's prediction times its weight, added in tree order."""
        return self.sums(X, weights)[:, 0]


@dataclass
class Indexer:
    """A StringIndexer column: label → index, unseen labels per `handle_invalid`."""

    input: str
    output: str
    labels: list[str]
    handle_invalid: str

    def __post_init__(self) -> None:
        self._index = {label: float(i) for i, label in enumerate(self.labels)}
        self._unseen = float(len(self.labels))
        self._lookup: Any = None  # a pandas Index of the labels, made on first vectorised use


def _leaf_value(kind: str, node: dict[str, Any]) -> list[float]:
    """What one leaf adds to the raw prediction, computed exactly as Spark computes it."""
    if kind == "gbt":
        return [float(node["prediction"])]
    stats = [float(s) for s in node["impurityStats"]]
    if kind == "decision_tree":
        return stats
    total = 0.0
    for s in stats:  # Scala's Array.sum: a left fold from 0.0
        total += s
    return [s / total for s in stats] if total != 0 else [0.0] * len(stats)


def _tree_from_nodes(kind: str, nodes: list[dict[str, Any]]) -> Tree:
    nodes = sorted(nodes, key=lambda n: n["id"])
    if [n["id"] for n in nodes] != list(range(len(nodes))):
        raise UnsupportedModelError("tree node ids are not 0..n-1")
    feature, threshold, categories, left, right, value = [], [], [], [], [], []
    for n in nodes:
        leaf = n["leftChild"] < 0
        split = n.get("split") or {}
        feature.append(-1 if leaf else int(split["featureIndex"]))
        is_cat = not leaf and int(split["numCategories"]) >= 0
        bounds = [float(v) for v in split.get("leftCategoriesOrThreshold") or []]
        threshold.append(bounds[0] if (not leaf and not is_cat) else 0.0)
        categories.append(bounds if is_cat else None)
        left.append(int(n["leftChild"]))
        right.append(int(n["rightChild"]))
        value.append(_leaf_value(kind, n))
    return Tree(feature, threshold, categories, left, right, value)


class CompiledPipeline:
    """A saved Spark pipeline (indexers → assembler → trees → label converter) as plain code."""

    def __init__(self, spec: dict[str, Any]) -> None:
        if spec.get("format") != FORMAT:
            raise UnsupportedModelError(f"not a compiled pipeline of format {FORMAT}")
        self.spec = spec
        self.input_schema: list[dict[str, str]] = spec["input_schema"]
        self.indexers = [Indexer(**i) for i in spec["indexers"]]
        self.assembler_inputs: list[str] = spec["assembler_inputs"]
        clf = spec["classifier"]
        self.kind: str = clf["kind"]
        self.num_classes: int = int(clf["num_classes"])
        self.trees = [Tree(**t) for t in clf["trees"]]
        self.tree_weights: list[float] = [float(w) for w in clf["tree_weights"]]
        self._weights = np.asarray(self.tree_weights, dtype=np.float64)
        self._flat: FlatEnsemble | None = None  # built on the first batch
        # for batches of PARALLEL_ROWS or more: the cores this process may use (a container's limit included)
        self.threads = max(1, min(len(os.sched_getaffinity(0)), 8))
        self.labels: list[str] = spec["labels"]
        self.output_columns: dict[str, str] = spec["output_columns"]
        by_output = {i.output: i for i in self.indexers}
        raw_cols = {c["name"] for c in self.input_schema}
        # For each feature slot: ("index", Indexer) or ("raw", column name)
        self._slots: list[tuple[str, Any]] = []
        for col in self.assembler_inputs:
            if col in by_output:
                self._slots.append(("index", by_output[col]))
            elif col in raw_cols:
                self._slots.append(("raw", col))
            else:
                raise UnsupportedModelError(f"VectorAssembler input {col!r} is neither an indexed nor an input column")

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def from_spark_model(cls, path: str | Path, input_schema: list[dict[str, str]]) -> CompiledPipeline:
        """Compile the PipelineModel saved at `path`; UnsupportedModelError names any stage it cannot reproduce."""
        meta, stages = read_pipeline(path)
        schema_names = [c["name"] for c in input_schema]
        indexers: list[dict[str, Any]] = []
        assembler: SavedStage | None = None
        classifier: SavedStage | None = None
        converter: SavedStage | None = None
        for stage in stages:
            name = stage.short_class
            if name == "StringIndexerModel":
                if classifier or assembler:
                    raise UnsupportedModelError(f"StringIndexer {stage.uid} after the assembler is not supported")
                indexers += _indexers_of(stage, schema_names)
            elif name == "VectorAssembler" and assembler is None and classifier is None:
                assembler = stage
            elif name in CLASSIFIERS and classifier is None and assembler is not None:
                classifier = stage
            elif name == "IndexToString" and classifier is not None and converter is None:
                converter = stage
            else:
                raise UnsupportedModelError(
                    f"stage {stage.uid} ({stage.class_name}) is not supported here: the compiled scorer "
                    "handles StringIndexer → VectorAssembler → RandomForest/DecisionTree/GBT classifier "
                    "→ IndexToString")
        if assembler is None or classifier is None:
            raise UnsupportedModelError("the pipeline needs a VectorAssembler and a tree classifier")
        clf = _classifier_spec(classifier, assembler)
        pred_col = classifier.param("predictionCol", "prediction")
        if converter is not None and converter.param("inputCol") != pred_col:
            raise UnsupportedModelError(f"IndexToString reads {converter.param('inputCol')!r}, not {pred_col!r}")
        labels = list(converter.param("labels") or []) if converter else []
        if converter is not None and not labels:
            raise UnsupportedModelError("IndexToString without stored labels is not supported")
        spec = {
            "format": FORMAT,
            "spark_version": meta.get("sparkVersion"),
            "input_schema": input_schema,
            "indexers": indexers,
            "assembler_inputs": list(assembler.param("inputCols")),
            "classifier": clf,
            "labels": labels,
            "output_columns": {
                "prediction": pred_col,
                "probability": classifier.param("probabilityCol", "probability"),
                "predicted_label": converter.param("outputCol") if converter else "predictedLabel",
            },
        }
        if assembler.param("handleInvalid", "error") != "error":
            raise UnsupportedModelError("VectorAssembler handleInvalid other than 'error' is not supported")
        compiled = cls(spec)
        if len(compiled._slots) != clf["num_features"]:
            raise UnsupportedModelError(
                f"assembler builds {len(compiled._slots)} features, classifier expects {clf['num_features']}")
        return compiled

    def to_json(self) -> str:
        return json.dumps(self.spec, sort_keys=True)

    @property
    def digest(self) -> str:
        """SHA-256 of the compiled form: what a verification record vouches for."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def save(self, path: str | Path) -> str:
        Path(path).write_text(self.to_json())
        return self.digest

    @classmethod
    def load(cls, path: str | Path) -> CompiledPipeline:
        return cls(json.loads(Path(path).read_text()))

    # -- scoring ------------------------------------------------------------------------------
    def features(self, rows: Sequence[dict[str, Any]] | Sequence[Sequence[Any]],
                 fields: Sequence[str] | None = None) -> list[list[float]]:
        """Feature vectors (as Spark's VectorAssembler builds them) for validated input rows."""
        pos = {f: i for i, f in enumerate(fields)} if fields is not None else None
        out = []
        for r, row in enumerate(rows):
            vec = []
            for how, what in self._slots:
                if how == "index":
                    value = row[pos[what.input]] if pos is not None else row[what.input]
                    idx = what._index.get(value)
                    if idx is None:
                        if what.handle_invalid != "keep":
                            raise ScoringInputError(
                                f"row {r}: field {what.input!r}: unknown category {value!r}; "
                                f"known: {', '.join(what.labels)}", status=422)
                        idx = what._unseen
                    vec.append(idx)
                else:
                    vec.append(float(row[pos[what]] if pos is not None else row[what]))
            out.append(vec)
        return out

    def predict_vectors(self, X: Sequence[Sequence[float]]) -> tuple[list[float], list[list[float]]]:
        """Prediction (class index as float) and class probabilities for feature vectors."""
        if len(X) <= SMALL_BATCH:
            probs = [self._probability_one(x) for x in X]
        else:
            probs = self._probability_many(np.asarray(X, dtype=np.float64)).tolist()
        preds = [float(max(range(len(p)), key=p.__getitem__)) for p in probs]  # first max, as Spark's argmax
        return preds, probs

    def score(self, rows: Sequence[Sequence[Any]], fields: Sequence[str]) -> list[tuple[float, str, list[float]]]:
        """(prediction, predicted label, probability) for each row of `values` under `fields`."""
        if len(rows) <= SMALL_BATCH:
            preds, probs = self.predict_vectors(self.features(rows, fields))
        else:  # a batch: column by column as arrays
            pos = {f: i for i, f in enumerate(fields)}
            columns = list(zip(*rows, strict=True)) if rows else [()] * len(fields)
            index, probs_array = self._predict_columns(lambda name: columns[pos[name]], len(rows))
            preds, probs = index.astype(np.float64).tolist(), probs_array.tolist()
        labels = self.labels
        return [(p, labels[int(p)] if labels else str(p), pr) for p, pr in zip(preds, probs)]

    def predict_frame(self, frame: Any) -> tuple[np.ndarray, np.ndarray]:
        """Class indices and probabilities for a pandas DataFrame of inputs, vectorised end to end.

        Unseen categories follow the indexer's `handle_invalid` (kept as the extra index, or an error).
        """
        return self._predict_columns(lambda name: frame[name], len(frame))

    def feature_matrix(self, column: Any, n: int) -> np.ndarray:
        """Feature vectors of `n` records whose input columns `column(name)` gives (a sequence or an array each):
        categories encoded by a hash lookup over the whole column, as Spark's StringIndexer numbers them."""
        out = np.empty((n, len(self._slots)), dtype=np.float64)
        for j, (how, what) in enumerate(self._slots):
            out[:, j] = _encoded(how, what, column(what if how == "raw" else what.input))
        return out

    def with_column(self, X: np.ndarray, name: str, values: Sequence[Any], copy: bool = True) -> np.ndarray:
        """A copy of feature vectors `X` (`X` itself, changed, with `copy=False`) with input column `name` set to
        `values` (encoded as `feature_matrix` encodes them): a perturbed copy of records without encoding their
        other columns again."""
        out = X.copy() if copy else X
        for j, (how, what) in enumerate(self._slots):
            if (what if how == "raw" else what.input) == name:
                out[:, j] = _encoded(how, what, values)
        return out

    def predict_matrix(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class indices and probabilities for feature vectors (as `feature_matrix` builds them)."""
        probs = self._probability_many(X)
        return np.argmax(probs, axis=1), probs

    def _predict_columns(self, column: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
        probs = self._probability_many(self.feature_matrix(column, n))
        return np.argmax(probs, axis=1), probs  # the first maximum, as Spark's argmax

    def _probability_one(self, x: Sequence[float]) -> list[float]:
        k = self.num_classes
        if self.kind == "gbt":
            margin = 0.0
            for tree, w in zip(self.trees, self.tree_weights):
                margin += tree.value[tree.leaf(x)][0] * w
            return _gbt_probability(margin)
        votes = [0.0] * k
        for tree in self.trees:
            v = tree.value[tree.leaf(x)]
            for i in range(k):
                votes[i] += v[i]
        total = 0.0
        for v in votes:
            total += v
        return [v / total for v in votes]

    def _probability_many(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch of feature vectors, in chunks (a large batch's chunks shared out between
        threads)."""
        if self._flat is None:
            self._flat = FlatEnsemble(self.trees)
        if X.shape[0] > CHUNK_ROWS:
            parts = [X[i:i + CHUNK_ROWS] for i in range(0, X.shape[0], CHUNK_ROWS)]
            if X.shape[0] >= PARALLEL_ROWS and self.threads > 1:  # each chunk's result is the same on any thread
                return np.concatenate(list(_pool(self.threads).map(self._probability_many, parts)))
            return np.concatenate([self._probability_many(part) for part in parts])
        if self.kind == "gbt":
            margin = self._flat.margins(X, self._weights)
            p0 = 1.0 / (1.0 + np.exp(2.0 * margin))  # as `_gbt_probability`
            return np.column_stack([p0, 1.0 - p0])
        votes = self._flat.sums(X)
        total = votes[:, 0].copy()
        for j in range(1, self.num_classes):  # Scala's Array.sum: a left fold
            total += votes[:, j]
        return votes / total[:, None]


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    """The threads large batches are scored on (made once, shared by every scorer of the process)."""
    return ThreadPoolExecutor(threads, thread_name_prefix="scorer")


def _encoded(how: str, what: Any, values: Any) -> np.ndarray:
    """One feature slot's values for a whole column: a raw number as a float, a category as its indexer's number
    (unseen ones per the indexer's `handle_invalid`: the extra index, or an error naming the row). A pandas
    Categorical (a monitor's window) is encoded by its categories, not value by value."""
    if how == "raw":
        return np.asarray(values, dtype=np.float64)
    if what._lookup is None:
        import pandas as pd

        what._lookup = pd.Index(what.labels, dtype=object)
    categorical = getattr(values, "array", values)  # a Series' values
    categories = getattr(getattr(categorical, "dtype", None), "categories", None)
    if categories is not None:  # codes of the few categories, then one gather; a missing value (-1) is unseen
        by_category = np.append(what._lookup.get_indexer(np.asarray(categories, dtype=object)), -1)
        codes = by_category[np.asarray(categorical.codes)]
    elif isinstance(values, (list, tuple)) and len(values) <= DICT_LOOKUP_ROWS:
        try:  # a request's column: one dict lookup per value, no index object built for it
            codes = np.fromiter(map(what._index.get, values, itertools.repeat(-1.0)), np.float64, len(values))
        except TypeError:  # an unhashable value: the index lookup below treats it as unseen
            codes = what._lookup.get_indexer(np.asarray(values, dtype=object))
    else:
        values = np.asarray(values, dtype=object)
        codes = what._lookup.get_indexer(values)
    unseen = codes < 0
    if unseen.any():
        if what.handle_invalid != "keep":
            row = int(np.flatnonzero(unseen)[0])
            raise ScoringInputError(f"row {row}: field {what.input!r}: unknown category {np.asarray(values)[row]!r}; "
                                    f"known: {', '.join(what.labels)}", status=422)
        codes[unseen] = len(what.labels)
    return codes


def _gbt_probability(margin: float) -> list[float]:

    # Spark's raw prediction is [-margin, margin]; its probability takes the logistic loss of the first and
    # 1 minus it for the second (GBTClassificationModel.raw2probabilityInPlace): computed the other way round,
    # the probabilities differ from Spark's in the last bit. Two last-bit differences remain, which no order of
    # operations here can remove: the JVM's Math.exp (an intrinsic) rounds differently from the C library's exp
    # for about 2 % of margins, and Spark adds the margin with the CPU's vector lanes (netlib's VectorBLAS) once
    # a model has at least twice as many trees as lanes (16 on AVX-512). Random forests and decision trees use
    # neither: their probabilities are bit-exact.
    p0 = float(1.0 / (1.0 + np.exp(np.array([-2.0 * -margin]))[0]))  # NumPy's exp, as a batch takes it
    return [p0, 1.0 - p0]


def _indexers_of(stage: SavedStage, schema_names: list[str]) -> list[dict[str, Any]]:
    handle = stage.param("handleInvalid", "error")
    if handle not in ("keep", "error"):
        raise UnsupportedModelError(
            f"StringIndexer {stage.uid} has handleInvalid={handle!r}: a scoring service cannot drop rows; "
            "use 'keep' or 'error'")
    inputs = stage.param("inputCols") or [stage.param("inputCol")]
    outputs = stage.param("outputCols") or [stage.param("outputCol")]
    data = stage.read_data()[0]
    labels_array = data.get("labelsArray") or [data.get("labels")]
    specs = []
    for col, out, labels in zip(inputs, outputs, labels_array):
        if col not in schema_names:
            raise UnsupportedModelError(f"StringIndexer {stage.uid} reads {col!r}, which is not a model input")
        specs.append({"input": col, "output": out, "labels": list(labels), "handle_invalid": handle})
    return specs


def _classifier_spec(stage: SavedStage, assembler: SavedStage) -> dict[str, Any]:
    kind = CLASSIFIERS[stage.short_class]
    if stage.param("featuresCol", "features") != assembler.param("outputCol"):
        raise UnsupportedModelError(f"{stage.short_class} reads {stage.param('featuresCol')!r}, "
                                    f"not the assembler's {assembler.param('outputCol')!r}")
    if stage.params.get("thresholds"):
        raise UnsupportedModelError(f"{stage.short_class} with custom thresholds is not supported")
    if kind == "gbt" and stage.param("lossType", "logistic") != "logistic":
        raise UnsupportedModelError("GBT with a loss other than logistic is not supported")
    rows = stage.read_data()
    by_tree: dict[int, list[dict[str, Any]]] = {}
    if kind == "decision_tree":
        by_tree[0] = rows
        weights = [1.0]
    else:
        for row in rows:
            by_tree.setdefault(int(row["treeID"]), []).append(row["nodeData"])
        tree_meta = {int(r["_1"]): float(r["_3"]) for r in stage.read_data("treesMetadata")}
        weights = [tree_meta[t] for t in sorted(by_tree)]
    trees = [_tree_from_nodes(kind, by_tree[t]) for t in sorted(by_tree)]
    num_classes = int(stage.extra.get("numClasses", 2))
    if kind == "gbt" and num_classes != 2:
        raise UnsupportedModelError("GBT classifiers are binary only")
    return {
        "kind": kind,
        "num_classes": num_classes,
        "num_features": int(stage.extra.get("numFeatures", 0)),
        "trees": [{f.name: getattr(t, f.name) for f in fields(t)} for t in trees],
        "tree_weights": weights,
    }
