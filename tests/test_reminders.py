"""Reminders fire at their time exactly once: with two server processes polling the
same PostgreSQL schema, across a restart of both, and with two runners racing in one process
on SQLite. Counted in the database, where the durable inbox is.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import func, select

from crmfeed.app import Services, create_app
from crmfeed.ids import Kind, from_global
from store.engine import create_engine
from store.feed_tables import Reminder
from store.migrate import upgrade
from store.notification_tables import Notification
from tests.conftest import POSTGRES_URL, Api
from tests.conftest import test_settings as settings_for
from tests.processes import (
    HttpApi,
    fresh_postgres_schema,
    launch,
    postgres_env,
    require_redis,
    server_processes,
    stop_process,
    wait_healthy,
)
from tests.records_helpers import new_org

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

    from tests.records_helpers import Org, Person

REMINDER = """
mutation($id: ID!, $at: DateTime!, $users: [ID!]) {
  addRecordReminder(recordId: $id, remindAt: $at, userIds: $users) { id remindAt }
}"""

POLL = "0.2"


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    await require_redis()
    async with fresh_postgres_schema() as name:
        yield name


def reminder_env(schema: str) -> dict[str, str]:
    return postgres_env(schema, RUN_REMINDERS="true", REMINDER_POLL_SECONDS=POLL)


async def team(org: Org) -> tuple[Person, Person]:
    """Ann, and her superior Boss (who may read Ann's records)."""
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    return ann, boss


async def add_reminders(
    org: Org, ann: Person, boss: Person, count: int, due: datetime, spread: timedelta
) -> dict[int, datetime]:
    """`count` reminders, each on its own account of Ann's, for Ann and Boss, due from `due`
    over `spread`; {record number: remind_at}."""
    accounts = [await org.record(ann, "ACCOUNT", f"Account {n}") for n in range(count)]
    made: dict[int, datetime] = {}
    for number, account in enumerate(accounts):
        at = due + spread * number / max(count - 1, 1)
        await org.api.ok(
            REMINDER, {"id": account, "at": at.isoformat(), "users": [ann.id, boss.id]}, ann.token
        )
        made[from_global(Kind.RECORD, account)] = at
    return made


async def reminder_rows(engine: AsyncEngine, records: dict[int, datetime]) -> list[Any]:
    """(record number, user number, count) of the REMINDER notifications about `records`."""
    async with engine.connect() as connection:
        result = await connection.execute(
            select(Notification.record_id, Notification.user_id, func.count())
            .where(Notification.kind == "REMINDER", Notification.record_id.in_(records))
            .group_by(Notification.record_id, Notification.user_id)
        )
        return list(result)


async def fired(engine: AsyncEngine, records: dict[int, datetime]) -> list[Any]:
    async with engine.connect() as connection:
        result = await connection.execute(
            select(Reminder.record_id, Reminder.remind_at, Reminder.fired_at).where(
                Reminder.record_id.in_(records)
            )
        )
        return list(result)


async def wait_for_rows(
    engine: AsyncEngine, records: dict[int, datetime], expected: int, within: float
) -> list[Any]:
    """Poll the database until `expected` (record, user) pairs have a REMINDER, then give the
    pollers a few more rounds to fire anything twice, and return the final count."""
    deadline = asyncio.get_running_loop().time() + within
    while sum(1 for _ in await reminder_rows(engine, records)) < expected:
        assert asyncio.get_running_loop().time() < deadline, (
            f"only {len(await reminder_rows(engine, records))} of {expected} reminders fired"
        )
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # five more polls of each process
    return await reminder_rows(engine, records)


def assert_exactly_once(rows: list[Any], records: dict[int, datetime], people: set[int]) -> None:
    expected = {(record, user) for record in records for user in people}
    assert {(record, user) for record, user, _ in rows} == expected
    twice = [(record, user, count) for record, user, count in rows if count != 1]
    assert twice == [], f"fired more than once: {twice}"


def numbers(*people: Person) -> set[int]:
    return {from_global(Kind.USER, p.id) for p in people}


async def test_two_processes_fire_each_reminder_once(schema: str, tmp_path: Path) -> None:
    count = 30
    env = reminder_env(schema)
    engine = create_engine(settings_for(POSTGRES_URL), schema=schema)
    try:
        async with server_processes(tmp_path, {"A": env, "B": env}) as (a, _b):
            api = HttpApi(a.http_url)
            try:
                org = await new_org(api)  # type: ignore[arg-type]
                ann, boss = await team(org)
                due = datetime.now(UTC) + timedelta(seconds=4)
                records = await add_reminders(org, ann, boss, count, due, timedelta(seconds=2))
                rows = await wait_for_rows(engine, records, 2 * count, within=30)
            finally:
                await api.aclose()
        assert_exactly_once(rows, records, numbers(ann, boss))
        for record, remind_at, fired_at in await fired(engine, records):
            assert fired_at is not None
            assert fired_at >= remind_at, f"rec_{record} fired before it was due"
    finally:
        await engine.dispose()


async def test_reminders_due_while_both_processes_are_down_fire_once_after_restart(
    schema: str, tmp_path: Path
) -> None:
    count = 20
    env = reminder_env(schema)
    engine = create_engine(settings_for(POSTGRES_URL), schema=schema)
    try:
        async with server_processes(tmp_path, {"A": env, "B": env}) as servers:
            api = HttpApi(servers[0].http_url)
            try:
                org = await new_org(api)  # type: ignore[arg-type]
                ann, boss = await team(org)
                due = datetime.now(UTC) + timedelta(seconds=4)
                records = await add_reminders(org, ann, boss, count, due, timedelta(seconds=1))
                for server in servers:
                    await stop_process(server)
                assert datetime.now(UTC) < due, "the setup took longer than the due time"
                # every reminder comes due while nothing runs
                await asyncio.sleep((due - datetime.now(UTC)).total_seconds() + 1.5)
                assert await reminder_rows(engine, records) == []
                for server in servers:
                    launch(server, tmp_path)
                await asyncio.gather(*(wait_healthy(server) for server in servers))
                # and some come due after the restart
                later = datetime.now(UTC) + timedelta(seconds=2)
                more = await add_reminders(org, ann, boss, 5, later, timedelta(seconds=1))
                rows = await wait_for_rows(engine, records | more, 2 * (count + 5), within=30)
            finally:
                await api.aclose()
        assert_exactly_once(rows, records | more, numbers(ann, boss))
    finally:
        await engine.dispose()


# -- two runners racing in one process (SQLite) ---------------------------------------------------


@pytest.fixture
async def sqlite_services(tmp_path: Path) -> AsyncIterator[Services]:
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path / 'reminders.db'}")
    services = Services.create(settings)
    await upgrade(services.engine)
    await services.hub.start()
    yield services
    await services.hub.stop()
    await services.engine.dispose()


async def test_runners_racing_on_sqlite_fire_each_reminder_once(
    sqlite_services: Services,
) -> None:
    """Two runners with their own engines (as two processes would have), claiming in small
    batches at once: every reminder is claimed by exactly one of them."""
    from crmfeed.live.reminders import ReminderRunner

    app = create_app(sqlite_services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        org = await new_org(Api(client, sqlite_services))
        ann, boss = await team(org)
        due = datetime.now(UTC) + timedelta(minutes=5)
        records = await add_reminders(org, ann, boss, 40, due, timedelta(seconds=10))
    other = Services.create(sqlite_services.settings)
    try:
        runners = [
            ReminderRunner(services.session_factory, services.hub, batch=3)
            for services in (sqlite_services, other)
        ]
        now = due + timedelta(seconds=11)
        claimed = await asyncio.gather(*(runner.run_once(now=now) for runner in runners))
        again = await asyncio.gather(*(runner.run_once(now=now) for runner in runners))
    finally:
        await other.engine.dispose()
    assert sum(claimed) == 40, claimed
    assert again == [0, 0]
    rows = await reminder_rows(sqlite_services.engine, records)
    assert_exactly_once(rows, records, numbers(ann, boss))
