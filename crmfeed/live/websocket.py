"""uvicorn's websockets-sansio protocol, holding less for each open socket.

uvicorn's `WebSocketsSansIOProtocol` keeps, for the life of every socket, the parsed handshake
request and the response it answered with (websockets' `Headers`, ~5 KiB), an `asyncio.Queue`
for what the client sends (three deques, ~2.5 KiB, for the one message a socket waits on) and an
`asyncio.Event` for write flow control (a deque of waiters). `LeanWebSocketProtocol` drops the
handshake once the socket is accepted (uvicorn's references, and the one websockets' parser
keeps) and replaces the queue and the event with ones that hold a container or a future only
while something waits; framing, keepalive pings, close handling and flow control are uvicorn's.
`crmfeed serve` uses it when WS_IMPLEMENTATION is `crmfeed` (the default;
bench/notifications.md, "Session 9: sockets", measures it).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import Protocol

from crmfeed.live.hub import Mailbox

if TYPE_CHECKING:
    from uvicorn._types import ASGISendEvent
    from uvicorn.config import Config
    from uvicorn.server import ServerState
    from websockets.http11 import Request


class Writable:
    """asyncio.Event's `set`, `clear`, `is_set` and `wait`, with no deque of waiters: a list of
    futures only while a send waits for the transport to drain."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        while not self._set:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if self._waiters is not None:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(waiter)
                    if not self._waiters:
                        self._waiters = None
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol without the per-socket objects it no longer needs
    once the socket is open (see the module's docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # What the client sent, for the app's one reader (uvicorn pauses reading while a
        # message waits, so this holds one or two at a time); unbounded as uvicorn's queue.
        self.queue = Mailbox(sys.maxsize)  # type: ignore[assignment]
        self.writable = Writable()  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        self.request = None  # type: ignore[assignment]  # the scope holds what the app reads
        conn = self.conn
        if conn.parser_exc is None and not conn.reader.buffer and not self.close_sent:
            # websockets' server parser is a generator that keeps the request it parsed in its
            # frame for the socket's life while it parses frames; with nothing read past the
            # request, the frame parser alone takes over in the same place.
            parser = Protocol.parse(conn)
            next(parser)  # runs to its wait for data
            conn.parser = parser

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if self.handshake_complete:
            self.response = None  # type: ignore[assignment]  # sent (or never to be)
