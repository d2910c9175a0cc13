"""Migrations: head matches the models exactly, downgrade/upgrade round-trips, SQLite pragmas."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from crmfeed.cli import head_revision
from store.engine import create_engine
from store.migrate import alembic_config, current_revision, upgrade
from store.models import Base
from tests import conftest
from tests.conftest import DATABASES, POSTGRES_URL, _drop_postgres_schema, _postgres_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

    from crmfeed.settings import Settings


@pytest.fixture(params=DATABASES)
async def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a database that has never been migrated (a new file or a new schema)."""
    schema: str | None = None
    if request.param == "postgresql":
        schema = await _postgres_schema()
        settings = conftest.test_settings(POSTGRES_URL)
    else:
        settings = conftest.test_settings(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    engine = create_engine(settings, schema=schema)
    yield engine
    await engine.dispose()
    if schema is not None:
        await _drop_postgres_schema(schema)


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _downgrade(engine: AsyncEngine, revision: str) -> None:
    def run(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def test_head_matches_the_models(fresh: AsyncEngine) -> None:
    await upgrade(fresh)
    async with fresh.connect() as connection:
        assert await connection.run_sync(_differences) == []
    assert await current_revision(fresh) == head_revision()


async def test_upgrade_twice_changes_nothing(fresh: AsyncEngine) -> None:
    await upgrade(fresh)
    await upgrade(fresh)
    assert await current_revision(fresh) == head_revision()


async def test_downgrade_to_base_then_upgrade_again(fresh: AsyncEngine) -> None:
    await upgrade(fresh)
    async with fresh.connect() as connection:
        tables = await connection.run_sync(_tables)
    assert {"enterprises", "users", "records", "record_team"} <= tables

    await _downgrade(fresh, "base")
    async with fresh.connect() as connection:
        assert await connection.run_sync(_tables) <= {"alembic_version"}
    assert await current_revision(fresh) is None

    await upgrade(fresh)
    async with fresh.connect() as connection:
        assert await connection.run_sync(_tables) == tables
        assert await connection.run_sync(_differences) == []


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    settings: Settings = conftest.test_settings(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            journal_mode = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
            busy_timeout = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar()
            foreign_keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
    finally:
        await engine.dispose()
    assert journal_mode == "wal"
    assert busy_timeout == settings.sqlite_busy_timeout_ms > 0
    assert foreign_keys == 1
