"""The tutorial's German credit data, shipped inside the package, as pandas or Spark frames."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import LabError
from .tutorial import FEATURE_COLUMNS, LABEL_COLUMN

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

TRAINING_FILE = "german_credit_data_biased_training.csv"
FEED_FILE = "german_credit_feed.json"
FEEDBACK_FILE = "german_credit_feedback.json"


def data_path(name: str) -> Path:
    """Path of one of the shipped data files (see `openscale_lab/data/README.md`)."""
    path = Path(str(resources.files("openscale_lab") / "data" / name))
    if not path.is_file():
        raise FileNotFoundError(f"data file {name!r} is not shipped with openscale_lab ({path})")
    return path


def training_data_reference() -> dict[str, Any]:
    """Where the training data lives, as stored in the model's metadata."""
    path = data_path(TRAINING_FILE)
    return {"type": "file", "location": str(path), "name": TRAINING_FILE, "format": "csv",
            "label_column": LABEL_COLUMN, "rows": 5000}


def load_training_reference(reference: dict[str, Any]) -> pd.DataFrame:
    """The training data a model's metadata points to (`training_data_reference`: a CSV file).

    A reference to a file shipped with the package is found again when the package has moved since.
    """
    import pandas as pd

    if reference.get("type") != "file" or reference.get("format") != "csv":
        raise LabError(f"training data reference {reference!r}: only CSV files are supported")
    path = Path(str(reference.get("location", "")))
    if not path.is_file():
        shipped = Path(str(resources.files("openscale_lab") / "data" / str(reference.get("name", ""))))
        if not (reference.get("name") and shipped.is_file()):
            raise LabError(f"the model's training data is not at {path}: restore the file or retrain the model")
        path = shipped
    return pd.read_csv(path)


def load_training_data() -> pd.DataFrame:
    """The 5000 labelled training rows as a pandas DataFrame."""
    import pandas as pd

    return pd.read_csv(data_path(TRAINING_FILE))


def load_training_data_spark(spark: SparkSession) -> SparkDataFrame:
    """The 5000 labelled training rows as a Spark DataFrame (schema inferred: strings and integers)."""
    return spark.read.csv(str(data_path(TRAINING_FILE)), header=True, inferSchema=True)


def load_scoring_feed() -> dict[str, list]:
    """The 19000 unlabelled scoring records in the tutorial's `fields`/`values` form."""
    with data_path(FEED_FILE).open() as f:
        feed = json.load(f)
    if feed.get("fields") != FEATURE_COLUMNS:
        raise ValueError(f"{FEED_FILE}: unexpected fields {feed.get('fields')}")
    return feed


def feed_sample(n: int, seed: int = 0) -> dict[str, list]:
    """`n` records drawn without replacement from the scoring feed, reproducibly for a seed."""
    import numpy as np

    feed = load_scoring_feed()
    values = feed["values"]
    if not 0 < n <= len(values):
        raise ValueError(f"n must be between 1 and {len(values)}, got {n}")
    idx = np.random.default_rng(seed).choice(len(values), size=n, replace=False)
    return {"fields": feed["fields"], "values": [values[i] for i in idx]}


def load_feedback_data() -> pd.DataFrame:
    """The 98 labelled feedback records as a pandas DataFrame."""
    import pandas as pd

    with data_path(FEEDBACK_FILE).open() as f:
        return pd.DataFrame(json.load(f))[FEATURE_COLUMNS + [LABEL_COLUMN]]
