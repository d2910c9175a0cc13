"""aiosqlite connections whose statements cost one hand-off to the connection's thread.

aiosqlite runs every sqlite3 call on the connection's own thread, and SQLAlchemy's adapter
makes four calls per statement (open a cursor, execute, fetch, close): four thread hand-offs
of ~0.1 ms each, ~2 ms for a feed page of five statements. Here a cursor opens without a call,
and `execute` runs the statement, fetches its rows and closes the sqlite3 cursor in one call;
fetches and `close` then read what that call kept; a commit or rollback outside a transaction
costs no call. Plugged in through SQLAlchemy's
`do_connect` event (`create_one_hop_engine`), with the arguments SQLAlchemy computed.

SQLite has one writer per file. A connection that waits for the write lock inside SQLite
polls for it from its thread, sleeping up to 100 ms between tries, so under many writers the
lock sits idle between holders while waiters sleep. Here the connections of one process (per
event loop) queue for the write lock on an asyncio lock (`WriterGate`) first: a statement that
starts a write transaction (INSERT, UPDATE, DELETE, REPLACE, BEGIN outside a transaction) waits
its turn in order, and the connection passes the turn on as soon as its transaction ends.
Other processes still meet SQLite's own lock and busy timeout; a connection that waits longer
than the busy timeout at the gate goes on without it (and meets SQLite's lock, as before).

A write transaction costs no hand-off when the lock is free: at its turn, the connection runs
the statement that takes SQLite's write lock on the event loop's thread with the busy timeout
at 0, and only when another process holds the lock (SQLITE_BUSY) runs it again on its own
thread, where SQLite waits for it. Once the lock is held nothing in SQLite waits (WAL: readers
never block the writer, and a commit does not wait for readers), so the transaction's later
statements, its commit and its rollback run there too (`write_locked`): no other task of the
loop runs, and no other writer waits, while a connection holds the lock. A statement run there
blocks the loop for as long as SQLite takes, so what may be long stays on the thread: every
executemany, a statement with over `SMALL_STATEMENT_PARAMETERS` parameters, and the rest of a
transaction (its commit too) once one of its statements took over `SLOW_STATEMENT_SECONDS` of
CPU here. The reads a mutation checks come before its first write, on the thread. SQLite's
commit runs a WAL checkpoint when the log passes 1,000 pages: a few ms, with one fsync at
`synchronous=NORMAL`, on the loop when the commit runs there.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import aiosqlite
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.pool import PoolResetState

_T = TypeVar("_T")
Description = tuple[tuple[str, None, None, None, None, None, None], ...] | None

# Statements after which the sqlite3 driver holds a write transaction (it opens one before
# the first INSERT, UPDATE, DELETE or REPLACE; BEGIN opens one explicitly).
_WRITE_STARTS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN")
# A statement with more parameters than this (a multi-row insert, a long IN list) and any
# executemany run on the connection's thread, even in a write transaction: they may take long.
SMALL_STATEMENT_PARAMETERS = 100
# A write transaction's statement that took more CPU than this on the event loop's thread (a
# large INSERT ... SELECT, say) sends the transaction's later ones, and its commit, to the
# connection's thread: other requests' reads go on meanwhile.
SLOW_STATEMENT_SECONDS = 0.002
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def starts_write(sql: str) -> bool:
    return sql.lstrip()[:7].upper().startswith(_WRITE_STARTS)


def locks_for_writing(sql: str) -> bool:
    """Whether `sql`, having run without error, leaves its connection holding SQLite's write
    lock until the transaction ends (a deferred BEGIN takes no lock)."""
    head = sql.lstrip()[:16].upper()
    return not head.startswith("BEGIN") or head.split()[1:2] in (["IMMEDIATE"], ["EXCLUSIVE"])


def writer_gate(database: str) -> asyncio.Lock | None:
    """The asyncio lock this event loop's connections to `database` take before writing
    (None for an in-memory database: each connection has its own)."""
    if database == ":memory:" or "mode=memory" in database:
        return None
    per_loop = _gates.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(database, asyncio.Lock())


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
        small = len(given) <= SMALL_STATEMENT_PARAMETERS
        await self._run(sql, lambda cursor: cursor.execute(sql, given), small)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> OneHopCursor:
        await self._run(sql, lambda cursor: cursor.executemany(sql, parameters), False)
        return self

    async def _run(self, sql: str, call: Callable[[sqlite3.Cursor], object], small: bool) -> None:
        """`call` on a new sqlite3 cursor, its rows fetched and the cursor closed: one call on
        the connection's thread (after the connection's turn at the writer gate, when `sql`
        starts a write transaction), or, for a `small` statement of a write transaction, on
        the event loop's thread (the module's docstring says when)."""

        def run(raw: sqlite3.Connection) -> tuple[list[Any], Description, int, int | None]:
            cursor = raw.cursor()
            try:
                call(cursor)
                rows = cursor.fetchall() if cursor.description else []
                return rows, cursor.description, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        connection = self._connection
        if small and connection.runs_here:
            # The write lock is this connection's: nothing in SQLite waits, so the statement
            # runs here, and no other task of the loop runs while the lock is held.
            try:
                rows, self.description, self.rowcount, self.lastrowid = connection.run_here(run)
            finally:
                connection.release_gate_unless_writing()
            self._rows = deque(rows)
            return
        writing = starts_write(sql)
        if writing and not connection.holds_gate:
            await connection.take_gate()
        first_write = writing and not connection.write_locked and locks_for_writing(sql)
        if small and first_write and connection.holds_gate:
            # This process's turn: try for SQLite's lock here, without waiting for it.
            try:
                found = connection.without_waiting(run)
            finally:
                connection.release_gate_unless_writing()
            if found is not None:
                rows, self.description, self.rowcount, self.lastrowid = found
                connection.write_locked = connection._conn.in_transaction
                self._rows = deque(rows)
                return
        try:
            rows, self.description, self.rowcount, self.lastrowid = await connection._execute(
                run, connection._conn
            )
            if writing and locks_for_writing(sql):
                connection.write_locked = connection._conn.in_transaction
        finally:
            connection.release_gate_unless_writing()
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

    def __init__(self, connector: Callable[[], sqlite3.Connection], database: str) -> None:
        super().__init__(connector, 64)
        self._database = database
        self._gate_timeout = 5.0
        self._held: asyncio.Lock | None = None  # the writer gate, while this connection writes
        self._loop_of_gate: asyncio.AbstractEventLoop | None = None
        # Holding SQLite's write lock (a write statement succeeded in the open transaction):
        # later statements, the commit and the rollback run on the event loop's thread.
        self.write_locked = False
        self._busy_timeout: int | None = None  # SQLite's, in ms, once read
        self._slow = False  # a statement of this write transaction took long on the loop

    @property
    def holds_gate(self) -> bool:
        return self._held is not None

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    async def take_gate(self) -> None:
        """Wait for this process's turn to write (at most the busy timeout; then go on and
        let SQLite's own lock decide)."""
        gate = writer_gate(self._database)
        if gate is None or self.in_transaction:
            return
        try:
            await asyncio.wait_for(gate.acquire(), self._gate_timeout)
        except TimeoutError:
            return
        self._held = gate
        self._loop_of_gate = asyncio.get_running_loop()

    @property
    def runs_here(self) -> bool:
        """Whether the write transaction's statements run on the event loop's thread: it
        holds the write lock, and none of its statements there took long."""
        return self.write_locked and not self._slow

    def run_here(self, run: Callable[[sqlite3.Connection], _T]) -> _T:
        """`run` on the event loop's thread; a statement that took longer than
        `SLOW_STATEMENT_SECONDS` of CPU sends the rest of the transaction to the thread (CPU,
        not wall time: on a loaded machine a short statement may wait for a core)."""
        started = time.thread_time()
        try:
            return run(self._conn)
        finally:
            if time.thread_time() - started > SLOW_STATEMENT_SECONDS:
                self._slow = True

    def without_waiting(self, run: Callable[[sqlite3.Connection], _T]) -> _T | None:
        """`run` on the event loop's thread with SQLite's busy timeout at 0; None when
        another process holds the write lock (then the caller waits for it on the thread)."""
        raw = self._conn
        if self._busy_timeout is None:
            self._busy_timeout = int(raw.execute("PRAGMA busy_timeout").fetchone()[0])
        raw.execute("PRAGMA busy_timeout=0")
        try:
            return self.run_here(run)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            return None
        finally:
            raw.execute(f"PRAGMA busy_timeout={self._busy_timeout}")

    def release_gate_unless_writing(self) -> None:
        if not self._conn.in_transaction:
            self.write_locked = self._slow = False
            if self._held is not None:
                self._release_gate()

    def _release_gate(self) -> None:
        gate, self._held = self._held, None
        if gate is not None:
            gate.release()

    async def commit(self) -> None:
        if self._conn.in_transaction:
            try:
                if self.runs_here:
                    self.run_here(lambda raw: raw.commit())
                else:
                    await super().commit()
            finally:
                self.release_gate_unless_writing()

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            try:
                if self.runs_here:
                    self.run_here(lambda raw: raw.rollback())
                else:
                    await super().rollback()
            finally:
                self.release_gate_unless_writing()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            self._release_gate()

    def stop(self) -> asyncio.Future[Any] | None:
        """Terminate without waiting (SQLAlchemy's pool does this to a connection it could
        not close: one whose session was dropped mid-transaction, say). SQLite undoes the
        open transaction when the connection closes, so the turn at the gate is passed on;
        from the event loop's thread, as the garbage collector may run this elsewhere."""
        gate, self._held = self._held, None
        self.write_locked = self._slow = False
        stopped = super().stop()
        if gate is not None and self._loop_of_gate is not None:
            self._loop_of_gate.call_soon_threadsafe(gate.release)
        return stopped


def _connect(database: str, *, gate_timeout: float, **kwargs: Any) -> OneHopConnection:
    """As `aiosqlite.connect`, with a daemon thread (as SQLAlchemy makes aiosqlite's)."""
    connection = OneHopConnection(lambda: sqlite3.connect(database, **kwargs), database)
    connection._gate_timeout = gate_timeout
    connection._thread.daemon = True
    return connection


def create_one_hop_engine(url: str, *, busy_timeout_ms: int = 5000, **kwargs: Any) -> AsyncEngine:
    """A SQLite engine whose connections are `OneHopConnection`s, and whose pool rolls a
    returned connection back only when it is still in a transaction. (A session's close has
    rolled back already; the pool's own ROLLBACK would cost a second hand-off per request.)
    A connection waits at most `busy_timeout_ms` at the writer gate."""
    engine = create_async_engine(url, pool_reset_on_return=None, **kwargs)
    connect = partial(_connect, gate_timeout=busy_timeout_ms / 1000)

    @event.listens_for(engine.sync_engine, "do_connect")
    def _do_connect(dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        return dialect.loaded_dbapi.connect(*cargs, async_creator_fn=connect, **cparams)

    @event.listens_for(engine.sync_engine, "reset")
    def _reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
        if state.terminate_only or not state.asyncio_safe:
            return  # the pool terminates the connection instead
        if dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()

    return engine
