"""aiosqlite connections whose statements cost one hand-off to the connection's thread.

aiosqlite runs every sqlite3 call on the connection's own thread, and SQLAlchemy's adapter
makes four calls per statement (open a cursor, execute, fetch, close): four thread hand-offs
of ~0.1 ms each, ~2 ms for a feed page of five statements. Here a cursor opens without a call,
and `execute` runs the statement, fetches its rows and closes the sqlite3 cursor in one call;
fetches and `close` then read what that call kept; a commit or rollback outside a transaction
costs no call. Plugged in through SQLAlchemy's
`do_connect` event (`create_one_hop_engine`), with the arguments SQLAlchemy computed.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from typing import TYPE_CHECKING, Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.pool import PoolResetState

Description = tuple[tuple[str, None, None, None, None, None, None], ...] | None


class OneHopCursor:
    """The cursor SQLAlchemy's aiosqlite adapter drives, with what each statement left."""

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self._rows: deque[Any] = deque()
        self.description: Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> OneHopCursor:
        given = () if parameters is None else parameters
        await self._run(lambda cursor: cursor.execute(sql, given))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> OneHopCursor:
        await self._run(lambda cursor: cursor.executemany(sql, parameters))
        return self

    async def _run(self, call: Callable[[sqlite3.Cursor], object]) -> None:
        """`call` on a new sqlite3 cursor, its rows fetched and the cursor closed: one call on
        the connection's thread."""

        def run(raw: sqlite3.Connection) -> tuple[list[Any], Description, int, int | None]:
            cursor = raw.cursor()
            try:
                call(cursor)
                rows = cursor.fetchall() if cursor.description else []
                return rows, cursor.description, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        connection = self._connection
        rows, self.description, self.rowcount, self.lastrowid = await connection._execute(
            run, connection._conn
        )
        self._rows = deque(rows)

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = min(len(self._rows), self.arraysize if size is None else size)
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()


class OneHopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors are `OneHopCursor`s, and whose commit and
    rollback cost no hand-off when no transaction is open (a request that only read: its
    session's close would otherwise wait on the thread for a ROLLBACK that undoes nothing)."""

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    async def commit(self) -> None:
        if self._conn.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            await super().rollback()


def _connect(database: str, **kwargs: Any) -> OneHopConnection:
    """As `aiosqlite.connect`, with a daemon thread (as SQLAlchemy makes aiosqlite's)."""
    connection = OneHopConnection(lambda: sqlite3.connect(database, **kwargs), 64)
    connection._thread.daemon = True
    return connection


def create_one_hop_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """A SQLite engine whose connections are `OneHopConnection`s, and whose pool rolls a
    returned connection back only when it is still in a transaction. (A session's close has
    rolled back already; the pool's own ROLLBACK would cost a second hand-off per request.)"""
    engine = create_async_engine(url, pool_reset_on_return=None, **kwargs)

    @event.listens_for(engine.sync_engine, "do_connect")
    def _do_connect(dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        return dialect.loaded_dbapi.connect(*cargs, async_creator_fn=_connect, **cparams)

    @event.listens_for(engine.sync_engine, "reset")
    def _reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
        if state.terminate_only or not state.asyncio_safe:
            return  # the pool terminates the connection instead
        if dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()

    return engine
