"""What the file routes beside /graphql share: each request gets a Context as a GraphQL
operation does (the same bearer token), and an error answers in the GraphQL error shape with the
HTTP status its code means. A file the caller may not see is 404, as one that does not exist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmfeed.request_guard import error_response
from resolvers.errors import CrmError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request
    from starlette.responses import Response

    from crmfeed.app import Services
    from resolvers.context import Context

    FileMaker = Callable[[Context, Request], Awaitable[Response | None]]

NOT_FOUND = "Not found, or you may not read it."
STATUS = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "BAD_USER_INPUT": 400,
    "TOO_MANY_ATTEMPTS": 429,
    "LIMIT_EXCEEDED": 503,  # busy: try again after Retry-After
}


def error_of(error: CrmError) -> Response:
    extensions = error.extensions or {}
    code = extensions.get("code", "BAD_REQUEST")
    status = STATUS.get(code, 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if "retryAfter" in extensions:
        headers["Retry-After"] = str(extensions["retryAfter"])
    return error_response(status, error.message, code, headers or None)


def not_found() -> Response:
    return error_response(404, NOT_FOUND, "NOT_FOUND")


def file_endpoint(services: Services, make: FileMaker) -> Callable[[Request], Awaitable[Response]]:
    """A route's endpoint: `make` answers the file, or None for 404."""

    async def endpoint(request: Request) -> Response:
        context = services.context_for(request)
        try:
            found = await make(context, request)
        except CrmError as error:
            return error_of(error)
        finally:
            await context.close()
        return found if found is not None else not_found()

    return endpoint
