"""Process-wide settings for a long-running server process, and the app as served."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from crmfeed.app import create_app

if TYPE_CHECKING:
    from starlette.applications import Starlette

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
