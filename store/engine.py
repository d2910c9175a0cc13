"""Engine and session factory for SQLite (WAL, busy timeout) or PostgreSQL (asyncpg)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from store.sqlite_connection import create_one_hop_engine

if TYPE_CHECKING:
    from crmfeed.settings import Settings


def create_engine(settings: Settings, *, schema: str | None = None) -> AsyncEngine:
    """An engine for `settings.database_url`; `schema` (default `settings.database_schema`)
    pins PostgreSQL's search_path. PostgreSQL's JIT is off: the feed's correlated visibility
    tests make its cost estimates large, and compiling a 2 ms page statement took 50-500 ms."""
    schema = schema or settings.database_schema
    kwargs: dict[str, Any] = {"echo": settings.echo_sql}
    if settings.is_sqlite:
        engine = create_one_hop_engine(
            settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms, **kwargs
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    server_settings = {"jit": "off"}
    if schema:
        server_settings["search_path"] = schema
    connect_args: dict[str, Any] = {"server_settings": server_settings}
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        connect_args=connect_args,
        **kwargs,
    )
    event.listen(engine.sync_engine, "checkout", _closed_by_server)
    return engine


def _closed_by_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled PostgreSQL connection the server has closed (a restart, a terminated
    backend: asyncpg saw the socket end while it sat in the pool) is replaced at checkout,
    without a round trip. SQLAlchemy's `pool_pre_ping` did it with three (BEGIN, a ping,
    ROLLBACK) on every checkout, a third of a records page's round trips. A connection lost
    without the socket closing fails its next statement, and the pool then replaces it."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # With WAL, NORMAL syncs at checkpoints, not at each commit: a committed transaction
        # survives a crash of the process (its log pages are in the OS's cache); a power loss
        # may undo the last ones, never corrupt the file. FULL would add an fsync per commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
