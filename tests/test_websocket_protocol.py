"""The websocket protocol `crmfeed serve` uses (crmfeed/live/websocket.py): uvicorn's sansio
protocol that keeps no handshake and no receive queue once a socket is open, and still carries
messages, pings and closes as uvicorn's does."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import pytest
import websockets
from websockets.http11 import Request, Response

from crmfeed.live.hub import Mailbox
from crmfeed.live.websocket import LeanWebSocketProtocol, Writable
from tests.live_helpers import serving

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import uvicorn


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Accepts a websocket and sends back each text message, with the request's path."""
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept", "subprotocol": "graphql-transport-ws"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message["text"] == "close":
            await send({"type": "websocket.close", "code": 4403, "reason": "asked to"})
            return
        await send({"type": "websocket.send", "text": f"{scope['path']} {message['text']}"})


@contextlib.asynccontextmanager
async def lean_server() -> AsyncIterator[tuple[uvicorn.Server, str]]:
    async with serving(echo, ws=LeanWebSocketProtocol) as server:
        yield server, f"ws://127.0.0.1:{server.config.port}/echo"


def held_by(protocol: LeanWebSocketProtocol) -> list[object]:
    """What the open socket's protocol refers to: its attributes and its parser's locals."""
    parser = protocol.conn.parser
    frame_locals = list(parser.gi_frame.f_locals.values()) if parser.gi_frame else []
    return [*vars(protocol).values(), *vars(protocol.conn).values(), *frame_locals]


async def test_an_open_socket_keeps_no_handshake_and_carries_messages_and_closes() -> None:
    async with (
        lean_server() as (server, url),
        websockets.connect(url, subprotocols=["graphql-transport-ws"], compression=None) as ws,
    ):
        assert ws.subprotocol == "graphql-transport-ws"
        await ws.send("one")
        assert await ws.recv() == "/echo one"
        (protocol,) = server.server_state.connections
        assert isinstance(protocol, LeanWebSocketProtocol)
        held = held_by(protocol)
        assert not [thing for thing in held if isinstance(thing, Request | Response)]
        assert isinstance(protocol.queue, Mailbox)
        assert protocol.queue.empty()
        await ws.ping()  # answered by the protocol, not the app
        for n in range(50):  # the frame parser that took over keeps parsing
            await ws.send(f"m{n}" * (n + 1))
            assert await ws.recv() == f"/echo {f'm{n}' * (n + 1)}"
        await ws.send("close")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "asked to")


async def test_writable_wakes_every_waiter_and_survives_a_cancelled_one() -> None:
    writable = Writable()
    assert writable.is_set()
    assert await writable.wait()  # set: no wait
    writable.clear()
    first = asyncio.create_task(writable.wait())
    cancelled = asyncio.create_task(writable.wait())
    second = asyncio.create_task(writable.wait())
    await asyncio.sleep(0)
    assert not (first.done() or second.done())
    cancelled.cancel()
    await asyncio.sleep(0)
    assert cancelled.cancelled()
    assert not (first.done() or second.done())
    writable.set()
    assert await first
    assert await second
    writable.clear()
    assert not writable.is_set()
