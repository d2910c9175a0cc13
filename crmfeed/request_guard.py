"""The HTTP front of /graphql: a request that cannot carry a GraphQL operation is answered here,
with a 4xx and a GraphQL-shaped error, before strawberry's view sees it.

The view answers some malformed requests with a plain-text 400 and others (a body of `null` or
`42`, bytes that are not UTF-8, JSON nested thousands deep) with a 500. A file upload
(multipart/form-data, the GraphQL multipart request spec) passes on when uploads are on, it
names its boundary and declares a Content-Length within `max_upload_size`. This guard reads a POST
body itself, refusing it past `max_body_size` bytes (413, from the Content-Length or while it
arrives), checks that it is JSON (415 otherwise), UTF-8, nested at most `MAX_JSON_DEPTH` levels,
and one object whose members have the types GraphQL over HTTP gives them (a list is a batch,
which is not supported); it checks GET's parameters the same way, refuses other methods (405)
and a malformed `Idempotency-Key` header (crmfeed/idempotency.py), and then hands the request
on unchanged, with the operation it parsed from a POST body in the scope (`PAYLOAD_KEY`), so
the view does not parse the body a second time. GraphiQL (a GET from a browser) and websockets pass
straight through.

    app = RequestGuard(graphql_view, max_body_size=1024 * 1024)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.responses import Response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_DEPTH = 32
MAX_INTEGER_DIGITS = 100
ALLOWED_METHODS = "GET, POST"
EXAMPLE = '{"query": "...", "variables": {...}}'
IDEMPOTENCY_HEADER = "idempotency-key"
MAX_IDEMPOTENCY_KEY = 255
MEMBERS = {"query": str, "variables": dict, "operationName": str, "extensions": dict}
KINDS = {str: "a string", dict: "a JSON object"}
PAYLOAD_KEY = "crmfeed.operation"  # the scope key of a POST body's parsed operation


class Refusal(Exception):
    """A request answered with `status` and one GraphQL error of `code`."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "BAD_REQUEST",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers

    def response(self) -> Response:
        return error_response(self.status, self.message, self.code, self.headers)


def error_response(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> Response:
    """The GraphQL shape of a refused request: `{"errors": [{"message", "extensions"}]}`, in
    ASCII JSON (a message may quote text holding a lone surrogate, which UTF-8 cannot encode)."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


def describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not a JSON number")


def _integer(digits: str) -> int:
    if len(digits) > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer of {len(digits):,} digits is more than this API takes")
    return int(digits)


def parse_json(raw: bytes | str, what: str) -> Any:
    """JSON text from the client, refused (400) when it is not UTF-8, not JSON, or too deep."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise Refusal(
                400,
                f"{what} is not valid UTF-8 (byte 0x{raw[error.start]:02x} at offset "
                f"{error.start}): JSON must be sent as UTF-8.",
            ) from None
    if not raw.strip():
        raise Refusal(400, f"{what} is empty: send a JSON object like {EXAMPLE}.")
    too_deep = Refusal(400, f"{what} is JSON nested deeper than {MAX_JSON_DEPTH} levels.")
    try:
        value = json.loads(raw, parse_constant=_not_json, parse_int=_integer)
    except RecursionError:
        raise too_deep from None
    except json.JSONDecodeError as error:
        raise Refusal(
            400,
            f"{what} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}).",
        ) from None
    except ValueError as error:  # NaN, Infinity, an integer of hundreds of digits
        raise Refusal(400, f"{what} is not valid JSON: {error}.") from None
    if nesting_exceeds(value, MAX_JSON_DEPTH):
        raise too_deep
    return value


def nesting_exceeds(value: object, limit: int) -> bool:
    """Whether lists and objects nest deeper than `limit` (the outermost is level 1)."""
    stack: list[tuple[dict[str, Any] | list[Any], int]] = (
        [(value, 1)] if isinstance(value, dict | list) else []
    )
    while stack:
        item, level = stack.pop()
        if level > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return False


def check_operation(payload: object, where: str) -> None:
    """One GraphQL-over-HTTP operation: an object with a `query` text (or a persisted query's
    hash in `extensions`) and typed members."""
    if isinstance(payload, list):
        raise Refusal(
            400,
            "Batching is not supported: send one operation per request, as a JSON object "
            f"like {EXAMPLE}.",
        )
    if not isinstance(payload, dict):
        raise Refusal(
            400, f"The request body must be a JSON object like {EXAMPLE}; got {describe(payload)}."
        )
    for name, kind in MEMBERS.items():
        value = payload.get(name)
        if value is not None and not isinstance(value, kind):
            raise Refusal(
                400, f"`{name}` must be {KINDS[kind]} or null; got {describe(value)} ({where})."
            )
    persisted = (payload.get("extensions") or {}).get("persistedQuery") is not None
    if not payload.get("query") and not (persisted and payload.get("query") is None):
        # A persisted query (crmfeed/persisted_queries.py) may send its hash alone.
        raise Refusal(400, f"No GraphQL query: send the operation's text as `query` ({where}).")


class RequestGuard:
    """ASGI middleware for the GraphQL endpoint (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, *, max_body_size: int, max_upload_size: int | None = None
    ) -> None:
        self.app = app
        self.max_body_size = max_body_size
        self.max_upload_size = max_upload_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_idempotency_key(scope)
            if scope["method"] == "POST" and self._is_upload(scope):
                pass  # strawberry reads the multipart request (GraphQL multipart request spec)
            elif scope["method"] == "POST":
                read = await self._read_json_body(scope, receive)
                if read is None:  # the client left while sending
                    return
                body, scope[PAYLOAD_KEY] = read
                receive = _replay(body, receive)
            elif scope["method"] == "GET":
                check_query_string(scope)
            else:
                raise Refusal(
                    405,
                    f"{scope['method']} is not supported: send GraphQL operations with POST "
                    "(queries also with GET).",
                    headers={"Allow": ALLOWED_METHODS},
                )
        except Refusal as refusal:
            await refusal.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _is_upload(self, scope: Scope) -> bool:
        """A file upload (multipart/form-data), when uploads are on: it must declare its
        length, at most `max_upload_size` bytes (the server holds the body to that length)."""
        headers = Headers(scope=scope)
        content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "multipart/form-data" or self.max_upload_size is None:
            return False
        if "boundary=" not in (headers.get("content-type") or "").lower():
            raise Refusal(
                400,
                "A multipart/form-data request needs its boundary in the Content-Type (send "
                "files as the GraphQL multipart request spec says).",
            )
        length = headers.get("content-length", "")
        if not length.isdigit():
            raise Refusal(411, "Send a file upload with its Content-Length.")
        if int(length) > self.max_upload_size:
            raise Refusal(
                413,
                f"The upload is larger than the {self.max_upload_size:,} bytes this server "
                "accepts.",
                code="LIMIT_EXCEEDED",
            )
        return True

    async def _read_json_body(
        self, scope: Scope, receive: Receive
    ) -> tuple[bytes, dict[str, Any]] | None:
        """The body and the operation it holds; None if the client left while sending."""
        headers = Headers(scope=scope)
        content_type = headers.get("content-type")
        if content_type is None or content_type.split(";")[0].strip().lower() != (
            "application/json"
        ):
            got = "none was given" if content_type is None else f"got {content_type!r}"
            raise Refusal(
                415, f"Send the operation as JSON, with Content-Type: application/json ({got})."
            )
        too_large = Refusal(
            413,
            f"The request body is larger than the {self.max_body_size:,} bytes this server "
            "accepts.",
            code="LIMIT_EXCEEDED",
        )
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_size:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_size:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        payload = parse_json(body, "The request body")
        check_operation(payload, "in the request body")
        return body, payload


def check_idempotency_key(scope: Scope) -> None:
    """An `Idempotency-Key` header, when given: once, 1 to 255 printable ASCII characters."""
    values = Headers(scope=scope).getlist(IDEMPOTENCY_HEADER)
    if not values:
        return
    if len(values) > 1:
        raise Refusal(400, "Send the Idempotency-Key header once.")
    key = values[0]
    if not key:
        problem = "it is empty"
    elif len(key) > MAX_IDEMPOTENCY_KEY:
        problem = f"it has {len(key):,} characters"
    elif not all(" " <= character <= "~" for character in key):
        problem = "it holds characters outside printable ASCII"
    else:
        return
    raise Refusal(
        400,
        f"The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII "
        f"characters (a UUID makes a good key); {problem}.",
    )


def check_query_string(scope: Scope) -> None:
    """GET: `query` (unless a browser asks for GraphiQL), JSON objects for `variables` and
    `extensions`, each parameter at most once, percent-escapes that are UTF-8."""
    try:
        pairs = parse_qsl(
            scope.get("query_string", b"").decode("latin-1"),
            keep_blank_values=True,
            errors="strict",
        )
    except UnicodeDecodeError:
        raise Refusal(400, "The query string is not valid UTF-8 once percent-decoded.") from None
    params: dict[str, Any] = {}
    for name, value in pairs:
        if name in params and name in MEMBERS:
            raise Refusal(400, f"Send the `{name}` parameter once.")
        params[name] = value
    if "query" not in params and "extensions" not in params:
        accept = Headers(scope=scope).get("accept", "")
        if "text/html" in accept or "*/*" in accept:
            return  # GraphiQL
    for name in ("variables", "extensions"):
        if name in params:
            params[name] = parse_json(params[name], f"The `{name}` parameter")
    check_operation(params, "in the query string")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app the body already read, then whatever comes next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
