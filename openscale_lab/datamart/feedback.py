"""Feedback: labelled records logged to the data mart for the quality monitor.

The library (`monitoring.feedback.log`) and the deployment's REST endpoint (`POST .../feedback`) share this
class, so they accept and refuse the same records. Logging is idempotent, as a client that retries must be
able to rely on: a record is identified by the transaction it labels when it names one (field
`transaction_id`), else by its content (and the time given for it, if any); the same record twice is stored once.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..core.clock import check_window, naive_utc, utcnow
from ..core.input_schema import InputSchema
from ..errors import LabError
from .database import DataMart, Subscription, check_count, from_newest, in_window, of_source
from .tables import FEEDBACK_PREFIX, SQL_TYPES
from .window import WindowQuery

if TYPE_CHECKING:
    import pandas as pd

MAX_ERRORS_SHOWN = 10
SKIPPING_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
ID_LENGTH = 64  # the feedback_id column
# a scoring transaction id is at most 45 characters ("replay-", 32 hex digits, "-", the record's number):
# with "tx-" and an id prefix of at most 16 characters, the feedback id fits its 64
TRANSACTION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,45}$")


class FeedbackError(LabError):
    """Feedback records that do not fit the subscription's schema."""


def feedback_table(subscription: Subscription, meta: sa.MetaData | None = None) -> sa.Table:
    meta = meta if meta is not None else sa.MetaData()
    return sa.Table(
        f"{FEEDBACK_PREFIX}{subscription.subscription_id}", meta,
        sa.Column("feedback_id", sa.String(ID_LENGTH), primary_key=True),
        sa.Column("timestamp", sa.DateTime, nullable=False, index=True),
        *[sa.Column(c["name"], SQL_TYPES[c["type"]]()) for c in subscription.input_schema],
        sa.Column(subscription.label_column, sa.String(200), nullable=False),
    )


def as_records(data: Any) -> list[Any]:
    """Feedback records (dicts) from a file path, a DataFrame, a list of dicts or a `{fields, values}` dict."""
    import pandas as pd

    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise FeedbackError(f"no feedback file {str(path)!r}")
        if path.suffix == ".csv":
            return pd.read_csv(path).to_dict("records")
        try:
            loaded = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FeedbackError(f"feedback file {str(path)!r} is not JSON: {exc}") from None
        if isinstance(loaded, dict) and "fields" in loaded:
            return _fields_values(loaded)
        if not isinstance(loaded, list):
            raise FeedbackError(f"feedback file {str(path)!r} must hold a list of records or fields/values")
        return loaded
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
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields) or not isinstance(values, list):
        raise FeedbackError("feedback in fields/values form needs a list of field names and a list of value rows")
    duplicated = sorted(f for f, n in Counter(fields).items() if n > 1)
    if duplicated:
        raise FeedbackError(f"feedback not logged: field(s) given twice: {', '.join(map(repr, duplicated[:10]))}")
    short = [i for i, row in enumerate(values) if not isinstance(row, list) or len(row) != len(fields)]
    if short:
        raise FeedbackError(f"feedback not logged: row(s) {', '.join(map(str, short[:MAX_ERRORS_SHOWN]))} do not "
                            f"have one value per field ({len(fields)} fields)")
    return [dict(zip(fields, row, strict=True)) for row in values]


def _plain(value: Any) -> Any:
    """numpy scalars from a DataFrame as plain Python values."""
    return value.item() if hasattr(value, "item") else value


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT that skips rows whose id is stored already (a concurrent duplicate is not an error)."""
    insert = SKIPPING_INSERTS.get(conn.dialect.name)
    return insert(table).on_conflict_do_nothing(index_elements=["feedback_id"]) if insert else table.insert()


class FeedbackLog:
    """Validates and stores feedback for one subscription; reads it back by time window."""

    def __init__(self, datamart: DataMart, subscription: Subscription, labels: list[str],
                 schema: InputSchema | None = None) -> None:
        self.datamart = datamart
        self.subscription = subscription
        self.labels = labels
        self.schema = schema or InputSchema(subscription.input_schema)
        self.table = feedback_table(subscription)
        self.table.create(datamart.engine, checkfirst=True)

    @property
    def fields(self) -> list[str]:
        """The fields a feedback record has: the model's inputs and the label (a transaction id optional)."""
        return [*self.schema.names, self.subscription.label_column]

    def validate(self, data: Any) -> list[dict[str, Any]]:
        """Typed rows (with `transaction_id` when given), or FeedbackError naming every bad row and field."""
        records = as_records(data)
        if not records:
            raise FeedbackError("no feedback records given")
        label = self.subscription.label_column
        tx = self.subscription.transaction_id_column
        expected = set(self.fields) | {tx}
        rows, errors = [], []
        for r, rec in enumerate(records):
            if not isinstance(rec, dict):
                errors.append(f"row {r}: expected a record (dict), got {type(rec).__name__}")
                continue
            missing = [c for c in self.fields if c not in rec]
            unknown = [repr(k)[:60] for k in rec if k not in expected]
            if missing:
                errors.append(f"row {r}: missing field(s) {', '.join(missing)}")
            if unknown:
                errors.append(f"row {r}: unknown field(s) {', '.join(unknown)}")
            row: dict[str, Any] = {}
            for column in self.schema.columns:
                if column.name in rec:
                    value, problem = column.check(_plain(rec[column.name]))
                    if problem:
                        errors.append(f"row {r}, field '{column.name}': {problem}")
                    row[column.name] = value
            given = _plain(rec.get(label))
            if label in rec and (not isinstance(given, str) or given not in self.labels):
                errors.append(f"row {r}, field '{label}': {str(given)[:60]!r} is not one of {self.labels}")
            row[label] = given
            if tx in rec:
                if not isinstance(rec[tx], str) or not TRANSACTION_ID.match(rec[tx]):
                    errors.append(f"row {r}, field '{tx}': expected a transaction id (letters, digits, '_.:-', at "
                                  f"most 45 characters), got {str(rec[tx])[:60]!r}")
                row[tx] = rec[tx]
            rows.append(row)
            if len(errors) >= MAX_ERRORS_SHOWN:
                break
        if errors:
            raise FeedbackError(f"feedback not logged, {len(errors)} problem(s)"
                                f"{' (first ones shown)' if len(errors) >= MAX_ERRORS_SHOWN else ''}: "
                                + "; ".join(errors[:MAX_ERRORS_SHOWN]))
        return rows

    def record_id(self, row: dict[str, Any], id_prefix: str = "", timestamp: datetime | None = None) -> str:
        """The id a feedback record is stored under: its transaction's, else a digest of its content."""
        tx = row.get(self.subscription.transaction_id_column)
        if tx is not None:
            return f"{id_prefix}tx-{tx}"
        content = [row[c] for c in self.fields] + ([timestamp.isoformat()] if timestamp is not None else [])
        digest = hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()
        return f"{id_prefix}{digest[:ID_LENGTH - len(id_prefix)]}"

    def log(self, data: Any, timestamp: datetime | None = None, id_prefix: str = "", *,
            times: Sequence[datetime] | None = None) -> int:
        """Store feedback records (all or none); returns how many were new (a record stored before is skipped).

        `timestamp` (default now) is when the labels arrived, or `times` when each of them did; records logged
        with an explicit time are told apart by it, so the same applicant labelled in two different hours
        counts twice.
        """
        if not isinstance(id_prefix, str) or len(id_prefix) > 16:
            raise FeedbackError(f"id_prefix must be a text of at most 16 characters, got {id_prefix!r}")
        if times is not None and timestamp is not None:
            raise FeedbackError("give timestamp (one time for every record) or times (one per record), not both")
        explicit = None if timestamp is None else naive_utc(timestamp, "timestamp", FeedbackError)
        rows = self.validate(data)
        if times is not None:
            if isinstance(times, (str, bytes)) or len(times) != len(rows):
                raise FeedbackError(f"times must hold one time per record ({len(rows)}), got {times!r}"[:300])
            stamps: list[datetime | None] = [naive_utc(t, f"times[{i}]", FeedbackError) for i, t in enumerate(times)]
        else:
            stamps = [explicit] * len(rows)
        now = utcnow()
        tx = self.subscription.transaction_id_column
        unique: dict[str, dict[str, Any]] = {}
        for row, stamp in zip(rows, stamps, strict=True):
            fid = self.record_id(row, id_prefix, stamp)
            row.pop(tx, None)
            unique.setdefault(fid, dict(row, feedback_id=fid, timestamp=stamp or now))
        ids = list(unique)
        with self.datamart.engine.begin() as conn:
            stored = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                stored |= set(conn.execute(sa.select(self.table.c.feedback_id)
                                           .where(self.table.c.feedback_id.in_(chunk))).scalars())
            new = [row for fid, row in unique.items() if fid not in stored]
            if new:
                conn.execute(_insert(conn, self.table), new)
        return len(new)

    def count(self, start: datetime | None = None, end: datetime | None = None) -> int:
        start, end = check_window(start, end, FeedbackError)
        query = sa.select(sa.func.count()).select_from(self.table).where(*in_window(self.table.c.timestamp, start, end))
        with self.datamart.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def window(self, start: datetime | None = None, end: datetime | None = None, *, last: int | None = None,
               source: str | None = None) -> WindowQuery:
        """The feedback records that arrived in [start, end) as a window (see `read` for the arguments)."""
        start, end = check_window(start, end, FeedbackError)
        last = check_count(last, "last", FeedbackError)
        ts = self.table.c.timestamp
        where = [*in_window(ts, start, end), *of_source(self.table.c.feedback_id, source)]
        if last is not None:
            where.append(from_newest(ts, where, last))
        return WindowQuery(self.table, "timestamp", "feedback_id", tuple(where))

    def read(self, start: datetime | None = None, end: datetime | None = None, *, last: int | None = None,
             source: str | None = None) -> pd.DataFrame:
        """Feedback records that arrived in [start, end), oldest first: only the newest `last`, if given (with
        any other record that arrived at the same time as the oldest of them), and only those of `source`
        (LIVE or a replay prefix), if given."""
        return self.window(start, end, last=last, source=source).read(self.datamart.engine)
