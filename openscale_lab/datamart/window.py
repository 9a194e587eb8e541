"""One window of a data mart table as a monitor evaluates it: the rows in [start, end) of its time column, of one
source, some columns; read whole, counted, or in chunks of bounded size (keyset pagination on time and id)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from .reading import read_batches, read_frame

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class WindowQuery:
    """The rows of `table` a monitor reads, oldest first (by time, then id); `json_columns` hold JSON texts,
    parsed on reading; `categorical` columns come as pandas Categoricals (a text column of a million records
    holds a few distinct values: hashed once on reading, every later lookup works on small codes); `columns`
    None reads all."""

    table: sa.Table
    time_column: str
    id_column: str
    where: tuple[Any, ...] = ()
    columns: tuple[str, ...] | None = None
    json_columns: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()

    @property
    def selected(self) -> list[sa.Column]:
        if self.columns is None:
            return list(self.table.columns)
        names = dict.fromkeys([self.id_column, self.time_column, *self.columns])
        return [self.table.c[n] for n in names]

    def select(self, after: tuple[Any, Any] | None = None, limit: int | None = None) -> sa.Select:
        """The window's query; with `after`, only rows after that (time, id), as the next chunk of a read."""
        ts, rid = self.table.c[self.time_column], self.table.c[self.id_column]
        query = sa.select(*self.selected).where(*self.where)
        if after is not None:  # (time, id) > after, spelt out: both databases use the time index for it
            query = query.where(sa.or_(ts > after[0], sa.and_(ts == after[0], rid > after[1])))
        query = query.order_by(ts, rid)
        return query.limit(limit) if limit is not None else query

    def count(self, engine: sa.engine.Engine) -> int:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.table).where(*self.where))
                       .scalar_one())

    def frame(self, raw: pd.DataFrame) -> pd.DataFrame:
        """Rows as read (categorical columns already Categoricals, see `read_frame`), with JSON texts parsed."""
        return json_parsed(raw, self.json_columns)

    def read(self, engine: sa.engine.Engine, query: sa.Select | None = None, large: bool = False) -> pd.DataFrame:
        """The window's rows (`query`: some of them); `large`, see `read_frame`."""
        return self.frame(read_frame(engine, self.select() if query is None else query, [self.time_column],
                                     self.categorical, large))

    def stream(self, engine: sa.engine.Engine, rows: int) -> Iterator[pd.DataFrame] | None:
        """The window in parts of about `rows` rows, in no particular order, from one query the database streams
        (one scan, no sort, the next batches read while the caller works on these: PostgreSQL through
        ConnectorX); None where the database cannot stream it (`chunks` pages through it instead)."""
        query = sa.select(*self.selected).where(*self.where)
        batches = read_batches(engine, query, [self.time_column], self.categorical, rows)
        return None if batches is None else (self.frame(part) for part in batches)

    def chunks(self, engine: sa.engine.Engine, rows: int, read_ahead: bool = False,
               large: bool = False) -> Iterator[pd.DataFrame]:
        """The window in chunks of at most `rows` rows, oldest first: memory bounded whatever its size. With
        `read_ahead`, the next chunk is read on another thread while the caller works on this one (for a
        reader that lets go of the interpreter while it waits for the database: two chunks in memory);
        `large`, see `read_frame`."""
        ahead = ThreadPoolExecutor(1, thread_name_prefix="window") if read_ahead else None
        try:
            chunk = self.read(engine, self.select(None, rows), large)
            while True:
                after = None
                if len(chunk) == rows:  # more may follow, from the last (time, id) read on
                    last = chunk.iloc[-1]
                    after = (last[self.time_column].to_pydatetime(), last[self.id_column])
                following = ahead.submit(self.read, engine, self.select(after, rows), large) \
                    if ahead is not None and after is not None else None
                if len(chunk):
                    yield chunk
                if after is None:
                    return
                chunk = following.result() if following is not None else \
                    self.read(engine, self.select(after, rows), large)
        finally:
            if ahead is not None:
                ahead.shutdown(wait=True, cancel_futures=True)


def json_parsed(raw: pd.DataFrame, names: tuple[str, ...]) -> pd.DataFrame:
    """`raw` with the JSON texts of columns `names` parsed (one JSON document per column: row by row costs several
    times more)."""
    import pandas as pd

    for name in names:
        if name in raw:
            texts = raw[name].tolist()
            raw[name] = pd.Series(json.loads("[" + ",".join(texts) + "]"), index=raw.index, dtype=object)
    return raw


def probability_matrix(column: Any) -> np.ndarray:
    """Class probabilities, one row per record, from a column of JSON texts (as stored) or of lists (parsed):
    the texts parsed as one JSON document by orjson (the JSON module's reading, about three times as fast),
    or by the JSON module where orjson refuses one (NaN, which Python's JSON writes)."""
    import orjson

    values = list(column)
    if values and isinstance(values[0], str):
        joined = "[" + ",".join(values) + "]"
        try:
            values = orjson.loads(joined)
        except orjson.JSONDecodeError:
            values = json.loads(joined)
    return np.array(values, dtype=float).reshape(len(values), -1) if values else np.empty((0, 0))


def numbered(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with rows numbered 0..n-1 (as read: itself, not a copy of a million rows)."""
    import pandas as pd

    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    return frame.reset_index(drop=True)
