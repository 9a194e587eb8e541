"""Reading query results into pandas fast: ConnectorX where it serves the database, pandas otherwise.

Why ConnectorX: pandas reads through the Python driver, which builds a Python object per value (a million
payload records of 23 columns took 20 s from SQLite, most of it in the driver and in pandas' conversion);
ConnectorX reads in native code straight into columns (about 4 s for the same query), from SQLite and
PostgreSQL alike. Its frames are brought to the types pandas' own reader gives (int64 where no value is
missing, datetime64[ns], text as objects), so a monitor sees the same frame whichever reader ran.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    import pandas as pd

FAST_DIALECTS = {"sqlite": "sqlite://", "postgresql": "postgresql://"}
SEARCH_PATH = re.compile(r"-c\s*search_path=([A-Za-z_][A-Za-z0-9_]*)")


def connectorx_url(engine: sa.engine.Engine) -> tuple[str, str | None] | None:
    """The URL ConnectorX takes for `engine`'s database and the schema tables are in (None: the default), or
    None where it cannot read it."""
    url = engine.url
    prefix = FAST_DIALECTS.get(url.get_backend_name())
    if prefix is None or not url.database or url.database == ":memory:" or url.query.get("mode"):
        return None
    if prefix == "sqlite://":
        return prefix + url.database, None
    schema = None
    options = url.query.get("options")
    if options:  # a lab in its own schema: `options=-csearch_path=<schema>`, which ConnectorX does not pass on
        found = SEARCH_PATH.fullmatch(options if isinstance(options, str) else " ".join(options))
        if found is None:
            return None
        schema = found.group(1)
    plain = url.set(drivername="postgresql", query={})
    return plain.render_as_string(hide_password=False), schema


def read_frame(engine: sa.engine.Engine, query: Any, datetimes: list[str]) -> pd.DataFrame:
    """The rows of `query` (a SQLAlchemy select) as a DataFrame with `datetimes` parsed."""
    import pandas as pd

    fast = connectorx_url(engine)
    if fast is not None:
        try:
            import connectorx as cx
        except ImportError:
            fast = None
    if fast is None:
        with engine.connect() as conn:
            return pd.read_sql(query, conn, parse_dates=datetimes)
    url, schema = fast
    frame = cx.read_sql(url, compiled_sql(engine, query, schema))
    names = [c.name for c in query.selected_columns]
    if frame.empty and len(frame.columns) != len(names):
        with engine.connect() as conn:  # typed empty frame, as pandas gives it
            return pd.read_sql(query, conn, parse_dates=datetimes)
    for name in frame.columns:
        col = frame[name]
        if name in datetimes:
            frame[name] = pd.to_datetime(col).astype("datetime64[ns]")
        elif isinstance(col.dtype, pd.Int64Dtype) and not col.isna().any():
            frame[name] = col.astype("int64")
        elif isinstance(col.dtype, pd.Float64Dtype):
            frame[name] = col.astype("float64")
    return frame


def compiled_sql(engine: sa.engine.Engine, query: Any, schema: str | None = None) -> str:
    """`query` as one SQL text for `engine`'s database, values written in (they are times, counts and id
    prefixes the lab checked, quoted by SQLAlchemy), tables in `schema` if given."""
    translate = {None: schema} if schema else None
    sql = str(query.compile(dialect=engine.dialect, schema_translate_map=translate,
                            compile_kwargs={"literal_binds": True, "render_schema_translate": bool(translate)}))
    if schema:  # tables named in the lab's schema, as the search path would have found them
        sql = sql.replace("__[SCHEMA__none]", engine.dialect.identifier_preparer.quote_schema(schema))
    return sql
