"""Open websockets by user and token: closed when their token expires, is revoked, or their
user is deactivated.

A websocket is authenticated once, at `connection_init`; after that nothing would re-check its
token. So each accepted socket is registered here with its user, its token id and its token's
expiry: one timer for all of them closes each with 4401 at its expiry, and `end` (called on
this process for every "session ended" message the hub receives, whichever process published
it) closes a user's sockets (all of them, or those of one token) with 4403. Strawberry's
handler then ends the socket's subscriptions. A message lost while the pipe was down is made
good by `end_found`, which the hub calls with what the database says after a resync and at
each outage poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

log = logging.getLogger("crmfeed.live")

EXPIRED_CLOSE = (4401, "Unauthorized: the token expired; log in again")


class Ended(StrEnum):
    """Why a user's sessions ended (the hub's message says which)."""

    DEACTIVATED = "deactivated"
    REVOKED = "revoked"


CLOSES = {
    Ended.DEACTIVATED: (4403, "Forbidden: this account was deactivated"),
    Ended.REVOKED: (4403, "Forbidden: the token was revoked (logged out); log in again"),
}


@dataclass(eq=False, slots=True)
class OpenSocket:
    user_id: int
    token_id: str
    close: Callable[[int, str], Awaitable[None]] = field(repr=False)
    closed: bool = False


class Sessions:
    """The open websockets of this process, by user, and their expiries: a heap with one timer
    for the earliest (not a timer per socket: thousands of idle sockets each held one)."""

    def __init__(self) -> None:
        self._open: dict[int, set[OpenSocket]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._expiries: list[tuple[float, int, OpenSocket]] = []  # (time.time(), n, socket)
        self._numbers = itertools.count()  # orders equal expiries (sockets do not compare)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # the expiry the timer is set for
        self._forgotten = 0  # closed sockets still in the heap

    def open(
        self,
        user_id: int,
        token_id: str,
        expires_at: datetime,
        close: Callable[[int, str], Awaitable[None]],
    ) -> OpenSocket:
        """Register an accepted socket; `close(code, reason)` closes it."""
        socket = OpenSocket(user_id, token_id, close)
        heapq.heappush(self._expiries, (expires_at.timestamp(), next(self._numbers), socket))
        self._open.setdefault(user_id, set()).add(socket)
        self._arm()
        return socket

    def forget(self, socket: OpenSocket) -> None:
        """The socket ended (whoever closed it)."""
        if socket.closed:
            return
        socket.closed = True
        sockets = self._open.get(socket.user_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._open[socket.user_id]
        self._forgotten += 1
        if not self._open:  # nothing left to expire
            self._expiries.clear()
            self._forgotten = 0
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        elif self._forgotten > 64 and self._forgotten * 2 > len(self._expiries):
            # Mostly closed sockets waiting for expiries hours away: drop them now.
            self._expiries = [entry for entry in self._expiries if not entry[2].closed]
            heapq.heapify(self._expiries)
            self._forgotten = 0

    def _arm(self) -> None:
        """Set the one timer for the earliest expiry, unless it already is."""
        if not self._expiries:
            return
        first = self._expiries[0][0]
        if self._timer is not None:
            if self._timer_at <= first:
                return
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(max(0.0, first - time.time()), self._expire)
        self._timer_at = first

    def _expire(self) -> None:
        """Close every socket whose token has expired, then wait for the next expiry."""
        self._timer = None
        now = time.time()
        while self._expiries and self._expiries[0][0] <= now:
            _, _, socket = heapq.heappop(self._expiries)
            self._close(socket, *EXPIRED_CLOSE)  # forgets it, unless it was already
            self._forgotten = max(0, self._forgotten - 1)  # it has left the heap
        self._arm()

    def end(self, user_id: int, token_id: str | None, why: Ended) -> int:
        """Close the user's sockets (only those of `token_id`, if given); how many."""
        code, reason = CLOSES[why]
        ending = [
            socket
            for socket in self._open.get(user_id, ())
            if token_id is None or socket.token_id == token_id
        ]
        for socket in ending:
            self._close(socket, code, reason)
        return len(ending)

    def tokens(self) -> set[tuple[int, str]]:
        """(user id, token id) of every open socket."""
        return {(s.user_id, s.token_id) for sockets in self._open.values() for s in sockets}

    def end_found(self, inactive: set[int], revoked: set[str]) -> int:
        """Close the sockets of deactivated users and of revoked tokens; how many."""
        closed = sum(self.end(user_id, None, Ended.DEACTIVATED) for user_id in inactive)
        for user_id, token_id in self.tokens():
            if token_id in revoked:
                closed += self.end(user_id, token_id, Ended.REVOKED)
        return closed

    @property
    def count(self) -> int:
        return sum(len(sockets) for sockets in self._open.values())

    def _close(self, socket: OpenSocket, code: int, reason: str) -> None:
        if socket.closed:
            return
        self.forget(socket)
        task = asyncio.get_running_loop().create_task(self._send_close(socket, code, reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _send_close(socket: OpenSocket, code: int, reason: str) -> None:
        # The client may have gone meanwhile: a close that cannot be sent is no error.
        with contextlib.suppress(Exception):
            await socket.close(code, reason)
        log.info("live push: closed a socket of user %s (%s %s)", socket.user_id, code, reason)
