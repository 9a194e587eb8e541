"""One window of a data mart table as a monitor evaluates it: the rows in [start, end) of its time column, of one
source, some columns; read whole, counted, or in parts of bounded size, oldest first (keyset pages on time and
id, or slices of time cut at its quantiles)."""
from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from .reading import read_frame

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class WindowQuery:
    """The rows of `table` a monitor reads, oldest first (read whole or paged: by time then id; sliced: slice by
    slice of time); `json_columns` hold JSON texts, parsed on reading; `categorical` columns come as
    pandas Categoricals (a text column of a million records holds a few distinct values: hashed once on
    reading, every later lookup works on small codes); `columns` None reads all."""

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

    def slices(self, engine: sa.engine.Engine, rows: int, total: int,
               first: int | None = None) -> Generator[pd.DataFrame, None, None] | None:
        """The window of `total` rows in parts of about `rows` rows (the first of about `first`, when given), cut
        at the quantiles of its time: one query for the cuts, then one per part, which the time index finds
        whatever the planner's statistics say (a page after a (time, id) can make a planner without statistics
        sort the rest of the table for each page); in time order, the next part read while the caller works on
        this one. PostgreSQL only (None elsewhere, and for a window of one part: `chunks` and `read` do those)."""
        if engine.dialect.name != "postgresql" or total <= rows:
            return None
        first = min(first or rows, rows)
        rest = -(-(total - first) // rows)  # parts after the first, of equal size: no last part of a few rows
        ends = [first + (total - first) * k / rest for k in range(rest)]  # the rows before each cut
        # percentile_disc(f) is the ⌈f·total⌉-th time (counting from 1): half a row more makes it the time of row
        # `end` (from 0), so `end` rows come before the cut (`time < cut`), as many as times do not tie
        return self._slices(engine, self._time_cuts(engine, [(end + 0.5) / total for end in ends]))

    def _time_cuts(self, engine: sa.engine.Engine, fractions: list[float]) -> list[Any]:
        """The times that cut the window at these fractions of its rows (fewer cuts where times tie)."""
        ts = self.table.c[self.time_column]
        query = sa.select(sa.func.percentile_disc(sa.literal(fractions, sa.ARRAY(sa.Float))).within_group(ts)).where(
            *self.where)
        with engine.connect() as conn:
            found = conn.execute(query).scalar_one()
        return sorted(set(found or []))

    def _slices(self, engine: sa.engine.Engine, cuts: list[Any]) -> Generator[pd.DataFrame, None, None]:
        ts = self.table.c[self.time_column]
        bounds = [None, *cuts, None]
        queries = [sa.select(*self.selected).where(*self.where, *([ts >= lo] if lo is not None else []),
                                                   *([ts < hi] if hi is not None else []))
                   for lo, hi in zip(bounds[:-1], bounds[1:])]
        with ThreadPoolExecutor(1, thread_name_prefix="window") as ahead:  # closing this waits for a read begun
            following = ahead.submit(self.read, engine, queries[0])
            for query in [*queries[1:], None]:
                part = following.result()
                following = ahead.submit(self.read, engine, query) if query is not None else None
                if len(part):
                    yield part

    def chunks(self, engine: sa.engine.Engine, rows: int, read_ahead: bool = False, large: bool = False,
               first: int | None = None) -> Iterator[pd.DataFrame]:
        """The window in chunks of at most `rows` rows (the first of at most `first`, when given), oldest first:
        memory bounded whatever its size. With `read_ahead`, the next chunk is read on another thread while the
        caller works on this one (for a reader that lets go of the interpreter while it waits for the database:
        two chunks in memory); `large`, see `read_frame`."""
        ahead = ThreadPoolExecutor(1, thread_name_prefix="window") if read_ahead else None
        try:
            limit = min(first or rows, rows)
            chunk = self.read(engine, self.select(None, limit), large)
            while True:
                after = None
                if len(chunk) == limit:  # more may follow, from the last (time, id) read on
                    last = chunk.iloc[-1]
                    after = (last[self.time_column].to_pydatetime(), last[self.id_column])
                limit = rows
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
        flat = _flat_rows(values)
        if flat is not None:
            return flat
        joined = "[" + ",".join(values) + "]"
        try:
            values = orjson.loads(joined)
        except orjson.JSONDecodeError:
            values = json.loads(joined)
    return np.array(values, dtype=float).reshape(len(values), -1) if values else np.empty((0, 0))


def _flat_rows(texts: list[str]) -> np.ndarray | None:
    """The rows of `texts` when every one is a JSON array of the same number of numbers and nothing else (one
    "[" first, one "]" last, as many commas each): their numbers parsed as one flat JSON array, not an array of
    arrays (orjson building a list per row is most of the time: about a third of it this way). None for
    anything else, which the caller parses row by row."""
    import operator
    from itertools import repeat

    import orjson

    commas = texts[0].count(",")
    if set(map(str.count, texts, repeat(","))) != {commas}:
        return None
    if set(map(operator.itemgetter(0), texts)) != {"["} or set(map(operator.itemgetter(-1), texts)) != {"]"}:
        return None
    joined = ",".join(texts)
    if joined.count("[") != len(texts) or joined.count("]") != len(texts):  # a bracket inside a row: not numbers
        return None
    try:
        flat = np.array(orjson.loads("[" + joined.replace("[", "").replace("]", "") + "]"), dtype=float)
    except (orjson.JSONDecodeError, ValueError, TypeError):  # NaN, or not numbers: row by row says what
        return None
    if flat.shape != (len(texts) * (commas + 1),):
        return None
    return flat.reshape(len(texts), commas + 1)


def numbered(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with rows numbered 0..n-1 (as read: itself, not a copy of a million rows)."""
    import pandas as pd

    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    return frame.reset_index(drop=True)
