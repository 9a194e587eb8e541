"""Training the tutorial's credit-risk model: Spark StringIndexers, VectorAssembler, RandomForest, IndexToString."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..data import load_training_data, load_training_data_spark, training_data_reference
from ..tutorial import (
    AUC_THRESHOLD,
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    INPUT_DOMAINS,
    LABEL_COLUMN,
    MODEL_NAME,
    NUMERIC_COLUMNS,
    SPLIT_SEED,
)

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.ml import PipelineModel
    from pyspark.sql import DataFrame, SparkSession

SPARK_TYPES = {"StringType": "string", "IntegerType": "integer", "LongType": "integer", "DoubleType": "double"}


@dataclass
class TrainingResult:
    """A fitted pipeline with what the tutorial shows about it."""

    model: PipelineModel
    area_under_roc: float
    train_count: int
    test_count: int
    labels: list[str]
    input_schema: list[dict[str, str]]
    test_data: pd.DataFrame
    params: dict[str, Any]
    evaluation_rows: list[int] = field(default_factory=list)

    def metadata(self, name: str = MODEL_NAME) -> dict[str, Any]:
        """What the repository stores beside the model."""
        return {
            "name": name,
            "framework": "spark-ml",
            "problem_type": "binary",
            "training_data_reference": training_data_reference(),
            "label_column": LABEL_COLUMN,
            "labels": self.labels,
            "feature_columns": list(FEATURE_COLUMNS),
            "categorical_columns": list(CATEGORICAL_COLUMNS),
            "input_schema": self.input_schema,
            "training": {"train_count": self.train_count, "test_count": self.test_count, **self.params},
            # the training-data rows held out for evaluation: the drift monitor's base accuracy is measured on them
            "evaluation_rows": self.evaluation_rows,
            "evaluation": {"method": "binary", "metrics": [
                {"name": "areaUnderROC", "value": self.area_under_roc, "threshold": AUC_THRESHOLD}]},
        }

    @classmethod
    def from_fit(cls, model: PipelineModel, train: DataFrame, test: DataFrame, labels: list[str],
                 area_under_roc: float, params: dict[str, Any]) -> TrainingResult:
        """What the repository needs of a pipeline fitted on `train` and evaluated on `test` (Spark frames of the
        training data with its `label`; `labels` are the label names by index, `params` the training settings)."""
        test_pd = test.select(*FEATURE_COLUMNS, LABEL_COLUMN).toPandas()
        return cls(model=model, area_under_roc=float(area_under_roc), train_count=train.count(),
                   test_count=test.count(), labels=list(labels), input_schema=input_schema_of(train),
                   test_data=test_pd, params={"split": [0.8, 0.2], **params},
                   evaluation_rows=held_out_rows(load_training_data(), test_pd))

    @property
    def passed(self) -> bool:
        return self.area_under_roc >= AUC_THRESHOLD


def held_out_rows(training: pd.DataFrame, test: pd.DataFrame) -> list[int]:
    """Positions in the training data of the rows Spark's split held out (matched on every column; identical
    duplicate rows are interchangeable)."""
    columns = [*FEATURE_COLUMNS, LABEL_COLUMN]
    keyed = training[columns].reset_index(drop=True).reset_index()
    matched = keyed.merge(test[columns].drop_duplicates(), on=columns, how="inner")
    return sorted(int(i) for i in matched["index"].unique())


def input_schema_of(frame: DataFrame) -> list[dict[str, str]]:
    """The model's input columns with the lab's type names (string, integer, double) and declared domains."""
    types = {f.name: type(f.dataType).__name__ for f in frame.schema.fields}
    return [{"name": c, "type": SPARK_TYPES[types[c]], **INPUT_DOMAINS.get(c, {})} for c in FEATURE_COLUMNS]


def build_pipeline(labels: list[str], num_trees: int = 20, max_depth: int = 5, seed: int = SPLIT_SEED) -> Any:
    """The tutorial's pipeline; unseen categories are kept (`handleInvalid='keep'`) rather than failing."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import IndexToString, StringIndexer, VectorAssembler

    indexed = [f"{c}_IX" for c in CATEGORICAL_COLUMNS]
    indexer = StringIndexer(inputCols=CATEGORICAL_COLUMNS, outputCols=indexed, handleInvalid="keep")
    assembler = VectorAssembler(inputCols=indexed + NUMERIC_COLUMNS, outputCol="features")
    forest = RandomForestClassifier(featuresCol="features", labelCol="label", numTrees=num_trees,
                                    maxDepth=max_depth, seed=seed)
    converter = IndexToString(inputCol="prediction", outputCol="predictedLabel", labels=labels)
    return Pipeline(stages=[indexer, assembler, forest, converter])


def split_training_data(spark: SparkSession, seed: int = SPLIT_SEED) -> tuple[DataFrame, DataFrame, list[str]]:
    """Training data with a numeric `label`, split 80/20 with `seed`, and the label names by index."""
    from pyspark.ml.feature import StringIndexer

    frame = load_training_data_spark(spark)
    label_indexer = StringIndexer(inputCol=LABEL_COLUMN, outputCol="label").fit(frame)
    labelled = label_indexer.transform(frame)
    train, test = labelled.randomSplit([0.8, 0.2], seed=seed)
    return train, test, list(label_indexer.labels)


def train_model(spark: SparkSession, seed: int = SPLIT_SEED, num_trees: int = 20, max_depth: int = 5) -> TrainingResult:
    """Fit the pipeline on 80% of the training data and evaluate areaUnderROC on the rest."""
    from pyspark.ml.evaluation import BinaryClassificationEvaluator

    train, test, labels = split_training_data(spark, seed)
    train, test = train.cache(), test.cache()
    model = build_pipeline(labels, num_trees, max_depth, seed).fit(train)
    auc = BinaryClassificationEvaluator(rawPredictionCol="rawPrediction", labelCol="label",
                                        metricName="areaUnderROC").evaluate(model.transform(test))
    result = TrainingResult.from_fit(model, train, test, labels, auc,
                                     {"seed": seed, "num_trees": num_trees, "max_depth": max_depth})
    train.unpersist()
    test.unpersist()
    return result
