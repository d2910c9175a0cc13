"""CORS_ORIGINS: which pages on other origins may call the API, over HTTP and websockets."""

from __future__ import annotations

import json
import re
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from crmfeed.app import Services, create_app
from crmfeed.settings import Settings
from tests.conftest import test_settings as settings_for_tests
from tests.live_helpers import running_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

SPA = "https://spa.example.com"
OTHER = "https://evil.example.net"
PREFLIGHT = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
}
QUERY = {"query": "{ __typename }"}


def services_for(tmp_path: Path, **settings: Any) -> Services:
    base = settings_for_tests(f"sqlite+aiosqlite:///{tmp_path / 'crmfeed.db'}")
    return Services.create(base.model_copy(update=settings))


@asynccontextmanager
async def client_for(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield client
    finally:
        await services.engine.dispose()


async def test_cors_is_off_by_default(tmp_path: Path) -> None:
    async with client_for(services_for(tmp_path)) as client:
        answer = await client.post("/graphql", json=QUERY, headers={"origin": SPA})
        preflight = await client.options("/graphql", headers={"origin": SPA, **PREFLIGHT})
    assert answer.json() == {"data": {"__typename": "Query"}}
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-origin" not in preflight.headers


async def test_a_listed_origin_may_call_the_api_from_a_browser(tmp_path: Path) -> None:
    services = services_for(tmp_path, cors_origins=f"{SPA}, http://localhost:5173")
    async with client_for(services) as client:
        preflight = await client.options("/graphql", headers={"origin": SPA, **PREFLIGHT})
        answer = await client.post("/graphql", json=QUERY, headers={"origin": SPA})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == SPA
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert answer.headers["access-control-allow-origin"] == SPA
    assert "access-control-allow-credentials" not in answer.headers


async def test_an_unlisted_origin_gets_no_cors_headers(tmp_path: Path) -> None:
    async with client_for(services_for(tmp_path, cors_origins=SPA)) as client:
        preflight = await client.options("/graphql", headers={"origin": OTHER, **PREFLIGHT})
        answer = await client.post("/graphql", json=QUERY, headers={"origin": OTHER})
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in answer.headers


def test_cors_origins_must_be_origins() -> None:
    with pytest.raises(ValueError, match=re.escape("CORS_ORIGINS: 'https://spa.example.com/app'")):
        Settings(cors_origins="https://spa.example.com/app")
    assert Settings(cors_origins=f" {SPA}/ ,http://localhost:5173").cors_origin_list == (
        SPA,
        "http://localhost:5173",
    )


async def handshake(url: str, origin: str | None) -> tuple[int, str]:
    """Open a graphql-transport-ws socket from `origin`; answers the close code and reason
    after a connection_init without a token (the socket was accepted), or raises."""
    async with websockets.connect(
        url, subprotocols=["graphql-transport-ws"], origin=origin, open_timeout=5
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason or ""


async def test_the_websocket_refuses_pages_on_unlisted_origins(tmp_path: Path) -> None:
    services = services_for(tmp_path, cors_origins=SPA)
    try:
        async with running_server(services) as url:
            with pytest.raises(InvalidStatus) as refused:
                await handshake(url, OTHER)
            # A listed origin, the server's own origin and non-browser clients get through
            # to the authentication step (4401: no token).
            assert (await handshake(url, SPA))[0] == 4401
            own = url.replace("ws://", "http://").removesuffix("/graphql")
            assert (await handshake(url, own))[0] == 4401
            assert (await handshake(url, None))[0] == 4401
    finally:
        await services.engine.dispose()
    response = refused.value.response
    assert response.status_code == 403
    assert f"pages on {OTHER}" in response.body.decode()
    assert "CORS_ORIGINS" in response.body.decode()


async def test_without_cors_origins_the_websocket_refuses_every_other_origin(
    tmp_path: Path,
) -> None:
    services = services_for(tmp_path)
    try:
        async with running_server(services) as url:
            with pytest.raises(InvalidStatus) as refused:
                await handshake(url, SPA)
    finally:
        await services.engine.dispose()
    assert refused.value.response.status_code == 403
