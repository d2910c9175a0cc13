"""A pooled PostgreSQL connection the server closed is replaced at checkout, without a ping."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from store.engine import create_engine
from tests import conftest

pytestmark = pytest.mark.postgres


async def test_a_connection_the_server_terminated_is_replaced_without_an_error() -> None:
    engine = create_engine(conftest.test_settings(conftest.POSTGRES_URL))
    pings: list[str] = []
    try:
        async with engine.connect() as connection:
            first = await connection.scalar(text("SELECT pg_backend_pid()"))
            raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        dialect = engine.sync_engine.dialect
        original_ping = dialect.do_ping

        def do_ping(dbapi_connection: object) -> bool:
            pings.append("ping")  # SQLAlchemy's pre-ping: BEGIN, ";", ROLLBACK
            return original_ping(dbapi_connection)

        dialect.do_ping = do_ping  # type: ignore[method-assign]
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT pg_backend_pid()")) == first
        assert pings == []  # a checkout of a live connection costs no round trip

        other = await asyncpg.connect(conftest.POSTGRES_URL.replace("+asyncpg", ""))
        try:
            assert await other.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await other.close()
        for _ in range(100):  # asyncpg sees the socket end when the loop reads it
            if raw.is_closed():
                break
            await asyncio.sleep(0.01)
        assert raw.is_closed()

        async with engine.connect() as connection:  # no error: a new connection
            assert await connection.scalar(text("SELECT pg_backend_pid()")) != first
    finally:
        await engine.dispose()
