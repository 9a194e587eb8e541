"""Every table of the data mart, in one SQLAlchemy MetaData (per-subscription tables are built on demand)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

SQL_TYPES = {"string": sa.String, "integer": sa.BigInteger, "double": sa.Float}
PAYLOAD_PREFIX = "payload_"
FEEDBACK_PREFIX = "feedback_"
BUSINESS_PREFIX = "business_payload_"
PER_SUBSCRIPTION_PREFIXES = (PAYLOAD_PREFIX, FEEDBACK_PREFIX, BUSINESS_PREFIX)
# ids of a replayed history's records (requests, transactions, feedback, business records, measurements) start
# with it, so the story and the live records can be told apart, and a new replay can replace the last one
REPLAY_PREFIX = "replay-"

metadata = sa.MetaData()
bindings = sa.Table(
    "bindings", metadata,
    sa.Column("binding_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("engine_type", sa.String(64), nullable=False),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
subscriptions = sa.Table(
    "subscriptions", metadata,
    sa.Column("subscription_id", sa.String(64), primary_key=True),
    sa.Column("binding_id", sa.String(64), sa.ForeignKey("bindings.binding_id"), nullable=False),
    sa.Column("deployment_id", sa.String(64), nullable=False, index=True),
    sa.Column("deployment_name", sa.String(200), nullable=False),
    sa.Column("scoring_url", sa.Text, nullable=False),
    sa.Column("model_id", sa.String(64), nullable=False),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("problem_type", sa.String(32), nullable=False),
    sa.Column("input_data_type", sa.String(32), nullable=False),
    sa.Column("label_column", sa.String(200), nullable=False),
    sa.Column("prediction_column", sa.String(200), nullable=False),
    sa.Column("predicted_label_column", sa.String(200), nullable=False),
    sa.Column("probability_column", sa.String(200), nullable=False),
    sa.Column("transaction_id_column", sa.String(200), nullable=False),
    sa.Column("input_schema", sa.Text, nullable=False),  # JSON: [{"name", "type"}]
    sa.Column("feature_columns", sa.Text, nullable=False),  # JSON list
    sa.Column("categorical_columns", sa.Text, nullable=False),  # JSON list
    sa.Column("payload_table", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # active | deleted
    sa.Column("created_at", sa.DateTime, nullable=False),
)
monitor_instances = sa.Table(
    "monitor_instances", metadata,
    sa.Column("subscription_id", sa.String(64), primary_key=True),
    sa.Column("monitor", sa.String(200), primary_key=True),
    sa.Column("config", sa.Text, nullable=False),  # JSON
    sa.Column("schedule_hours", sa.Float, nullable=False),
    sa.Column("enabled_at", sa.DateTime, nullable=False),
    sa.Column("last_run_at", sa.DateTime),
)
measurements = sa.Table(
    "measurements", metadata,
    sa.Column("measurement_id", sa.String(64), primary_key=True),
    sa.Column("subscription_id", sa.String(64), nullable=False, index=True),
    sa.Column("monitor", sa.String(200), nullable=False),
    sa.Column("timestamp", sa.DateTime, nullable=False, index=True),
    sa.Column("window_start", sa.DateTime),
    sa.Column("window_end", sa.DateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # evaluated | not_evaluated
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("record_count", sa.Integer, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),  # JSON {name: value}
    sa.Column("thresholds", sa.Text, nullable=False),  # JSON [{metric, type, value}]
    sa.Column("details", sa.Text, nullable=False),  # JSON
)
alerts = sa.Table(
    "alerts", metadata,
    sa.Column("alert_id", sa.String(64), primary_key=True),
    sa.Column("measurement_id", sa.String(64), sa.ForeignKey("measurements.measurement_id"), nullable=False),
    sa.Column("subscription_id", sa.String(64), nullable=False, index=True),
    sa.Column("monitor", sa.String(200), nullable=False),
    sa.Column("metric", sa.String(200), nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("threshold_type", sa.String(16), nullable=False),  # lower_limit | upper_limit
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("timestamp", sa.DateTime, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
)
drift_transactions = sa.Table(
    "drift_transactions", metadata,
    sa.Column("measurement_id", sa.String(64), sa.ForeignKey("measurements.measurement_id"), primary_key=True),
    sa.Column("scoring_id", sa.String(64), primary_key=True),
    sa.Column("subscription_id", sa.String(64), nullable=False, index=True),
    sa.Column("scoring_timestamp", sa.DateTime, nullable=False),
    sa.Column("view", sa.String(16), nullable=False),  # accuracy | consistency | both
    sa.Column("p_correct", sa.Float, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
)

biased_transactions = sa.Table(
    "biased_transactions", metadata,
    sa.Column("measurement_id", sa.String(64), sa.ForeignKey("measurements.measurement_id"), primary_key=True),
    sa.Column("feature", sa.String(200), primary_key=True),
    sa.Column("scoring_id", sa.String(64), primary_key=True),
    sa.Column("subscription_id", sa.String(64), nullable=False, index=True),
    sa.Column("scoring_timestamp", sa.DateTime, nullable=False),
    sa.Column("group_name", sa.String(16), nullable=False),  # monitored (only its records can be biased)
    sa.Column("original_value", sa.String(200), nullable=False),
    sa.Column("perturbed_value", sa.String(200), nullable=False),
    sa.Column("original_label", sa.String(200), nullable=False),
    sa.Column("perturbed_label", sa.String(200), nullable=False),
)
# rows that belong to a measurement: removed with it (alerts first, then what its monitor stored)
MEASUREMENT_ROWS = (alerts, drift_transactions, biased_transactions)


def delete_measurements(conn: Connection, ids: Any) -> None:
    """Remove measurements (`ids`: a list or a select of measurement ids) with the rows that belong to them."""
    for table in MEASUREMENT_ROWS:
        conn.execute(table.delete().where(table.c.measurement_id.in_(ids)))
    conn.execute(measurements.delete().where(measurements.c.measurement_id.in_(ids)))

explanations = sa.Table(
    "explanations", metadata,
    sa.Column("subscription_id", sa.String(64), primary_key=True),
    sa.Column("transaction_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),  # lime | contrastive
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("content", sa.Text, nullable=False),  # JSON
)
rejected_requests = sa.Table(
    "rejected_requests", metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("deployment_id", sa.String(64), nullable=False, index=True),
    sa.Column("timestamp", sa.DateTime, nullable=False, index=True),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
)
debiased_scoring = sa.Table(
    "debiased_scoring", metadata,
    sa.Column("scoring_id", sa.String(64), primary_key=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("deployment_id", sa.String(64), nullable=False, index=True),
    sa.Column("timestamp", sa.DateTime, nullable=False),
    sa.Column("record", sa.Text, nullable=False),  # JSON {field: value}
    sa.Column("predicted_label", sa.String(200), nullable=False),
    sa.Column("debiased_label", sa.String(200), nullable=False),
)
custom_monitor_definitions = sa.Table(
    "custom_monitor_definitions", metadata,
    sa.Column("definition_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("metrics", sa.Text, nullable=False),  # JSON [{name, lower_limit, upper_limit}]
    sa.Column("tags", sa.Text, nullable=False),  # JSON [{name, description}]
    sa.Column("created_at", sa.DateTime, nullable=False),
)
business_applications = sa.Table(
    "business_applications", metadata,
    sa.Column("application_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("payload_fields", sa.Text, nullable=False),  # JSON [{name, type, description}]
    sa.Column("business_metrics", sa.Text, nullable=False),  # JSON [{name, field, aggregation, time_unit, ...}]
    sa.Column("subscription_ids", sa.Text, nullable=False),  # JSON list
    sa.Column("created_at", sa.DateTime, nullable=False),
)
