"""Under load, a request's context holds a pooled SQLite connection only while it reads or
writes."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from resolvers.context import Context
from store.engine import create_engine, create_session_factory
from tests import conftest

if TYPE_CHECKING:
    from pathlib import Path

METADATA = MetaData()
NOTES = Table("notes", METADATA, Column("id", Integer, primary_key=True))


async def test_reads_give_the_connection_back_and_a_write_keeps_it(tmp_path: Path) -> None:
    settings = conftest.test_settings(f"sqlite+aiosqlite:///{tmp_path / 'context.db'}")
    engine = create_engine(settings)
    async with engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
    context = Context(settings, create_session_factory(engine), token=None)
    pool = engine.sync_engine.pool
    try:
        async with context.db() as session:
            await session.execute(select(NOTES.c.id))
        assert pool.checkedout() == 1  # connections to spare: the request keeps its own
        async with AsyncExitStack() as others:
            for _ in range(pool.size() - 1):  # the rest of the pool is in use elsewhere
                await others.enter_async_context(engine.connect())
            async with context.db() as session:
                await session.execute(select(NOTES.c.id))
            assert pool.checkedout() == pool.size() - 1  # between reads it holds none
            async with context.db() as session:
                await session.execute(insert(NOTES).values(id=1))
            assert pool.checkedout() == pool.size()  # a write is open: kept until its commit
            async with context.db() as session:
                await session.commit()
            assert pool.checkedout() == pool.size() - 1
            async with context.db() as session:
                assert (await session.execute(select(NOTES.c.id))).all() == [(1,)]
    finally:
        await context.close()
        await engine.dispose()
