"""A real server on a free port and a graphql-transport-ws / graphql-ws client for tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import TYPE_CHECKING, Any

import uvicorn
import websockets

from crmfeed.app import create_app
from crmfeed.runtime import uvicorn_options

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from crmfeed.app import Services

SUBSCRIBE = """subscription($after: String) { notifications(after: $after) {
  id cursor kind message read actor { name } feedItem { id content } record { id name } } }"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(app: Any, **options: Any) -> AsyncIterator[uvicorn.Server]:
    """Serve `app` with uvicorn on a free port of 127.0.0.1 (`options` go to uvicorn.Config)
    until the block ends; yields the started server (its port is `server.config.port`)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@contextlib.asynccontextmanager
async def running_server(services: Services) -> AsyncIterator[str]:
    """Serve the app (lifespan included) on 127.0.0.1 as `crmfeed serve` does; yields the
    ws:// URL of /graphql."""
    options = uvicorn_options(services.settings)  # the websocket options `crmfeed serve` passes
    async with serving(create_app(services), lifespan="on", **options) as server:
        yield f"ws://127.0.0.1:{server.config.port}/graphql"


class WsClient:
    """A minimal graphql-transport-ws (or legacy graphql-ws) client."""

    def __init__(self, ws: Any, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, url: str, token: str | None, protocol: str = "graphql-transport-ws"
    ) -> AsyncIterator[WsClient]:
        async with websockets.connect(url, subprotocols=[protocol]) as ws:
            client = cls(ws, protocol)
            payload = {"Authorization": f"Bearer {token}"} if token else {}
            await client.send({"type": "connection_init", "payload": payload})
            yield client

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout=timeout))

    async def acknowledged(self) -> None:
        message = await self.receive()
        assert message["type"] == "connection_ack", message

    async def subscribe(self, op_id: str, after: str | None = None) -> None:
        kind = "subscribe" if self.protocol == "graphql-transport-ws" else "start"
        await self.send(
            {
                "id": op_id,
                "type": kind,
                "payload": {"query": SUBSCRIBE, "variables": {"after": after}},
            }
        )

    async def next_notification(self, timeout: float = 5.0) -> dict[str, Any]:
        while True:
            message = await self.receive(timeout)
            if message["type"] in ("next", "data"):
                assert "errors" not in message["payload"], message
                return message["payload"]["data"]["notifications"]
            if message["type"] in ("ping", "ka"):
                continue
            raise AssertionError(f"unexpected message {message}")

    async def nothing_within(self, seconds: float) -> bool:
        try:
            message = await self.receive(seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"expected silence, got {message}")


async def closed_with(client: WsClient, within: float = 5.0) -> tuple[int, str]:
    """Read until the server closes the socket: (close code, reason)."""
    try:
        while True:
            message = await client.receive(within)
            assert message["type"] in ("ping", "ka", "pong"), message
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, f"the server did not send a close frame: {closed}"
        return closed.rcvd.code, closed.rcvd.reason


@contextlib.asynccontextmanager
async def subscribed(
    url: str, token: str, protocol: str = "graphql-transport-ws"
) -> AsyncIterator[WsClient]:
    """A socket signed in with `token`, acknowledged and subscribed to notifications."""
    async with WsClient.connect(url, token, protocol) as client:
        await client.acknowledged()
        await client.subscribe("1")
        yield client
