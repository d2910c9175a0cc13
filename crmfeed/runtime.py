"""Process-wide settings for a long-running server process, and the app as served."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

from crmfeed.app import create_app
from crmfeed.live.websocket import LeanWebSocketProtocol

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from crmfeed.settings import Settings

# Young collections every 20,000 net allocations instead of CPython's 700, and fewer older ones:
# a fan-out allocates millions of short-lived objects, and each collection of the oldest
# generation walks every long-lived object of the process (the open sockets' included).
GC_THRESHOLDS = (2_000, 20, 40)
_tuned = False


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path, once per process: what is alive
    after start-up (modules, the schema, compiled statements) is frozen out of every later
    collection, and collections run less often (bench/notifications.md measures the effect)."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def served_app() -> Starlette:
    """The app as `crmfeed serve` hands it to uvicorn (in each worker process): the app from
    the environment's settings, then the garbage collector tuned. (Tests that serve the app
    in their own process keep the interpreter's defaults.)"""
    app = create_app()
    tune_gc()
    return app


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's websocket options from the settings (WS_*, and MAX_BODY_SIZE for a websocket
    message as for an HTTP body), as `crmfeed serve` passes them.

    An idle subscription's socket then holds its protocol state and nothing more: no
    permessage-deflate state unless WS_PER_MESSAGE_DEFLATE asks for it, and, with
    WS_IMPLEMENTATION `crmfeed` (the default), neither its handshake nor a receive queue
    (crmfeed/live/websocket.py; bench/README.md "Session 8: sockets" and bench/notifications.md
    "Session 9: sockets" measure each option)."""
    ws: str | type[LeanWebSocketProtocol] = settings.ws_implementation
    if ws == "crmfeed":
        ws = LeanWebSocketProtocol
    return {
        "ws": ws,
        "ws_max_size": settings.max_body_size,  # a larger message closes the socket (1009)
        "ws_per_message_deflate": settings.ws_per_message_deflate,
        "ws_ping_interval": settings.ws_ping_interval_seconds,
        "ws_ping_timeout": settings.ws_ping_timeout_seconds,
    }
