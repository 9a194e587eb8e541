"""Reading query results into pandas fast.

pandas reads through SQLAlchemy's result rows, which convert every value in Python (a million payload
records of 23 columns took 20 s from SQLite). Here:
- PostgreSQL is read by ConnectorX, in native code straight into columns (a few seconds for the same rows);
  a monitor's window as Arrow, its text columns dictionary-encoded there into pandas Categoricals;
- SQLite is read by its own driver's cursor, the frame built column-wise and times parsed by pandas in one
  vectorised step; a large monitor window (`large`) by ConnectorX in a child process (`sqlite_native`: its
  SQLite library in this process would break the file locks of the lab's own, see there).
Frames come out with the types pandas' own reader gives (int64 where no value is missing, datetime64[ns],
text as objects, or Categoricals where asked for), so a monitor sees the same frame whichever reader ran.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import LabError
from .sqlite_native import read_arrow

if TYPE_CHECKING:
    import pandas as pd

SEARCH_PATH = re.compile(r"-c\s*search_path=([A-Za-z_][A-Za-z0-9_]*)")


def connectorx_url(engine: sa.engine.Engine) -> tuple[str, str | None] | None:
    """The URL ConnectorX takes for `engine`'s PostgreSQL database and the schema tables are in (None: the
    default), or None where it does not read it."""
    url = engine.url
    if url.get_backend_name() != "postgresql" or not url.database:
        return None
    try:
        schema = search_path_schema(url)
    except LabError:
        return None  # options ConnectorX cannot pass on: pandas' reader goes through the lab's own connection
    plain = url.set(drivername="postgresql", query={})
    return plain.render_as_string(hide_password=False), schema


def search_path_schema(url: sa.engine.URL) -> str | None:
    """The schema a PostgreSQL URL's connection options put first on the search path (a lab in its own schema:
    `options=-csearch_path=<schema>`), None without options; LabError for options the lab cannot carry over to
    another reader (ConnectorX, JDBC)."""
    options = url.query.get("options")
    if not options:
        return None
    found = SEARCH_PATH.fullmatch(options if isinstance(options, str) else " ".join(options))
    if found is None:
        raise LabError(f"data mart URL options {options!r}: only -csearch_path=<schema> can be passed on to "
                       "other readers of the data mart")
    return found.group(1)


def read_frame(engine: sa.engine.Engine, query: Any, datetimes: list[str],
               categorical: Sequence[str] = (), large: bool = False) -> pd.DataFrame:
    """The rows of `query` (a SQLAlchemy select) as a DataFrame with `datetimes` parsed and the text columns
    `categorical` as pandas Categoricals (a monitor's window: on PostgreSQL, read as Arrow and dictionary-encoded
    there, so no Python text is made per value). `large`: the caller expects at least `NATIVE_ROWS` rows, which
    a SQLite data mart has read natively in a child process (`sqlite_native`)."""
    return _categorical(_read(engine, query, datetimes, categorical, large), categorical)


def _read(engine: sa.engine.Engine, query: Any, datetimes: list[str], categorical: Sequence[str],
          large: bool) -> pd.DataFrame:
    import pandas as pd

    if engine.url.get_backend_name() == "sqlite":
        database = engine.url.database
        if large and database and database != ":memory:" and not database.startswith("file:"):
            table = read_arrow(os.path.abspath(database), compiled_sql(engine, query))
            if table is not None and table.num_rows and table.num_columns == len(query.selected_columns):
                return _from_arrow(table, datetimes, categorical)
        frame = _read_sqlite(engine, query, datetimes)
        if frame is not None:
            return frame
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
    names = [c.name for c in query.selected_columns]
    if categorical:
        table = cx.read_sql(url, compiled_sql(engine, query, schema), return_type="arrow")
        if table.num_rows and table.num_columns == len(names):
            return _from_arrow(table, datetimes, categorical)
    frame = cx.read_sql(url, compiled_sql(engine, query, schema))
    if frame.empty and len(frame.columns) != len(names):
        with engine.connect() as conn:  # typed empty frame, as pandas gives it
            return pd.read_sql(query, conn, parse_dates=datetimes)
    for name in frame.columns:
        col = frame[name]
        if name in datetimes:
            frame[name] = pd.to_datetime(col).astype("datetime64[ns]")
        elif isinstance(col.dtype, pd.Int64Dtype):  # int64, or float64 with NaN where a value is missing
            frame[name] = col.astype("float64") if col.isna().any() else col.astype("int64")
        elif isinstance(col.dtype, pd.Float64Dtype):
            frame[name] = col.astype("float64")
    return frame


def _from_arrow(table: Any, datetimes: list[str], categorical: Sequence[str]) -> pd.DataFrame:
    """An Arrow table as the frame pandas' reader gives, with `categorical` text columns dictionary-encoded."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in categorical:
        if name in table.column_names and pa.types.is_string(table.schema.field(name).type):
            table = table.set_column(table.column_names.index(name), name, pc.dictionary_encode(table[name]))
    # integers with a missing value become float64, as pandas' reader has them; Arrow's buffers are let go
    # column by column as pandas takes them (a chunk of a window is not held twice)
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    del table
    for name in categorical:  # categories in order, as pandas makes them (Arrow's: in order of appearance)
        if name in frame and isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].cat.reorder_categories(sorted(frame[name].cat.categories))
    for name in datetimes:
        if name in frame:
            frame[name] = frame[name].astype("datetime64[ns]")
    return frame


def _categorical(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    for name in names:
        if name in frame and frame[name].dtype == object:
            frame[name] = frame[name].astype("category")
    return frame


def _read_sqlite(engine: sa.engine.Engine, query: Any, datetimes: list[str]) -> pd.DataFrame | None:
    """Rows through sqlite3's cursor, built into columns at once; None for no rows (pandas types those)."""
    import pandas as pd

    compiled = query.compile(dialect=engine.dialect)  # SQLite's parameters are positional (qmark)
    params = compiled.construct_params()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(str(compiled), [_sqlite_value(engine, params[name]) for name in compiled.positiontup])
        names = [d[0] for d in cur.description]
        rows = cur.fetchall()
    finally:
        raw.close()
    if not rows:
        return None
    frame = pd.DataFrame.from_records(rows, columns=names)
    for name in datetimes:
        if name in frame:
            frame[name] = pd.to_datetime(frame[name], format="ISO8601").astype("datetime64[ns]")
    return frame


def _sqlite_value(engine: sa.engine.Engine, value: Any) -> Any:
    """A bound value as SQLAlchemy stores it in SQLite (times as its text form, which compares in order)."""
    from datetime import datetime

    if isinstance(value, datetime):
        return sa.DateTime().dialect_impl(engine.dialect).bind_processor(engine.dialect)(value)
    return value


def compiled_sql(engine: sa.engine.Engine, query: Any, schema: str | None = None) -> str:
    """`query` as one SQL text for `engine`'s database, values written in (they are times, counts and id
    prefixes the lab checked, quoted by SQLAlchemy), tables in `schema` if given."""
    translate = {None: schema} if schema else None
    sql = str(query.compile(dialect=engine.dialect, schema_translate_map=translate,
                            compile_kwargs={"literal_binds": True, "render_schema_translate": bool(translate)}))
    if schema:  # tables named in the lab's schema, as the search path would have found them
        sql = sql.replace("__[SCHEMA__none].", engine.dialect.identifier_preparer.quote_schema(schema) + ".")
    if engine.dialect.paramstyle in ("format", "pyformat"):  # the driver would read %% as %; other readers won't
        sql = sql.replace("%%", "%")
    return sql
