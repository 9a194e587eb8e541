"""The compiled scorer reproduces Spark's predictions and probabilities, or refuses to exist."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from openscale_lab.deployments.verification import spark_predictions, verify_against_spark
from openscale_lab.errors import ModelMismatchError, ScoringInputError, UnsupportedModelError
from openscale_lab.models.scorer import SMALL_BATCH, CompiledPipeline
from openscale_lab.tutorial import CATEGORICAL_COLUMNS, FEATURE_COLUMNS, NUMERIC_COLUMNS

pytestmark = pytest.mark.spark


def assert_matches_spark(spark, spark_path, compiled: CompiledPipeline, rows,  # type: ignore[no-untyped-def]
                         last_bits: float = 0.0) -> None:
    """Every row's prediction and label equal Spark's, its probabilities within `last_bits` (0: bit-exact)."""
    theirs = spark_predictions(spark, spark_path, compiled.input_schema, rows)
    ours = compiled.score(list(rows[FEATURE_COLUMNS].itertuples(index=False, name=None)), FEATURE_COLUMNS)
    assert len(ours) == len(theirs) == len(rows)
    for i, ((pred, label, prob), (s_pred, s_prob, s_label)) in enumerate(zip(ours, theirs)):
        assert (pred, label) == (s_pred, s_label), f"row {i}"
        assert max(abs(a - b) for a, b in zip(prob, s_prob)) <= last_bits, f"row {i}: {prob} vs {s_prob}"
    frame = compiled.feature_matrix(lambda name: rows[name].to_numpy(), len(rows))
    many = compiled._probability_many(frame)
    assert float(np.abs(many - np.array([list(p) for _, p, _ in theirs])).max()) <= last_bits


@pytest.fixture(scope="module")
def compiled(trained) -> CompiledPipeline:  # type: ignore[no-untyped-def]
    _, model, _ = trained
    return CompiledPipeline.from_spark_model(model.spark_path, model.input_schema)


def test_every_test_row_matches_spark(spark, trained, compiled) -> None:  # type: ignore[no-untyped-def]
    _, model, result = trained
    assert len(result.test_data) == result.test_count > 900
    assert_matches_spark(spark, model.spark_path, compiled, result.test_data)


def test_every_training_row_matches_spark(spark, trained, compiled) -> None:  # type: ignore[no-untyped-def]
    from openscale_lab.data import load_training_data

    _, model, _ = trained
    training = load_training_data()
    assert len(training) == 5000
    assert_matches_spark(spark, model.spark_path, compiled, training)


def test_unseen_categories_match_spark(spark, trained, compiled) -> None:  # type: ignore[no-untyped-def]
    _, model, result = trained
    rows = result.test_data.head(40).copy()
    for i, col in enumerate(CATEGORICAL_COLUMNS):
        rows.loc[rows.index[i], col] = "never-seen"
        rows.loc[rows.index[20 + i % 20], col] = "also-new"
    assert_matches_spark(spark, model.spark_path, compiled, rows)


def test_small_and_large_batches_agree_exactly(trained, compiled) -> None:  # type: ignore[no-untyped-def]
    _, _, result = trained
    rows = list(result.test_data[FEATURE_COLUMNS].itertuples(index=False, name=None))[:200]
    batch = compiled.score(rows, FEATURE_COLUMNS)
    one_by_one = [compiled.score([r], FEATURE_COLUMNS)[0] for r in rows]
    assert len(rows) > SMALL_BATCH
    assert batch == one_by_one


def test_categorical_columns_and_threads_score_as_objects_do(trained, compiled) -> None:  # type: ignore[no-untyped-def]
    """A monitor's window holds text inputs as pandas Categoricals and scores large batches on several threads:
    the same bits as object columns scored on one thread, unseen and missing categories included."""
    from openscale_lab.models import scorer as scorer_module

    _, _, result = trained
    frame = result.test_data[FEATURE_COLUMNS].reset_index(drop=True)
    frame = pd.concat([frame] * (scorer_module.PARALLEL_ROWS // len(frame) + 1), ignore_index=True)
    frame.loc[3, "Job"], frame.loc[5, "Sex"] = "astronaut", None
    as_categories = frame.astype({c: "category" for c in CATEGORICAL_COLUMNS})
    single = copy.copy(compiled)
    single.threads = 1
    pred, probs = single.predict_frame(frame)
    assert compiled.threads > 1 and len(frame) >= scorer_module.PARALLEL_ROWS
    for scorer in (single, compiled):
        p2, probs2 = scorer.predict_frame(as_categories)
        assert np.array_equal(pred, p2) and np.array_equal(probs, probs2)
    unseen = single.feature_matrix(lambda name: as_categories[name], len(frame))
    job = [h == "index" and w.input == "Job" for h, w in single._slots].index(True)
    assert unseen[3, job] == len(single._slots[job][1].labels)  # the unseen index, as "keep" has it


def test_compiled_form_round_trips(tmp_path: Path, compiled) -> None:  # type: ignore[no-untyped-def]
    digest = compiled.save(tmp_path / "scorer.json")
    again = CompiledPipeline.load(tmp_path / "scorer.json")
    assert again.digest == digest == compiled.digest
    assert again.spec == compiled.spec


def test_a_wrong_scorer_is_caught_by_verification(spark, trained, compiled) -> None:  # type: ignore[no-untyped-def]
    _, model, _ = trained
    spec = copy.deepcopy(compiled.spec)
    tree = spec["classifier"]["trees"][0]
    split = next(i for i, f in enumerate(tree["feature"]) if f >= 0 and tree["categories"][i] is None)
    tree["threshold"][split] += 1000.0
    with pytest.raises(ModelMismatchError, match="differs from Spark"):
        verify_against_spark(spark, model, CompiledPipeline(spec))


def _fit_and_save(spark, stages, tmp_path: Path, name: str):  # type: ignore[no-untyped-def]
    from pyspark.ml import Pipeline

    from openscale_lab.models.training import split_training_data

    train, _, _ = split_training_data(spark)
    path = tmp_path / name
    Pipeline(stages=stages).fit(train).write().overwrite().save(str(path))
    return path


def _schema() -> list[dict[str, str]]:
    return [{"name": c, "type": "string" if c in CATEGORICAL_COLUMNS else "integer"} for c in FEATURE_COLUMNS]


@pytest.mark.parametrize("kind", ["decision_tree", "gbt"])
def test_other_tree_models_match_spark(spark, trained, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    from pyspark.ml.classification import DecisionTreeClassifier, GBTClassifier
    from pyspark.ml.feature import StringIndexer, VectorAssembler

    _, _, result = trained
    indexed = [f"{c}_IX" for c in CATEGORICAL_COLUMNS]
    clf = (DecisionTreeClassifier(maxDepth=6, seed=3) if kind == "decision_tree"
           else GBTClassifier(maxIter=15, maxDepth=3, seed=3))
    path = _fit_and_save(spark, [
        StringIndexer(inputCols=CATEGORICAL_COLUMNS, outputCols=indexed, handleInvalid="keep"),
        VectorAssembler(inputCols=indexed + NUMERIC_COLUMNS, outputCol="features"), clf], tmp_path, kind)
    compiled = CompiledPipeline.from_spark_model(path, _schema())
    assert compiled.kind == kind
    from openscale_lab.data import load_training_data

    rows = pd.concat([result.test_data, load_training_data()], ignore_index=True)
    rows.loc[rows.index[0], "Job"] = "astronaut"
    # a GBT's probability goes through the JVM's exp, which rounds differently from C's in the last bit for a few
    # records (see scorer._gbt_probability); trees of a forest are added exactly as Spark adds them
    assert_matches_spark(spark, path, compiled, rows, last_bits=1e-15 if kind == "gbt" else 0.0)


def test_unsupported_stage_is_refused_by_name(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler

    path = _fit_and_save(spark, [
        StringIndexer(inputCol="Sex", outputCol="Sex_IX"),
        OneHotEncoder(inputCol="Sex_IX", outputCol="Sex_OH"),
        VectorAssembler(inputCols=["Sex_OH", "Age"], outputCol="features"),
        LogisticRegression()], tmp_path, "ohe")
    with pytest.raises(UnsupportedModelError, match="OneHotEncoderModel"):
        CompiledPipeline.from_spark_model(path, _schema())


def test_skip_invalid_is_refused_and_error_invalid_names_the_field(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from pyspark.ml.classification import DecisionTreeClassifier
    from pyspark.ml.feature import StringIndexer, VectorAssembler

    def build(handle: str) -> Path:
        return _fit_and_save(spark, [
            StringIndexer(inputCol="Job", outputCol="Job_IX", handleInvalid=handle),
            VectorAssembler(inputCols=["Job_IX", "Age"], outputCol="features"),
            DecisionTreeClassifier(maxDepth=3)], tmp_path, handle)

    with pytest.raises(UnsupportedModelError, match="handleInvalid='skip'"):
        CompiledPipeline.from_spark_model(build("skip"), _schema())
    strict = CompiledPipeline.from_spark_model(build("error"), _schema())
    row = ["x"] * len(FEATURE_COLUMNS)
    row[FEATURE_COLUMNS.index("Job")] = "astronaut"
    row[FEATURE_COLUMNS.index("Age")] = 30
    with pytest.raises(ScoringInputError, match="row 0: field 'Job': unknown category 'astronaut'"):
        strict.score([row], FEATURE_COLUMNS)


def test_scorer_file_is_plain_json(tmp_path: Path, compiled) -> None:  # type: ignore[no-untyped-def]
    compiled.save(tmp_path / "s.json")
    spec = json.loads((tmp_path / "s.json").read_text())
    assert spec["classifier"]["kind"] == "random_forest"
    assert len(spec["classifier"]["trees"]) == 20
    assert [i["input"] for i in spec["indexers"]] == CATEGORICAL_COLUMNS
