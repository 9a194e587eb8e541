"""One PostgreSQL schema per student on the class's server: made, emptied and dropped here, and each student's
data mart URL, which sets the schema as the connection's search path (every part of the lab connects through it:
SQLAlchemy, the native reader and the JDBC reader of the Spark engine). Each schema is stamped with its
classroom's id, and a classroom drops only schemas that bear its own stamp."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

from ..datamart.database import redact
from .roster import ClassroomError

# a student's running notebook may hold a lock on their tables: wait this long, then say so, never hang
LOCK_TIMEOUT = "10s"
STAMP = "openscale-lab classroom {}"


def check_server_url(url: str) -> str:
    """`url` if it names a PostgreSQL database with no search path of its own, else ClassroomError."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgresql"):
        raise ClassroomError(f"--datamart-url must be a PostgreSQL URL (postgresql+psycopg://user@host:5432/db), "
                             f"got {redact(url)!r}: a classroom shares one database server")
    if any(key == "options" for key, _ in parse_qsl(parts.query)):
        raise ClassroomError("--datamart-url: leave out options=...; the classroom sets each student's schema")
    if parts.scheme == "postgresql":  # the lab's driver is psycopg 3
        url = urlunsplit(parts._replace(scheme="postgresql+psycopg"))
    return url


def student_url(server_url: str, schema: str) -> str:
    """The data mart URL of a student: the class's server with `schema` as the search path."""
    parts = urlsplit(server_url)
    query = parse_qsl(parts.query) + [("options", f"-csearch_path={schema}")]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def connect(server_url: str) -> sa.Engine:
    """An engine on the class's server, once it answers; ClassroomError saying what failed otherwise."""
    try:
        engine = sa.create_engine(server_url, pool_pre_ping=True)
    except (sa.exc.SQLAlchemyError, ValueError, ImportError) as exc:
        raise ClassroomError(f"--datamart-url {redact(server_url)}: {_reason(exc)}") from None
    try:
        with engine.connect():
            pass
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise ClassroomError(f"cannot reach the class's database at {redact(server_url)}: {_reason(exc)}. Check "
                             "that PostgreSQL runs there and that the database exists") from None
    return engine


def _stamp_of(conn: sa.Connection, schema: str) -> str | None:
    """The schema's stamp ('' if it has none), or None when there is no such schema."""
    row = conn.execute(sa.text("SELECT coalesce(obj_description(oid, 'pg_namespace'), '') FROM pg_namespace "
                               "WHERE nspname = :s"), {"s": schema}).first()
    return None if row is None else str(row[0])


def create_schema(engine: sa.Engine, schema: str, class_id: str) -> None:
    """Make the schema, stamped with the classroom's id, unless this classroom made it already; ClassroomError
    when a schema of that name belongs to something else."""
    stamp = STAMP.format(class_id)
    try:
        with engine.begin() as conn:
            found = _stamp_of(conn, schema)
            if found is None:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                conn.execute(sa.text(f"COMMENT ON SCHEMA \"{schema}\" IS '{stamp}'"))
            elif found != stamp:
                raise ClassroomError(f"schema {schema} exists already on the class's database and is not this "
                                     "classroom's: nothing of it is used or changed (another classroom's, or "
                                     "something else's)")
    except sa.exc.SQLAlchemyError as exc:
        raise ClassroomError(f"could not make schema {schema}: {_reason(exc)}") from None


def drop_schema(engine: sa.Engine, schema: str, class_id: str, recreate: bool = False) -> None:
    """Drop the classroom's schema and everything in it (then make it again, empty, when `recreate`); a schema
    that is not the classroom's is never dropped."""
    stamp = STAMP.format(class_id)
    try:
        with engine.begin() as conn:
            found = _stamp_of(conn, schema)
            if found is not None and found != stamp:
                raise ClassroomError(f"schema {schema} is not this classroom's: it is left as it is")
            conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            if recreate:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
                conn.execute(sa.text(f"COMMENT ON SCHEMA \"{schema}\" IS '{stamp}'"))
    except sa.exc.SQLAlchemyError as exc:
        raise ClassroomError(f"could not {'empty' if recreate else 'drop'} schema {schema}: {_reason(exc)}. A "
                             "running notebook or server of the student may hold it: stop it (the student's server "
                             "in JupyterHub, or openscale-lab deployment stop) and try again") from None
