"""Checking a compiled scorer against Spark itself before a deployment may serve it."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.clock import utcnow
from ..errors import ModelMismatchError
from ..models.repository import StoredModel
from ..models.scorer import CompiledPipeline

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

TOLERANCE = 1e-9
UNSEEN = "__unseen_category__"


def verification_rows(model: StoredModel, compiled: CompiledPipeline, sample_size: int = 500) -> pd.DataFrame:
    """Evaluation rows, plus every known category and an unseen one for each categorical column."""
    import pandas as pd

    names = [c["name"] for c in compiled.input_schema]
    data = model.evaluation_data()[names]
    base = data.head(sample_size)
    extra = []
    for i, indexer in enumerate(compiled.indexers):
        for value in [*indexer.labels, UNSEEN]:
            row = data.iloc[(i * 7 + len(extra)) % len(data)].copy()
            row[indexer.input] = value
            extra.append(row)
    return pd.concat([base, pd.DataFrame(extra)], ignore_index=True)


def spark_predictions(spark: SparkSession, spark_path: str | Path, input_schema: list[dict[str, str]],
                      rows: pd.DataFrame) -> list[tuple[float, list[float], str]]:
    """(prediction, probability, predicted label) from Spark's own PipelineModel.transform."""
    from pyspark.ml import PipelineModel
    from pyspark.sql import types as T

    kinds = {"string": T.StringType(), "integer": T.LongType(), "double": T.DoubleType()}
    schema = T.StructType([T.StructField(c["name"], kinds[c["type"]]) for c in input_schema])
    records = [tuple(r) for r in rows[schema.fieldNames()].itertuples(index=False, name=None)]
    records = [tuple(int(v) if isinstance(f.dataType, T.LongType) else v for v, f in zip(r, schema.fields, strict=True))
               for r in records]
    frame = spark.createDataFrame(records, schema=schema)
    out = PipelineModel.load(str(spark_path)).transform(frame)
    label_col = "predictedLabel" if "predictedLabel" in out.columns else "prediction"
    return [(float(r["prediction"]), [float(p) for p in r["probability"]], str(r[label_col]))
            for r in out.select("prediction", "probability", label_col).collect()]


def verify_against_spark(spark: SparkSession, model: StoredModel, compiled: CompiledPipeline,
                         sample_size: int = 500) -> dict[str, Any]:
    """Score the same rows with Spark and the compiled scorer; ModelMismatchError if any row differs."""
    rows = verification_rows(model, compiled, sample_size)
    names = [c["name"] for c in compiled.input_schema]
    ours = compiled.score(list(rows[names].itertuples(index=False, name=None)), names)
    theirs = spark_predictions(spark, model.spark_path, model.input_schema, rows)
    max_diff, mismatches = 0.0, []
    for i, ((p1, label1, prob1), (p2, prob2, label2)) in enumerate(zip(ours, theirs, strict=True)):
        diff = max(abs(a - b) for a, b in zip(prob1, prob2, strict=True))
        max_diff = max(max_diff, diff)
        if p1 != p2 or label1 != label2 or diff > TOLERANCE or len(prob1) != len(prob2):
            mismatches.append(f"row {i}: compiled {label1} {prob1} vs Spark {label2} {prob2}")
    report = {"rows": len(rows), "max_abs_probability_difference": max_diff, "tolerance": TOLERANCE,
              "mismatches": len(mismatches), "passed": not mismatches, "scorer_digest": compiled.digest,
              "model_id": model.model_id, "verified_at": utcnow().isoformat()}
    if mismatches:
        raise ModelMismatchError(
            f"the compiled scorer differs from Spark on {len(mismatches)} of {len(rows)} rows; the deployment "
            f"will not start. First: {'; '.join(mismatches[:3])}")
    return report
