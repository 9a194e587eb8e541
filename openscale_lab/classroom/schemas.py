"""One PostgreSQL schema per student on the class's server: made, emptied and dropped here, and each student's
data mart URL, which sets the schema as the connection's search path (every part of the lab connects through it:
SQLAlchemy, the psycopg reader and the JDBC reader of the Spark engine)."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

from ..datamart.database import redact
from .roster import ClassroomError

# a student's running notebook may hold a lock on their tables: wait this long, then say so, never hang
LOCK_TIMEOUT = "10s"


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


def connect(server_url: str) -> sa.Engine:
    """An engine on the class's server, once it answers; ClassroomError saying what failed otherwise."""
    engine = sa.create_engine(server_url, pool_pre_ping=True)
    try:
        with engine.connect():
            pass
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise ClassroomError(f"cannot reach the class's database at {redact(server_url)}: {reason}. Check that "
                             "PostgreSQL runs there and that the database exists") from None
    return engine


def _locked(fn: str, schema: str, exc: sa.exc.OperationalError) -> ClassroomError:
    return ClassroomError(f"could not {fn} schema {schema}: {str(exc.orig).strip().splitlines()[0]}. A running "
                          "notebook or server of the student may hold it: stop it (the student's server in "
                          "JupyterHub, or openscale-lab deployment stop) and try again")


def create_schema(engine: sa.Engine, schema: str) -> bool:
    """Make the schema if it is missing; whether it was made."""
    with engine.begin() as conn:
        found = conn.execute(sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                             {"s": schema}).first()
        if not found:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    return not found


def drop_schema(engine: sa.Engine, schema: str, recreate: bool = False) -> None:
    """Drop the schema and everything in it (then make it again, empty, when `recreate`)."""
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            if recreate:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        raise _locked("empty" if recreate else "drop", schema, exc) from None


def schema_tables(engine: sa.Engine, schema: str) -> int:
    """How many tables the schema holds (0 if it is missing)."""
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
                                {"s": schema}).scalar_one())
