"""`GET /healthz` and GraphiQL on `GET /graphql`."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx

from crmfeed.app import Services, create_app
from tests.conftest import Api
from tests.conftest import test_settings as settings_for_tests

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

NOTHING_LISTENS = "postgresql+asyncpg://postgres@127.0.0.1:1/test"


@asynccontextmanager
async def client_for(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose engine points at `database_url`."""
    services = Services.create(settings_for_tests(database_url))
    transport = httpx.ASGITransport(app=create_app(services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        await services.engine.dispose()


async def test_healthz_answers_ok_when_the_database_is_reachable(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_healthz_answers_503_when_postgresql_is_unreachable() -> None:
    async with client_for(NOTHING_LISTENS) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_healthz_answers_503_when_the_sqlite_file_cannot_be_opened(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-directory" / "crmfeed.db"
    async with client_for(f"sqlite+aiosqlite:///{missing}") as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_healthz_does_not_reveal_the_database_address() -> None:
    async with client_for(NOTHING_LISTENS) as client:
        response = await client.get("/healthz")
    assert "127.0.0.1" not in response.text
    assert "postgres@" not in response.text


async def test_healthz_only_answers_get(api: Api) -> None:
    response = await api.client.post("/healthz")
    assert response.status_code == 405


async def test_graphql_get_from_a_browser_serves_graphiql(api: Api) -> None:
    response = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_graphql_answers_a_query_sent_with_get(api: Api) -> None:
    response = await api.client.get("/graphql", params={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_graphql_refuses_a_mutation_sent_with_get(api: Api) -> None:
    query = 'mutation { login(email: "a@example.com", password: "x") { token } }'
    response = await api.client.get("/graphql", params={"query": query})
    assert response.status_code in {400, 405}
