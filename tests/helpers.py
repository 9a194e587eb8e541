"""Building blocks for tests that fill a data mart by hand."""
from __future__ import annotations

from datetime import datetime, timedelta

from openscale_lab.constants import CATEGORICAL_COLUMNS, FEATURE_COLUMNS, SAMPLE_APPLICANTS
from openscale_lab.datamart import DataMart, Subscription

SCHEMA = [{"name": c, "type": "string" if c in CATEGORICAL_COLUMNS else "integer"} for c in FEATURE_COLUMNS]
T0 = datetime(2026, 11, 20, 12, 0, 0)


def make_subscription(dm: DataMart, deployment_id: str = "dep1") -> Subscription:
    binding = dm.ensure_binding("Local ML engine", "openscale_lab_local", "/tmp")
    sub_id = f"sub{deployment_id}"
    return dm.add_subscription(Subscription(
        subscription_id=sub_id, binding_id=binding, deployment_id=deployment_id, deployment_name="d",
        scoring_url="http://127.0.0.1:1/x", model_id="m1", model_name="model", model_version="1",
        input_schema=SCHEMA, feature_columns=FEATURE_COLUMNS, categorical_columns=CATEGORICAL_COLUMNS,
        payload_table=f"payload_{sub_id}"))


def payload_rows(n: int, start: datetime, step: timedelta) -> list[dict[str, object]]:
    rows = []
    for i in range(n):
        row = dict(zip(FEATURE_COLUMNS, SAMPLE_APPLICANTS[i % 8]))
        row.update(scoring_id=f"req-{i}", request_id="req", scoring_timestamp=start + i * step, prediction=0.0,
                   predictedLabel="No Risk", probability="[0.75, 0.25]", prediction_probability=0.75,
                   response_time_ms=1.5, deployment_id="dep1", model_version="1")
        rows.append(row)
    return rows
