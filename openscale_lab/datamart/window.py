"""One window of a data mart table as a monitor evaluates it: the rows in [start, end) of its time column, of one
source, some columns; read whole, counted, or in chunks of bounded size (keyset pagination on time and id)."""
from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
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
        """Rows as read, with JSON texts parsed and categorical columns as Categoricals."""
        for name in self.categorical:
            if name in raw and raw[name].dtype == object:
                raw[name] = raw[name].astype("category")
        return json_parsed(raw, self.json_columns)

    def read(self, engine: sa.engine.Engine, query: sa.Select | None = None, large: bool = False) -> pd.DataFrame:
        """The window's rows (`query`: some of them); `large`, see `read_frame`."""
        return self.frame(read_frame(engine, self.select() if query is None else query, [self.time_column],
                                     self.categorical, large))


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
            found = number_lists(texts)
            parsed = found if found is not None else json.loads("[" + ",".join(texts) + "]")
            raw[name] = pd.Series(parsed, index=raw.index, dtype=object)
    return raw


NUMBER_TEXT = np.zeros(256, dtype=bool)
NUMBER_TEXT[list(b"0123456789.eE+-, []")] = True


def number_matrix(texts: list[str]) -> np.ndarray | None:
    """Texts that are each a flat JSON list of the same count of numbers (a probability column) as one array of
    floats, row by text, parsed by NumPy at once as the JSON parser would parse them (both round correctly);
    None for anything else (the JSON parser then reads it). Written here because no JSON library reads a
    column of small lists into one array: a million probability lists take a third of the JSON parser's time."""
    n = len(texts)
    joined = ",".join(texts)
    if not n or not joined.isascii():
        return None
    raw = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    if not NUMBER_TEXT[raw].all():
        return None
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    starts = np.concatenate([[0], np.cumsum(lengths[:-1] + 1)])
    ends = starts + lengths - 1
    if not ((raw[starts] == ord("[")).all() and (raw[ends] == ord("]")).all()
            and np.count_nonzero(raw == ord("[")) == n and np.count_nonzero(raw == ord("]")) == n):
        return None  # each text is one "[...]", nothing nested
    packed = joined.replace(" ", "")
    if any(empty in packed for empty in ("[]", "[,", ",,", ",]")):  # an empty list or element
        return None
    commas = np.searchsorted(np.flatnonzero(raw == ord(",")), np.append(starts, len(raw)))
    per_text = np.diff(commas)  # commas up to the next text, the one joining them included
    per_text[:-1] -= 1
    k = int(per_text[0]) + 1
    if not (per_text == k - 1).all():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy warns, and stops, at text that is not a number
        try:
            values = np.fromstring(joined.replace("[", " ").replace("]", " "), sep=",")
        except (DeprecationWarning, ValueError):
            return None
    return values.reshape(n, k) if len(values) == n * k else None


def number_lists(texts: list[str]) -> list[list[float]] | None:
    """`number_matrix` as lists, as the JSON parser gives them."""
    found = number_matrix(texts)
    return None if found is None else found.tolist()


def probability_matrix(column: Any) -> np.ndarray:
    """Class probabilities, one row per record, from a column of JSON texts (as stored) or of lists (parsed)."""
    values = list(column)
    if values and isinstance(values[0], str):
        found = number_matrix(values)
        if found is not None:
            return found
        values = json.loads("[" + ",".join(values) + "]")
    return np.array(values, dtype=float).reshape(len(values), -1)


def numbered(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with rows numbered 0..n-1 (as read: itself, not a copy of a million rows)."""
    import pandas as pd

    index = frame.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return frame
    return frame.reset_index(drop=True)
