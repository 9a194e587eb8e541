"""Feedback: labelled records logged to the data mart for the quality monitor."""
from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..core.clock import utcnow
from ..datamart.database import DataMart, Subscription, in_window
from ..datamart.tables import FEEDBACK_PREFIX, SQL_TYPES
from ..deployments.validation import check_value
from ..errors import LabError

if TYPE_CHECKING:
    import pandas as pd

MAX_ERRORS_SHOWN = 10


class FeedbackError(LabError):
    """Feedback records that do not fit the subscription's schema."""


def feedback_table(subscription: Subscription, meta: sa.MetaData | None = None) -> sa.Table:
    meta = meta if meta is not None else sa.MetaData()
    return sa.Table(
        f"{FEEDBACK_PREFIX}{subscription.subscription_id}", meta,
        sa.Column("feedback_id", sa.String(64), primary_key=True),
        sa.Column("timestamp", sa.DateTime, nullable=False, index=True),
        *[sa.Column(c["name"], SQL_TYPES[c["type"]]()) for c in subscription.input_schema],
        sa.Column(subscription.label_column, sa.String(200), nullable=False),
    )


def _as_records(data: Any) -> list[dict[str, Any]]:
    import pandas as pd

    if isinstance(data, (str, Path)):
        path = Path(data)
        if path.suffix == ".csv":
            return pd.read_csv(path).to_dict("records")
        loaded = json.loads(path.read_text())
        if isinstance(loaded, dict) and "fields" in loaded:
            return _fields_values(loaded)
        return list(loaded)
    if isinstance(data, pd.DataFrame):
        return data.to_dict("records")
    if isinstance(data, dict) and "fields" in data:
        return _fields_values(data)
    if isinstance(data, list):
        return data
    raise FeedbackError("feedback must be a file path, a DataFrame, a list of dicts or a fields/values dict")


def _fields_values(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Records of a `{"fields": [...], "values": [[...], ...]}` body; a row of another length is refused."""
    fields, values = data["fields"], data.get("values")
    if not isinstance(fields, list) or not isinstance(values, list):
        raise FeedbackError("feedback in fields/values form needs a list of fields and a list of value rows")
    short = [i for i, row in enumerate(values) if not isinstance(row, list) or len(row) != len(fields)]
    if short:
        raise FeedbackError(f"feedback not logged: row(s) {', '.join(map(str, short[:MAX_ERRORS_SHOWN]))} do not "
                            f"have one value per field ({len(fields)} fields)")
    return [dict(zip(fields, row, strict=True)) for row in values]


def _plain(value: Any) -> Any:
    """numpy scalars from a DataFrame as plain Python values."""
    return value.item() if hasattr(value, "item") else value


class FeedbackLog:
    """Validates and stores feedback for one subscription; reads it back by time window."""

    def __init__(self, datamart: DataMart, subscription: Subscription, labels: list[str]) -> None:
        self.datamart = datamart
        self.subscription = subscription
        self.labels = labels
        self.table = feedback_table(subscription)
        self.table.create(datamart.engine, checkfirst=True)

    def validate(self, data: Any) -> list[dict[str, Any]]:
        """Typed rows, or FeedbackError naming every bad row and field (up to ten)."""
        records = _as_records(data)
        if not records:
            raise FeedbackError("no feedback records given")
        schema = self.subscription.input_schema
        label = self.subscription.label_column
        expected = {c["name"] for c in schema} | {label}
        rows, errors = [], []
        for r, rec in enumerate(records):
            if not isinstance(rec, dict):
                errors.append(f"row {r}: expected a record (dict), got {type(rec).__name__}")
                continue
            missing = [c for c in [*(c["name"] for c in schema), label] if c not in rec]
            unknown = [k for k in rec if k not in expected]
            if missing:
                errors.append(f"row {r}: missing field(s) {', '.join(missing)}")
            if unknown:
                errors.append(f"row {r}: unknown field(s) {', '.join(map(str, unknown))}")
            row: dict[str, Any] = {}
            for c in schema:
                if c["name"] in rec:
                    value, problem = check_value(_plain(rec[c["name"]]), c["type"])
                    if problem:
                        errors.append(f"row {r}, field '{c['name']}': {problem}")
                    row[c["name"]] = value
            if label in rec and rec[label] not in self.labels:
                errors.append(f"row {r}, field '{label}': {rec[label]!r} is not one of {self.labels}")
            row[label] = rec.get(label)
            rows.append(row)
            if len(errors) >= MAX_ERRORS_SHOWN:
                break
        if errors:
            raise FeedbackError(f"feedback not logged, {len(errors)} problem(s)"
                                f"{' (first ones shown)' if len(errors) >= MAX_ERRORS_SHOWN else ''}: "
                                + "; ".join(errors))
        return rows

    def log(self, data: Any, timestamp: datetime | None = None, id_prefix: str = "") -> int:
        """Store feedback records (all or none); returns how many were stored."""
        rows = self.validate(data)
        when = timestamp or utcnow()
        for row in rows:
            row.update(feedback_id=f"{id_prefix}{uuid.uuid4().hex}", timestamp=when)
        with self.datamart.engine.begin() as conn:
            conn.execute(self.table.insert(), rows)
        return len(rows)

    def count(self, start: datetime | None = None, end: datetime | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(self.table).where(*in_window(self.table.c.timestamp, start, end))
        with self.datamart.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def read(self, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
        import pandas as pd

        query = (sa.select(self.table).where(*in_window(self.table.c.timestamp, start, end))
                 .order_by(self.table.c.timestamp))
        with self.datamart.engine.connect() as conn:
            return pd.read_sql(query, conn, parse_dates=["timestamp"])
