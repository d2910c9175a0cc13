"""Cross-origin single-page apps: CORS_ORIGINS lists the origins (scheme://host[:port]) whose
pages may call the API from a browser, over HTTP (Starlette's CORSMiddleware) and over the
websocket (the handshake's Origin must be listed; others are refused with 403).

Empty by default: then only same-origin pages (and clients that are not browsers, which send
no Origin) get through. Tokens travel in the Authorization header, never in cookies, so no
credentials mode is offered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from crmfeed.settings import Settings

ALLOWED_HEADERS = ("authorization", "content-type", "idempotency-key", "x-request-id")
EXPOSED_HEADERS = ("x-request-id",)
PREFLIGHT_MAX_AGE = 600


def cors_middleware(settings: Settings) -> list[Middleware]:
    """The CORS middleware for the listed origins, or none when CORS_ORIGINS is empty."""
    origins = settings.cors_origin_list
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=list(ALLOWED_HEADERS),
            expose_headers=list(EXPOSED_HEADERS),
            max_age=PREFLIGHT_MAX_AGE,
        )
    ]


def origin_refusal(origin: str | None) -> str:
    return (
        f"This server does not accept websockets from pages on {origin or 'that origin'}: "
        "list the origin in CORS_ORIGINS to allow it."
    )


async def refuse_websocket(websocket: WebSocket) -> None:
    """Refuse a cross-origin handshake before accepting it: a 403 with the reason as its body
    where the server can send one (uvicorn can), otherwise a close with code 1008."""
    reason = origin_refusal(websocket.headers.get("origin"))
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(PlainTextResponse(reason, status_code=403))
    else:
        await websocket.close(code=1008, reason=reason)
