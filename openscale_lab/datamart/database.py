"""The data mart: bindings, subscriptions and one payload log table per subscription (SQLAlchemy).

One code path serves SQLite (the default, a file in the workspace) and PostgreSQL.
"""
from __future__ import annotations

import json
import numbers
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..core.clock import check_window, utcnow
from ..errors import DataMartError
from .tables import (
    PER_SUBSCRIPTION_PREFIXES,
    REPLAY_PREFIX,
    SQL_TYPES,
    bindings,
    debiased_scoring,
    metadata,
    monitor_instances,
    rejected_requests,
    subscriptions,
)
from .window import WindowQuery

if TYPE_CHECKING:
    import pandas as pd

SQLITE_SYNC_ENV = "OPENSCALE_LAB_SQLITE_SYNC"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_LIMIT = 2**63 - 1  # the largest row limit SQLite and PostgreSQL accept (a signed 64-bit integer)


@dataclass
class Subscription:
    """A deployed asset the data mart watches, with the columns its payload log holds."""

    subscription_id: str
    binding_id: str
    deployment_id: str
    deployment_name: str
    scoring_url: str
    model_id: str
    model_name: str
    model_version: str
    input_schema: list[dict[str, str]]
    feature_columns: list[str]
    categorical_columns: list[str]
    payload_table: str
    label_column: str = "Risk"
    prediction_column: str = "prediction"
    predicted_label_column: str = "predictedLabel"
    probability_column: str = "probability"
    transaction_id_column: str = "transaction_id"
    problem_type: str = "binary"
    input_data_type: str = "structured"
    status: str = "active"
    created_at: datetime = field(default_factory=utcnow)

    @classmethod
    def from_row(cls, row: Any) -> Subscription:
        data = dict(row._mapping)
        for key in ("input_schema", "feature_columns", "categorical_columns"):
            data[key] = json.loads(data[key])
        return cls(**data)

    def to_row(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for key in ("input_schema", "feature_columns", "categorical_columns"):
            data[key] = json.dumps(data[key])
        return data


def payload_table_for(subscription: Subscription, meta: sa.MetaData | None = None) -> sa.Table:
    """The payload log table of a subscription: ids, time, the model's inputs and its outputs."""
    meta = meta if meta is not None else sa.MetaData()
    feature_cols = []
    for spec in subscription.input_schema:
        if spec["type"] not in SQL_TYPES:
            raise DataMartError(f"column {spec['name']!r} has unsupported type {spec['type']!r}")
        feature_cols.append(sa.Column(spec["name"], SQL_TYPES[spec["type"]]()))
    return sa.Table(
        subscription.payload_table, meta,
        sa.Column("scoring_id", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("scoring_timestamp", sa.DateTime, nullable=False),
        *feature_cols,
        sa.Column(subscription.prediction_column, sa.Float, nullable=False),
        sa.Column(subscription.predicted_label_column, sa.String(200), nullable=False),
        sa.Column(subscription.probability_column, sa.Text, nullable=False),  # JSON list, one per class
        sa.Column("prediction_probability", sa.Float, nullable=False),
        sa.Column("response_time_ms", sa.Float, nullable=False),
        sa.Column("deployment_id", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        # windows are read in the order of time then id, a large one page by page from a (time, id) on
        sa.Index(f"ix_{subscription.payload_table}_time_id", "scoring_timestamp", "scoring_id"),
    )


# Where a record comes from. LIVE: scored live (every record not replayed); a replayed story's records have ids
# starting with its prefix (REPLAY_PREFIX); None: every record. Monitors of a story read only its records, and
# the live monitors only live ones, so a replayed week and the traffic of the day do not mix.
LIVE = ""


def of_source(column: Any, source: str | None) -> list[Any]:
    """SQL conditions keeping the records of `source` (LIVE, a replay prefix, or None for all) by their id."""
    if source is None:
        return []
    if source == LIVE:
        return [~column.startswith(REPLAY_PREFIX, autoescape=True)]
    return [column.startswith(source, autoescape=True)]


def from_newest(column: Any, where: list[Any], last: int) -> Any:
    """SQL condition keeping what `where` selects from the time of its `last`-th newest row on (ties included),
    in one query: the newest `last` rows and any other stamped with the oldest one's time."""
    newest = sa.select(column).where(*where).order_by(column.desc()).limit(last).subquery()
    return column >= sa.select(sa.func.min(newest.c[column.name])).scalar_subquery()


def check_count(value: Any, name: str, error: type[Exception] = DataMartError) -> int | None:
    """A row count for SQL LIMIT (a whole number from 0 to the largest 64-bit integer), or None."""
    if value is not None and not (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                                  and 0 <= value <= MAX_LIMIT):
        raise error(f"{name} must be a whole number from 0 to {MAX_LIMIT} (None: no limit), got {value!r}")
    return None if value is None else int(value)


def in_window(column: Any, start: datetime | None, end: datetime | None) -> list[Any]:
    """SQL conditions for start <= column < end (either bound may be open)."""
    conds = []
    if start is not None:
        conds.append(column >= start)
    if end is not None:
        conds.append(column < end)
    return conds


def sqlite_synchronous() -> str:
    """FULL unless $OPENSCALE_LAB_SQLITE_SYNC says NORMAL: that gives up the power-cut promise (a commit may be
    only in the operating system's cache) for about 0.2 ms less per scoring request (`make bench`)."""
    chosen = os.environ.get(SQLITE_SYNC_ENV, "FULL").upper()
    if chosen not in ("FULL", "NORMAL"):
        raise DataMartError(f"${SQLITE_SYNC_ENV} must be FULL or NORMAL, got {chosen!r}")
    return chosen


def create_datamart_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL with full sync (a committed row survives a killed writer and a
    power cut) and a busy timeout."""
    try:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"timeout": 30})

            @sa.event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                # FULL: a commit (and so a success reply) is on disk, not only in the OS cache; NORMAL in WAL
                # mode survives a killed process but may lose the last commits on a power cut
                cur.execute(f"PRAGMA synchronous={sqlite_synchronous()}")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

            return engine
        return sa.create_engine(url, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DataMartError(f"cannot use data mart URL {url!r}: {exc}") from exc


def _create_owner_only(url: str) -> None:
    """Create the SQLite file of `url`, readable and writable by its owner only (0600), if it does not exist.

    SQLite would create it with the process's umask (usually world-readable), and the data mart holds every
    scoring record. Creating it first with os.open makes the mode part of the creation (no window where it
    is readable); SQLite gives the -wal and -shm files it adds the main file's mode. An existing file keeps
    its mode: it may be shared on purpose. Other databases and in-memory SQLite are left alone.
    """
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return  # create_datamart_engine names the bad URL
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:" or parsed.query.get("uri"):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise DataMartError(f"cannot create the data mart file {path}: {exc.strerror}") from exc
    os.close(fd)


def redact(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


class DataMart:
    """The lab's data mart in one database (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        _create_owner_only(url)
        self.engine = create_datamart_engine(url)
        try:
            metadata.create_all(self.engine)
        except sa.exc.OperationalError as exc:
            raise DataMartError(f"cannot reach the data mart at {redact(url)}: {exc.orig}") from exc
        self._tables: dict[str, sa.Table] = {}

    def close(self) -> None:
        self.engine.dispose()

    # -- bindings -------------------------------------------------------------------------------
    def ensure_binding(self, name: str, engine_type: str, location: str) -> str:
        """The id of the binding called `name`, created if missing."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(bindings.c.binding_id).where(bindings.c.name == name)).first()
            if row:
                return str(row[0])
            binding_id = uuid.uuid4().hex[:12]
            conn.execute(bindings.insert().values(binding_id=binding_id, name=name, engine_type=engine_type,
                                                  location=location, created_at=utcnow()))
            return binding_id

    def list_bindings(self) -> pd.DataFrame:
        import pandas as pd

        with self.engine.connect() as conn:
            return pd.read_sql(sa.select(bindings).order_by(bindings.c.created_at), conn)

    # -- subscriptions --------------------------------------------------------------------------
    def add_subscription(self, subscription: Subscription) -> Subscription:
        """Store a subscription and create its payload table, in one transaction."""
        table = payload_table_for(subscription)
        with self.engine.begin() as conn:
            conn.execute(subscriptions.insert().values(**subscription.to_row()))
            table.create(conn, checkfirst=True)
        return subscription

    def get_subscription(self, subscription_id: str) -> Subscription:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(subscriptions).where(
                subscriptions.c.subscription_id == subscription_id)).first()
        if row is None:
            raise DataMartError(f"no subscription {subscription_id!r} in the data mart")
        return Subscription.from_row(row)

    def subscription_for_deployment(self, deployment_id: str) -> Subscription | None:
        """The active subscription of a deployment, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(subscriptions).where(
                subscriptions.c.deployment_id == deployment_id,
                subscriptions.c.status == "active")).first()
        return Subscription.from_row(row) if row else None

    def active_subscriptions(self) -> list[Subscription]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(subscriptions).where(subscriptions.c.status == "active")
                                .order_by(subscriptions.c.created_at)).all()
        return [Subscription.from_row(r) for r in rows]

    def list_subscriptions(self) -> pd.DataFrame:
        import pandas as pd

        with self.engine.connect() as conn:
            return pd.read_sql(sa.select(subscriptions).order_by(subscriptions.c.created_at), conn)

    def update_subscription(self, subscription_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(subscriptions.update().where(subscriptions.c.subscription_id == subscription_id)
                         .values(**values))

    def retire_deployment(self, deployment_id: str) -> int:
        """Mark a removed deployment's subscriptions deleted; their payload logs stay."""
        with self.engine.begin() as conn:
            result = conn.execute(subscriptions.update().where(subscriptions.c.deployment_id == deployment_id)
                                  .values(status="deleted"))
        return int(result.rowcount or 0)

    # -- payload log ----------------------------------------------------------------------------
    def monitor_config(self, subscription_id: str, monitor: str) -> dict[str, Any] | None:
        """A monitor's stored configuration for a subscription, or None when it is not enabled."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(monitor_instances.c.config).where(
                monitor_instances.c.subscription_id == subscription_id,
                monitor_instances.c.monitor == monitor)).first()
        return json.loads(row[0]) if row else None

    def payload_table(self, subscription: Subscription | str) -> sa.Table:
        sub = subscription if isinstance(subscription, Subscription) else self.get_subscription(subscription)
        if sub.payload_table not in self._tables:
            self._tables[sub.payload_table] = payload_table_for(sub)
        return self._tables[sub.payload_table]

    def store_payload(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """Insert payload records in one committed transaction (all or none)."""
        with self.engine.begin() as conn:
            conn.execute(table.insert(), rows)

    def store_debiased(self, rows: list[dict[str, Any]]) -> None:
        """Log the records of a debiased scoring request (all or none)."""
        with self.engine.begin() as conn:
            conn.execute(debiased_scoring.insert(), rows)

    def log_rejected(self, deployment_id: str, status: int, message: str) -> None:
        """Remember a refused scoring request (for model health); never raises."""
        try:
            with self.engine.begin() as conn:
                conn.execute(rejected_requests.insert().values(
                    request_id=uuid.uuid4().hex, deployment_id=deployment_id, timestamp=utcnow(), status=status,
                    message=CONTROL.sub("?", message[:2000])))  # client text may hold NUL, which PostgreSQL refuses
        except sa.exc.SQLAlchemyError:
            pass

    def payload_count(self, subscription: Subscription | str, start: datetime | None = None,
                      end: datetime | None = None) -> int:
        """Number of payload records scored in [start, end) (naive UTC, or time zone aware, datetimes)."""
        start, end = check_window(start, end, DataMartError)  # no string reaches a query
        table = self.payload_table(subscription)
        query = sa.select(sa.func.count()).select_from(table).where(*in_window(table.c.scoring_timestamp, start, end))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def payload_window(self, subscription: Subscription | str, start: datetime | None = None,
                       end: datetime | None = None, *, last: int | None = None, source: str | None = None,
                       columns: list[str] | None = None) -> WindowQuery:
        """The payload records scored in [start, end) as a window to read, count or read in chunks (see
        `get_payload` for the arguments)."""
        start, end = check_window(start, end, DataMartError)  # no string reaches a query
        last = check_count(last, "last")
        table = self.payload_table(subscription)
        ts = table.c.scoring_timestamp
        where = [*in_window(ts, start, end), *of_source(table.c.request_id, source)]
        if last is not None:
            where.append(from_newest(ts, where, last))
        return WindowQuery(table, "scoring_timestamp", "scoring_id", tuple(where),
                           None if columns is None else tuple(columns), ("probability",))

    def get_payload(self, subscription: Subscription | str, start: datetime | None = None,
                    end: datetime | None = None, limit: int | None = None, *, last: int | None = None,
                    source: str | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        """Payload records scored in [start, end), oldest first, as a DataFrame: at most `limit` of them (the
        oldest), or only the newest `last` (with any other record stamped with the same time as the oldest of
        them, so the result is the window from that time on); only those of `source` (LIVE or a replay
        prefix) if given; only `columns` (and the ids and times) if given."""
        limit = check_count(limit, "limit")
        if limit is not None and last is not None:
            raise DataMartError("give limit (the oldest records) or last (the newest), not both")
        window = self.payload_window(subscription, start, end, last=last, source=source, columns=columns)
        return window.read(self.engine, window.select(limit=limit))

    # -- maintenance ----------------------------------------------------------------------------
    def lab_table_names(self) -> list[str]:
        names = sa.inspect(self.engine).get_table_names()
        return [n for n in names if n in metadata.tables or n.startswith(PER_SUBSCRIPTION_PREFIXES)]

    def has_data(self) -> bool:
        """Whether any binding or subscription is stored."""
        with self.engine.connect() as conn:
            return any(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                       for t in (bindings, subscriptions))

    def reset(self) -> list[str]:
        """Drop every table of the lab (and only those), then create empty ones. Returns what was dropped."""
        dropped = self.lab_table_names()
        meta = sa.MetaData()
        meta.reflect(self.engine, only=dropped)
        meta.drop_all(self.engine)
        self._tables.clear()
        metadata.create_all(self.engine)
        return dropped
