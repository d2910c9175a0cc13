"""Request ids and JSON logs.

Every HTTP request and websocket gets a request id: the client's `X-Request-ID` when it is a
plain token (letters, digits, `.`, `_`, `:`, `-`; at most 128), otherwise a fresh one. It is
echoed in the response's `X-Request-ID` header and carried by every log line written while the
request runs (`request_id`). With LOG_FORMAT=json, the app's and uvicorn's loggers write one JSON
object a line (python-json-logger): time, level, logger, message, request_id, and the line's
extra fields (an operation's name, duration, SQL statements and error codes).
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import re
import uuid
from typing import TYPE_CHECKING, Any

from starlette.datastructures import MutableHeaders

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from crmfeed.settings import Settings

HEADER = "x-request-id"
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "crmfeed_request_id", default=None
)


def accepted_id(given: str | None) -> str:
    """The client's id when it is acceptable, otherwise a fresh one."""
    if given is not None and _VALID.fullmatch(given):
        return given
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Gives each request and websocket its id (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = next(
            (value.decode("latin-1") for key, value in scope["headers"] if key == b"x-request-id"),
            None,
        )
        ident = accepted_id(given)
        token = request_id.set(ident)

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                MutableHeaders(scope=message)[HEADER] = ident
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `request_id` (None outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def json_log_config(level: str = "INFO") -> dict[str, Any]:
    """A logging configuration writing JSON lines to stderr for the root, crmfeed's and
    uvicorn's loggers."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level.upper()}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "crmfeed")
        },
    }


def configure(settings: Settings, level: str = "INFO") -> None:
    """Switch to JSON lines when LOG_FORMAT=json; text logging is left as it is."""
    if settings.log_format == "json":
        logging.config.dictConfig(json_log_config(level))
