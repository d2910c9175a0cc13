"""Prometheus metrics at GET /metrics (prometheus-client).

What is measured:
- GraphQL operations: count and latency by operation name and type, errors by `extensions.code`,
  SQL statements per operation (a SQLAlchemy event counts them, per request, in a context
  variable);
- live push: open websocket subscriptions, the deliverer's backlog, and the delivery lag (from a
  notification's creation to its being queued for a live subscriber);
- reminders: those due and not fired yet (the runner's backlog), and all those not fired yet,
  read from the database at each scrape.

Access: with METRICS_TOKEN set, a request must carry `Authorization: Bearer <METRICS_TOKEN>`;
without it, only loopback clients get an answer (behind a proxy on the same host, every client
looks like loopback: set a token).

Several processes (`uvicorn --workers`, `crmfeed serve --workers N`): each process counts its
own. With PROMETHEUS_MULTIPROC_DIR naming an empty folder (`crmfeed serve --workers N` makes
one when it is unset), every process writes its figures there and /metrics answers their sum
(gauges: the sum over live processes; the reminder backlog: the most recent reading).
"""

from __future__ import annotations

import contextvars
import hmac
import logging
import os
import re
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import event
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from strawberry.extensions import SchemaExtension

from crmfeed.settings import is_loopback
from store.backlog import reminder_backlog
from store.types import utcnow

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncEngine
    from starlette.requests import Request
    from starlette.routing import BaseRoute

    from crmfeed.app import Services

log = logging.getLogger("crmfeed.requests")

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
MAX_OPERATION_NAMES = 200  # distinct operation names labelled per process; the rest are "other"
_OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

REQUESTS = Counter(
    "crmfeed_graphql_operations",
    "GraphQL operations run, by operation name and type.",
    ["operation", "type"],
)
LATENCY = Histogram(
    "crmfeed_graphql_operation_seconds",
    "Time to parse, validate and execute a query or mutation, by operation name.",
    ["operation", "type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ERRORS = Counter(
    "crmfeed_graphql_errors",
    "Errors answered, by extensions.code (INTERNAL: an unexpected error, masked).",
    ["code"],
)
STATEMENTS = Histogram(
    "crmfeed_sql_statements_per_operation",
    "SQL statements one query or mutation sent to the database.",
    ["type"],
    buckets=(0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100),
)
SUBSCRIPTIONS = Gauge(
    "crmfeed_live_subscriptions",
    "Open websocket subscriptions (notifications) of this process.",
    multiprocess_mode="livesum",
)
DELIVERY_BACKLOG = Gauge(
    "crmfeed_live_delivery_backlog",
    "Subscriptions waiting for the deliverer to read their new notifications.",
    multiprocess_mode="livesum",
)
DELIVERY_LAG = Histogram(
    "crmfeed_notification_delivery_lag_seconds",
    "From a notification's creation to its being queued for a live subscriber.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
REMINDERS_DUE = Gauge(
    "crmfeed_reminders_due",
    "Reminders due and not fired yet (the reminder runner's backlog), all enterprises.",
    multiprocess_mode="livemostrecent",
)
REMINDERS_SCHEDULED = Gauge(
    "crmfeed_reminders_scheduled",
    "Reminders not fired yet, due or not, all enterprises.",
    multiprocess_mode="livemostrecent",
)


# -- SQL statements per request --------------------------------------------------------------------


class _Count:
    __slots__ = ("statements",)

    def __init__(self) -> None:
        self.statements = 0


_statements: contextvars.ContextVar[_Count | None] = contextvars.ContextVar(
    "crmfeed_statements", default=None
)


def _count_statement(*_: Any) -> None:
    count = _statements.get()
    if count is not None:
        count.statements += 1


def instrument_engine(engine: AsyncEngine) -> None:
    """Count the statements the engine sends for the operation under way (once per engine)."""
    if not event.contains(engine.sync_engine, "before_cursor_execute", _count_statement):
        event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)


# -- GraphQL operations ----------------------------------------------------------------------------

_names: set[str] = set()


def operation_label(name: str | None) -> str:
    """The operation's name as a label: "anonymous", or "other" for a name that is not a plain
    GraphQL name or comes after MAX_OPERATION_NAMES others (clients choose names: the number
    of series must stay bounded)."""
    if not name:
        return "anonymous"
    if name in _names:
        return name
    if not _OPERATION_NAME.fullmatch(name) or len(_names) >= MAX_OPERATION_NAMES:
        return "other"
    _names.add(name)
    return name


class OperationMetrics(SchemaExtension):
    """Counts and times each operation, its errors by code and its SQL statements, and logs
    one line for it (logger `crmfeed.requests`). Listed first, so it sees the final errors."""

    def on_operation(self) -> Iterator[None]:  # type: ignore[override]
        count = _Count()
        token = _statements.set(count)
        started = time.perf_counter()
        try:
            yield
        finally:
            _statements.reset(token)
        seconds = time.perf_counter() - started
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except Exception:  # a document that does not parse has no operation type
            kind = "unknown"
        name = operation_label(context.operation_name)
        REQUESTS.labels(name, kind).inc()
        if kind != "subscription":  # a subscription's time is how long the client listened
            LATENCY.labels(name, kind).observe(seconds)
            STATEMENTS.labels(kind).observe(count.statements)
        result = context.result
        errors = getattr(result, "errors", None) or context.pre_execution_errors or []
        codes = [(error.extensions or {}).get("code") or "INTERNAL" for error in errors]
        for code in codes:
            ERRORS.labels(code).inc()
        given = (context.operation_name or "anonymous")[:100]
        log.info(
            "%s %s: %.1f ms, %d SQL statements%s",
            kind,
            given,
            seconds * 1000,
            count.statements,
            f", errors {','.join(codes)}" if codes else "",
            extra={
                "operation": given,
                "operation_type": kind,
                "duration_ms": round(seconds * 1000, 3),
                "sql_statements": count.statements,
                "error_codes": codes,
            },
        )


# -- live push -------------------------------------------------------------------------------------


def delivered_live(created_at: datetime) -> None:
    """A notification was queued for a live subscriber (not a replay)."""
    DELIVERY_LAG.observe(max(0.0, (utcnow() - created_at).total_seconds()))


# -- the endpoint ----------------------------------------------------------------------------------


def _allowed(request: Request, token: str) -> bool:
    if token:
        scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)
    return request.client is not None and is_loopback(request.client.host)


def exposition() -> bytes:
    """Every metric in the text format: this process's, or every process's in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics_routes(services: Services) -> list[BaseRoute]:
    """GET /metrics for this app; instruments its engine."""
    instrument_engine(services.engine)
    token = services.settings.metrics_token

    async def metrics(request: Request) -> Response:
        if not _allowed(request, token):
            why = (
                "Send Authorization: Bearer <METRICS_TOKEN>."
                if token
                else "Only loopback clients may read /metrics; set METRICS_TOKEN to allow others."
            )
            return PlainTextResponse(why, status_code=401 if token else 403)
        try:
            async with services.session_factory() as session:
                due, scheduled = await reminder_backlog(session, utcnow())
            REMINDERS_DUE.set(due)
            REMINDERS_SCHEDULED.set(scheduled)
        except Exception:  # the other figures are still worth answering
            log.warning("metrics: could not read the reminder backlog", exc_info=True)
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics, methods=["GET"])]
