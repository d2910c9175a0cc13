"""Fixtures: every API test runs against SQLite and against the PostgreSQL on 127.0.0.1:5432.

Each run gets its own SQLite file and its own PostgreSQL schema, so parallel runs never collide.
Tests isolate themselves by registering their own enterprise (tenant isolation does the rest).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import event, text

from crmfeed.app import Services, create_app
from crmfeed.settings import Settings
from store.engine import create_engine
from store.migrate import upgrade

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

POSTGRES_URL = os.environ.get(
    "CRMFEED_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
POSTGRES_HINT = (
    "PostgreSQL is not reachable at {url} ({error}). Start it with "
    "'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' "
    "(trust auth, database 'test'), or point CRMFEED_TEST_POSTGRES_URL at one."
)
DATABASES = [
    name
    for name in os.environ.get("CRMFEED_TEST_DATABASES", "sqlite,postgresql").split(",")
    if name
]


def test_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret-key-for-crmfeed-tests-0123456789",
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
        # Every test of a session logs in from the test client's one address: only the tests
        # of that limit (tests/test_login_abuse.py, with their own apps) set a low one.
        login_address_max_failures=100_000,
        # Import and export files of the run (uploads, exports, error reports).
        files_dir=tempfile.mkdtemp(prefix="crmfeed-test-files-"),
    )


async def _postgres_schema() -> str:
    schema = f"crmfeed_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(test_settings(POSTGRES_URL))
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except (OSError, Exception) as error:  # asyncpg raises several kinds when the server is down
        pytest.fail(POSTGRES_HINT.format(url=POSTGRES_URL, error=error), pytrace=False)
    finally:
        await engine.dispose()
    return schema


async def _drop_postgres_schema(schema: str) -> None:
    engine = create_engine(test_settings(POSTGRES_URL))
    async with engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


class StatementLog:
    """Counts SQL statements sent to the database while `active`."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.active = False

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.active:
            self.statements.append(statement)


class ServicesPool:
    """One set of services per database, built on first use and kept for the whole run.

    `services` is parametrized by database. pytest finalizes a parametrized session fixture
    whenever a worker moves to the other parameter, and xdist hands a worker tests of both in
    turns: without the pool each switch rebuilt and re-migrated a database, stalling whichever
    test came next for seconds.
    """

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.built: dict[str, tuple[Services, str | None]] = {}

    async def get(self, database: str) -> Services:
        if database not in self.built:
            self.built[database] = await self._build(database)
        return self.built[database][0]

    async def _build(self, database: str) -> tuple[Services, str | None]:
        schema: str | None = None
        if database == "postgresql":
            schema = await _postgres_schema()
            settings = test_settings(POSTGRES_URL)
        else:
            path = self.tmp_path_factory.mktemp("db") / "crmfeed.db"
            settings = test_settings(f"sqlite+aiosqlite:///{path}")
        built = Services.create(settings, schema=schema)
        await upgrade(built.engine)
        log = StatementLog()
        event.listen(built.engine.sync_engine, "before_cursor_execute", log)
        built.statement_log = log  # type: ignore[attr-defined]
        await built.hub.start()
        return built, schema

    async def close(self) -> None:
        for built, schema in self.built.values():
            await built.hub.stop()
            await built.throttle.close()
            await built.engine.dispose()
            if schema is not None:
                await _drop_postgres_schema(schema)


@pytest.fixture(scope="session")
async def services_pool(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServicesPool]:
    pool = ServicesPool(tmp_path_factory)
    yield pool
    await pool.close()


@pytest.fixture(scope="session", params=DATABASES)
async def services(request: pytest.FixtureRequest, services_pool: ServicesPool) -> Services:
    """The worker's shared services on the test's database (see `ServicesPool`)."""
    return await services_pool.get(request.param)


@pytest.fixture(scope="module", params=DATABASES)
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Settings]:
    """A migrated database of the module's own, for tests that start servers on it; yields
    the settings that reach it."""
    schema: str | None = None
    if request.param == "postgresql":
        schema = await _postgres_schema()
        settings = test_settings(POSTGRES_URL).model_copy(update={"database_schema": schema})
    else:
        path = tmp_path_factory.mktemp("module-db") / "crmfeed.db"
        settings = test_settings(f"sqlite+aiosqlite:///{path}")
    settings = settings.model_copy(update={"run_reminders": False})
    migrating = Services.create(settings)
    await upgrade(migrating.engine)
    await migrating.engine.dispose()
    yield settings
    if schema is not None:
        await _drop_postgres_schema(schema)


class GraphQLError(AssertionError):
    pass


class Api:
    """Posts GraphQL operations to the real ASGI app."""

    def __init__(self, client: httpx.AsyncClient, services: Services) -> None:
        self.client = client
        self.services = services

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        return response.json()

    async def ok(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The data of an operation that must succeed."""
        body = await self.raw(query, variables, token)
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        return body["data"]

    async def error(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The first error of an operation that must fail."""
        body = await self.raw(query, variables, token)
        assert body.get("errors"), f"expected an error, got {body}"
        return body["errors"][0]

    def count_statements(self) -> StatementLog:
        log: StatementLog = self.services.statement_log  # type: ignore[attr-defined]
        log.statements = []
        return log


@pytest.fixture
async def api(services: Services) -> AsyncIterator[Api]:
    app = create_app(services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, services)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
