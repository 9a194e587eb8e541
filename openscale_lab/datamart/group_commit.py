"""Group commit of payload records: the batches of concurrent scoring requests committed together, before replies.

A scoring request replies only once its records are committed: a success reply is a promise that its payload
is in the data mart, even if the server is killed right after. Committing each request on its own costs one
durable flush per request (an fsync of SQLite's WAL, a WAL flush of PostgreSQL) and, done on the event loop,
holds every other request meanwhile. Here the batches queued while a commit runs are inserted together in the
next transaction, with one flush for the group; each request resumes only once the transaction holding its
records has committed, so what was acknowledged is stored, whenever the process dies.

The writer runs on the server's event loop, not in a thread of its own. A writer thread shares the interpreter
lock with the loop: back from its commit, it waits for the busy loop to let go (up to the 5 ms switch interval),
and measured slower than this, with more CPU per request. PostgreSQL is written through asyncio connections, so
the loop keeps scoring while a commit travels, and two transactions may be committing at once: the next group
starts as soon as it gathers, and PostgreSQL flushes its WAL once for commits that meet. SQLite has no
asynchronous interface: its insert and commit (an fsync, about a millisecond) hold the loop once per group
instead of once per request.

If a group's transaction fails, its batches are committed one by one, so a batch the database refuses fails
alone (nothing of it stored) and the others are stored.
"""
from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import DataMartError

# A group stops taking batches at this many records: one transaction stays bounded in time and memory (a
# batch bigger than this still goes whole, alone)
MAX_GROUP_ROWS = 20_000
# SQLite: records per INSERT statement at most (one statement of many rows binds and steps faster than
# executemany); each value is a bound parameter, within the library's limit (32 766 since SQLite 3.32, 999 before)
ROWS_PER_INSERT = 500
# PostgreSQL transactions committing at once, each on its own connection (three measured no better than two)
POSTGRES_IN_FLIGHT = 2
WRITER_CLOSED = "the data mart's payload writer is shut down"

Rows = Sequence[Sequence[Any]]
Batch = tuple[Rows, "asyncio.Future[None]"]


class PayloadWriter:
    """Inserts rows of `columns` (in that order, values as the database driver takes them) into `table` from one
    event loop; batches stored while a commit runs share the next transaction (group commit).

    `time_value` turns a datetime into what the driver stores for the table's timestamp column (SQLite keeps
    SQLAlchemy's text form): a request converts its time once, not once per record. `in_flight`: PostgreSQL
    transactions that may commit at once (SQLite: always one).
    """

    def __init__(self, engine: Engine, table: sa.Table, columns: Sequence[str], *,
                 max_group_rows: int = MAX_GROUP_ROWS, in_flight: int | None = None) -> None:
        unknown = [c for c in columns if c not in table.c]
        if unknown:
            raise DataMartError(f"table {table.name} has no column(s) {', '.join(unknown)}")
        self.columns = list(columns)
        self.max_group_rows = max_group_rows
        dialect = engine.dialect
        quote = dialect.identifier_preparer
        target = f"{quote.format_table(table)} ({', '.join(quote.quote(c) for c in self.columns)})"
        if dialect.name == "postgresql":
            self._idle: list[_Connection] = [_PostgresConnection(engine, f"COPY {target} FROM STDIN")
                                             for _ in range(in_flight or POSTGRES_IN_FLIGHT)]
        else:  # SQLite writes block the loop: one at a time is all there can be
            self._idle = [_SQLiteConnection(engine, f"INSERT INTO {target} VALUES ", len(self.columns))]
        self._connections = list(self._idle)
        stamp = table.c.get("scoring_timestamp")
        self._time_processor: Callable[[datetime], Any] | None = (
            stamp.type.dialect_impl(dialect).bind_processor(dialect) if stamp is not None else None)
        self._pending: deque[Batch] = deque()
        self._flushers: set[asyncio.Task[None]] = set()
        self._starting = False  # a flusher is created and has not yet taken its first group
        self._closed = False
        # what the writer did, for benchmarks and tests: transactions committed, batches stored, failed groups
        # split into single batches
        self.groups = 0
        self.batches = 0
        self.fallbacks = 0

    def time_value(self, when: datetime) -> Any:
        """`when` as the driver stores it in the table's timestamp column."""
        return self._time_processor(when) if self._time_processor else when

    async def store(self, rows: Rows) -> None:
        """Store `rows` all or none, returning once committed (in a transaction shared with the batches stored
        meanwhile); raises what the database raised if they were not stored, DataMartError once closed."""
        if self._closed:
            raise DataMartError(WRITER_CLOSED)
        future = asyncio.get_running_loop().create_future()
        self._pending.append((rows, future))
        if self._idle and not self._starting:  # it runs once the requests scheduled so far have queued theirs too
            self._starting = True
            flusher = asyncio.create_task(self._flush(self._idle.pop()))
            self._flushers.add(flusher)
            flusher.add_done_callback(self._flushers.discard)
        await future

    async def close(self) -> None:
        """Refuse new batches, commit the ones already queued, then close the connections."""
        self._closed = True
        while self._flushers:
            await asyncio.wait(set(self._flushers))
        for connection in self._connections:
            await connection.close()

    # -- the group commit ------------------------------------------------------------------------
    async def _flush(self, connection: _Connection) -> None:
        """Commit groups on `connection` until nothing is queued: what queues while a commit runs makes the next
        group."""
        self._starting = False
        try:
            while self._pending:
                group = [self._pending.popleft()]
                size = len(group[0][0])
                while self._pending and size + len(self._pending[0][0]) <= self.max_group_rows:
                    group.append(self._pending.popleft())
                    size += len(group[-1][0])
                try:
                    await self._commit(connection, group)
                except BaseException as exc:  # cancelled mid-commit: no caller may wait for ever
                    for _, future in group:
                        _settle(future, DataMartError(f"the payload commit was interrupted: {exc!r}"))
                    if len(self._flushers) <= 1:  # and none is left to commit what is queued
                        while self._pending:
                            _settle(self._pending.popleft()[1], DataMartError(WRITER_CLOSED))
                    raise
        finally:
            self._idle.append(connection)

    async def _commit(self, connection: _Connection, group: list[Batch]) -> None:
        """Commit the group in one transaction, or else each batch on its own; resume every batch's caller."""
        try:
            await connection.write(itertools.chain.from_iterable(rows for rows, _ in group))
        except Exception as exc:
            await connection.recover()
            if len(group) == 1:
                _settle(group[0][1], exc)
                return
            self.fallbacks += 1
            for rows, future in group:  # one bad batch must not fail the others: each alone, all or nothing
                try:
                    await connection.write(rows)
                except Exception as alone:
                    await connection.recover()
                    _settle(future, alone)
                else:
                    self.groups += 1
                    self.batches += 1
                    _settle(future, None)
            return
        self.groups += 1
        self.batches += len(group)
        for _, future in group:
            _settle(future, None)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():  # its request was cancelled meanwhile (the records may still be stored: never the reverse)
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class _Connection:
    """The writer's own connection: write rows in one committed transaction, recover after a failure."""

    async def write(self, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    async def recover(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class _SQLiteConnection(_Connection):
    """A pooled SQLite connection, with the data mart's pragmas (WAL, synchronous=FULL), used from the event loop's
    thread: each write blocks the loop for its inserts and one commit."""

    def __init__(self, engine: Engine, insert: str, width: int) -> None:
        self.engine = engine
        self.insert = insert  # "INSERT INTO table (columns) VALUES ", rows to follow
        self.row = f"({', '.join(['?'] * width)})"
        self.width = width
        self.rows_per_insert = 1
        self.conn: Any = None  # opened on first use

    async def write(self, rows: Iterable[Sequence[Any]]) -> None:
        if self.conn is None:
            self.conn = self.engine.raw_connection()
            most = self.conn.driver_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            self.rows_per_insert = max(1, min(ROWS_PER_INSERT, most // self.width))
        cursor = self.conn.cursor()
        try:
            it = iter(rows)
            while chunk := list(itertools.islice(it, self.rows_per_insert)):
                # the statement's text depends only on the number of rows: the driver's statement cache reuses it
                cursor.execute(self.insert + ", ".join([self.row] * len(chunk)),
                               list(itertools.chain.from_iterable(chunk)))
        finally:
            cursor.close()
        self.conn.commit()

    async def recover(self) -> None:
        """Roll back; a connection that cannot is dropped (the next write opens another)."""
        if self.conn is None:
            return
        try:
            self.conn.rollback()
        except Exception:
            try:
                self.conn.invalidate()
            except Exception:  # already unusable: dropping our reference is all there is left to do
                pass
            self.conn = None

    async def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            conn.close()


class _PostgresConnection(_Connection):
    """An asyncio psycopg connection on the event loop, made with the engine's own connection arguments: the loop
    keeps serving while a commit waits for the server. Rows go by COPY, which takes one record or a thousand at
    a fraction of the cost of a statement per record."""

    def __init__(self, engine: Engine, copy: str) -> None:
        self.args, self.params = engine.dialect.create_connect_args(engine.url)
        self.copy = copy
        self.conn: Any = None  # opened on first use

    async def write(self, rows: Iterable[Sequence[Any]]) -> None:
        import psycopg

        if self.conn is None:
            self.conn = await psycopg.AsyncConnection.connect(*self.args, **self.params)
        async with self.conn.cursor() as cursor, cursor.copy(self.copy) as copy:
            for row in rows:
                await copy.write_row(row)
        await self.conn.commit()

    async def recover(self) -> None:
        """Roll back; a broken connection is closed (the next write opens another)."""
        if self.conn is None:
            return
        try:
            await self.conn.rollback()
        except Exception:
            await self.close()

    async def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            try:
                await conn.close()
            except Exception:  # already broken: nothing left to release
                pass
