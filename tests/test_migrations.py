"""Migrations: head matches the models exactly, downgrade/upgrade round-trips, SQLite pragmas."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from crmfeed.cli import head_revision
from crmfeed.demo import load_demo
from store import notifications
from store.engine import create_engine, create_session_factory
from store.migrate import alembic_config, current_revision, upgrade
from store.models import Base
from store.notifications import NewEvent, NewNotification
from tests import conftest
from tests.conftest import DATABASES, POSTGRES_URL, _drop_postgres_schema, _postgres_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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


_INBOX = text(
    "SELECT n.user_id, n.seq, e.kind, e.actor_id, e.item_id, e.record_id, e.message, n.read_at "
    "FROM notifications AS n JOIN notification_events AS e ON e.id = n.event_id "
    "ORDER BY n.user_id, n.seq"
)
_INBOX_BEFORE_0005 = text(
    "SELECT user_id, seq, kind, actor_id, item_id, record_id, message, read_at "
    "FROM notifications ORDER BY user_id, seq"
)


async def test_notification_events_migration_keeps_every_inbox_row(fresh: AsyncEngine) -> None:
    """0005 moves what a notification tells into its own event row and back, losing nothing."""
    await upgrade(fresh)
    await load_demo(create_session_factory(fresh), conftest.test_settings("sqlite://"))
    async with fresh.connect() as connection:
        inbox = (await connection.execute(_INBOX)).all()
    assert len(inbox) > 10

    await _downgrade(fresh, "0004")
    async with fresh.connect() as connection:
        assert (await connection.execute(_INBOX_BEFORE_0005)).all() == inbox

    await upgrade(fresh)
    async with fresh.connect() as connection:
        assert (await connection.execute(_INBOX)).all() == inbox
        assert await connection.run_sync(_differences) == []
    async with create_session_factory(fresh)() as session:  # new events get new ids
        user = inbox[0].user_id
        enterprise = await session.scalar(
            text(f"SELECT enterprise_id FROM users WHERE id = {user}")
        )
        sent = await notifications.add(
            session, enterprise, [NewNotification(user, "CC", "new", item_id=inbox[0].item_id)]
        )
        await session.commit()
    assert sent == [(user, max(row.seq for row in inbox if row.user_id == user) + 1)]


_TASKS = text("SELECT id, title, assignee_id, done FROM tasks ORDER BY id")


async def test_work_items_migration_keeps_every_inbox_row_and_task(fresh: AsyncEngine) -> None:
    """0008 rebuilds notification_events on SQLite, which the inbox entries reference with ON
    DELETE CASCADE: down and up again, no entry is lost, and a task that was done stays done."""
    await upgrade(fresh)
    await load_demo(create_session_factory(fresh), conftest.test_settings("sqlite://"))
    async with fresh.begin() as connection:
        user, enterprise = (
            await connection.execute(text("SELECT id, enterprise_id FROM users ORDER BY id"))
        ).first()
        await connection.execute(
            text(
                "INSERT INTO tasks (enterprise_id, title, assignee_id, created_by_id, done, "
                "created_at) VALUES (:e, 'Call back', :u, :u, :done, CURRENT_TIMESTAMP)"
            ),
            [{"e": enterprise, "u": user, "done": done} for done in (True, False)],
        )
    async with fresh.connect() as connection:
        inbox = (await connection.execute(_INBOX)).all()
        tasks = (await connection.execute(_TASKS)).all()
    assert len(inbox) > 10
    assert [row.done for row in tasks] == [True, False]

    await _downgrade(fresh, "0007")
    async with fresh.connect() as connection:
        assert (await connection.execute(_INBOX)).all() == inbox
        assert (await connection.execute(_TASKS)).all() == tasks

    await upgrade(fresh)
    async with fresh.connect() as connection:
        assert (await connection.execute(_INBOX)).all() == inbox
        assert (await connection.execute(_TASKS)).all() == tasks
        assert await connection.run_sync(_differences) == []


_PERMISSIONS = text(
    "SELECT enterprise_id, role, permission FROM role_permissions "
    "ORDER BY enterprise_id, role, permission"
)


async def test_role_permissions_migration_gives_existing_enterprises_the_defaults(
    fresh: AsyncEngine,
) -> None:
    """0010 on a database made before it: every enterprise's preset roles get their default
    function permissions (a sales user may still do what they did), nothing else changes;
    down again, the users and their roles are as they were."""
    from crmfeed.registry.permissions import default_rows
    from store import org

    await upgrade(fresh, "0008")
    async with fresh.begin() as connection:
        for name in ("First", "Second"):
            await connection.execute(
                text(
                    "INSERT INTO enterprises (name, sharing_opens_follow_up, created_at) "
                    "VALUES (:name, true, CURRENT_TIMESTAMP)"
                ),
                {"name": name},
            )
        enterprises = [
            row.id for row in await connection.execute(text("SELECT id FROM enterprises"))
        ]
        await connection.execute(
            text(
                "INSERT INTO users (enterprise_id, name, email, password_hash, active, "
                "token_version, created_at) VALUES (:e, 'Sam', 'sam@example.com', 'x', true, 0, "
                "CURRENT_TIMESTAMP)"
            ),
            {"e": enterprises[0]},
        )
        user = (await connection.execute(text("SELECT id FROM users"))).scalar_one()
        await connection.execute(
            text("INSERT INTO user_roles (enterprise_id, user_id, role) VALUES (:e, :u, 'SALES')"),
            {"e": enterprises[0], "u": user},
        )
    async with fresh.connect() as connection:
        roles_before = (await connection.execute(text("SELECT * FROM user_roles"))).all()

    await upgrade(fresh)
    async with fresh.connect() as connection:
        stored = (await connection.execute(_PERMISSIONS)).all()
        assert (await connection.execute(text("SELECT * FROM user_roles"))).all() == roles_before
        assert await connection.run_sync(_differences) == []
    expected = sorted((e, role, name) for e in enterprises for role, name in default_rows())
    assert sorted(tuple(row) for row in stored) == expected
    async with create_session_factory(fresh)() as session:
        viewer = await org.load_viewer(session, enterprises[0], user)
    assert viewer is not None
    assert {"SalesRecord.create", "Account.edit", "Account.changeOwner"} <= viewer.permissions

    await _downgrade(fresh, "0008")
    async with fresh.connect() as connection:
        assert (await connection.execute(text("SELECT * FROM user_roles"))).all() == roles_before
        assert "role_permissions" not in await connection.run_sync(_tables)


_ORDERS = sa.table(
    "records",
    sa.column("id", sa.Integer),
    sa.column("object_type", sa.String),
    sa.column("status", sa.String),
    sa.column("values", sa.JSON),
)
_NODES = text("SELECT record_id, confirmer_id, state, round, position FROM confirmation_nodes")


async def test_order_confirmation_migration_keeps_statuses_and_current_confirmers(
    fresh: AsyncEngine,
) -> None:
    """0009 on orders written before it: every status kept; a confirming order's current
    confirmer (its value) becomes the CURRENT node of a first round; a leftover value on an
    order that is no longer confirming is removed."""
    await upgrade(fresh)
    await load_demo(create_session_factory(fresh), conftest.test_settings("sqlite://"))
    await _downgrade(fresh, "0008")
    orders = _ORDERS.c.object_type.in_(["SALES_ORDER", "RETURN_FORM"])
    async with fresh.begin() as connection:
        rows = (
            await connection.execute(sa.select(_ORDERS).where(orders).order_by(_ORDERS.c.id))
        ).all()
        user = (await connection.execute(text("SELECT min(id) FROM users"))).scalar()
        confirmed = next(row for row in rows if row.status == "CONFIRMED")
        stale = {**confirmed.values, "currentConfirmerId": f"usr_{user}"}
        await connection.execute(
            _ORDERS.update().where(_ORDERS.c.id == confirmed.id).values(values=stale)
        )
    waiting = {
        row.id: int(row.values["currentConfirmerId"].removeprefix("usr_"))
        for row in rows
        if row.status == "CONFIRMING" and "currentConfirmerId" in row.values
    }
    assert waiting

    await upgrade(fresh)
    async with fresh.connect() as connection:
        after = (
            await connection.execute(sa.select(_ORDERS).where(orders).order_by(_ORDERS.c.id))
        ).all()
        nodes = (await connection.execute(_NODES)).all()
    assert [(r.id, r.status) for r in after] == [(r.id, r.status) for r in rows]
    assert {(n.record_id, n.confirmer_id) for n in nodes} == set(waiting.items())
    assert {(n.state, n.round, n.position) for n in nodes} == {("CURRENT", 1, 1)}
    assert "currentConfirmerId" not in next(r for r in after if r.id == confirmed.id).values


_COUNTERS = text("SELECT user_id, last_seq FROM inbox_counters ORDER BY user_id")


def _inbox_keys(connection: Connection) -> set[str]:
    """The tables `notifications` references."""
    return {key["referred_table"] for key in inspect(connection).get_foreign_keys("notifications")}


async def _counter_options(connection: AsyncConnection) -> list[str] | None:
    if connection.dialect.name != "postgresql":
        return None
    return await connection.scalar(
        text("SELECT reloptions FROM pg_class WHERE oid = 'inbox_counters'::regclass")
    )


async def test_inbox_write_cost_migration_keeps_the_inbox_and_its_numbers(
    fresh: AsyncEngine,
) -> None:
    """0014 drops the inbox's key to users and (PostgreSQL) half-fills the counters' pages;
    down and up again, every entry and counter is kept, and notifications still number on."""
    await upgrade(fresh)
    await load_demo(create_session_factory(fresh), conftest.test_settings("sqlite://"))
    postgres = fresh.dialect.name == "postgresql"
    async with fresh.connect() as connection:
        inbox = (await connection.execute(_INBOX)).all()
        counters = (await connection.execute(_COUNTERS)).all()
        assert await connection.run_sync(_inbox_keys) == {"notification_events"}
        assert await _counter_options(connection) == (["fillfactor=50"] if postgres else None)
    assert len(inbox) > 10

    await _downgrade(fresh, "0013")
    async with fresh.connect() as connection:
        assert (await connection.execute(_INBOX)).all() == inbox
        assert (await connection.execute(_COUNTERS)).all() == counters
        assert await connection.run_sync(_inbox_keys) == {"notification_events", "users"}
        assert await _counter_options(connection) is None

    await upgrade(fresh)
    async with fresh.connect() as connection:
        assert (await connection.execute(_INBOX)).all() == inbox
        assert (await connection.execute(_COUNTERS)).all() == counters
        assert await connection.run_sync(_inbox_keys) == {"notification_events"}
        assert await connection.run_sync(_differences) == []
    async with create_session_factory(fresh)() as session:
        user = inbox[-1].user_id
        enterprise = await session.scalar(
            text(f"SELECT enterprise_id FROM users WHERE id = {user}")
        )
        sent = await notifications.add_events(
            session, enterprise, [(NewEvent("CC", "new"), [user])]
        )
        await session.commit()
    assert sent == [(user, max(row.seq for row in inbox if row.user_id == user) + 1)]
