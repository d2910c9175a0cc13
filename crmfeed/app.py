"""The ASGI app: GraphQL (and GraphiQL, and subscriptions over websockets) at /graphql,
/healthz, the reference single-page app at /app/, and a lifespan that owns the engine, the
live-push hub and the reminder runner."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from json import JSONDecodeError
from typing import TYPE_CHECKING, Any, NoReturn

import orjson
from cross_web import HTTPException, StarletteRequestAdapter
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult

from crmfeed import idempotency, logs
from crmfeed.cors import cors_middleware, refuse_websocket
from crmfeed.files_import_export import transfer_routes
from crmfeed.graphiql import GraphiQLPage, asset_routes
from crmfeed.live.hub import Hub
from crmfeed.live.mail_outbox import MailRunner
from crmfeed.live.reminders import ReminderRunner
from crmfeed.metrics import metrics_routes
from crmfeed.page_files import page_files
from crmfeed.persisted_queries import PersistedQueries, PersistedQueryTransportWS
from crmfeed.request_guard import IDEMPOTENCY_HEADER, PAYLOAD_KEY, RequestGuard, error_response
from crmfeed.security import Passwords, read_token
from crmfeed.settings import Settings, get_settings
from crmfeed.throttle import LoginThrottle
from resolvers.context import REFUSALS, Context
from resolvers.transfer_jobs import TransferRunner
from schema.build import build_schema
from store.engine import create_engine, create_session_factory
from store.org import TokenState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
    from starlette.types import ASGIApp, Receive, Scope, Send
    from starlette.websockets import WebSocket
    from strawberry.http import GraphQLHTTPResponse

    from crmfeed.live.sessions import OpenSocket


@dataclass
class Services:
    """What the app shares between requests: settings, engine, sessions, live-push hub,
    password hashing (bounded) and the login throttle."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    hub: Hub
    reminders: ReminderRunner
    mail: MailRunner
    transfers: TransferRunner
    passwords: Passwords
    throttle: LoginThrottle
    persisted_queries: PersistedQueries

    @classmethod
    def create(cls, settings: Settings, *, schema: str | None = None) -> Services:
        engine = create_engine(settings, schema=schema)
        session_factory = create_session_factory(engine)
        hub = Hub(
            settings.broadcast_url,
            settings.broadcast_channel,
            queue_size=settings.live_queue_size,
            heartbeat_seconds=settings.live_heartbeat_seconds,
            heartbeat_timeout=settings.live_heartbeat_timeout,
            outage_poll_seconds=settings.live_outage_poll_seconds,
        )
        return cls(
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            hub=hub,
            reminders=ReminderRunner(
                session_factory, hub, poll_seconds=settings.reminder_poll_seconds
            ),
            mail=MailRunner(session_factory, hub, settings),
            transfers=TransferRunner(settings, session_factory, hub),
            passwords=Passwords(settings),
            throttle=LoginThrottle(settings),
            persisted_queries=PersistedQueries.from_settings(settings),
        )

    def context_for(self, request: Request | WebSocket) -> Context:
        """A request's Context (a GraphQL operation's, or a file route's), signed in by its
        bearer token."""
        return Context(
            settings=self.settings,
            session_factory=self.session_factory,
            token=bearer_token(request.headers),
            hub=self.hub,
            request=request,
            passwords=self.passwords,
            throttle=self.throttle,
        )


SOCKET_STATE = "crmfeed_socket"  # the socket's OpenSocket, in the websocket scope's state


def bearer_token(headers: Any) -> str | None:
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class RejectingWebSocketAdapter(ASGIWebSocketAdapter):
    """Closes a refused websocket with the code and reason `on_ws_connect` chose; holds no
    message's text while it waits for the next one (an idle socket keeps nothing of them)."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncIterator[object]:
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                try:
                    message = self.view.decode_json(await self.ws.receive_text())
                except JSONDecodeError as error:
                    if ignore_parsing_errors:
                        continue
                    raise NonJsonMessageReceived from error
                yield message
                del message
        except KeyError as error:  # a binary message
            raise NonTextMessageReceived from error
        except WebSocketDisconnect:
            return

    async def close(self, code: int, reason: str) -> None:
        chosen = getattr(self.ws.state, "rejection", None)
        await super().close(*(chosen or (code, reason)))


def is_request_error(body: GraphQLHTTPResponse | list[GraphQLHTTPResponse]) -> bool:
    """Whether an answer says the request could not run at all: no data, and only errors
    outside any field that carry a code (a masked unexpected error carries none)."""
    if isinstance(body, list) or body.get("data") is not None:
        return False
    errors = body.get("errors") or []
    return bool(errors) and all(
        "path" not in error and "code" in (error.get("extensions") or {}) for error in errors
    )


class GuardedRequestAdapter(StarletteRequestAdapter):
    """Strawberry's view of a Starlette request, with the operation RequestGuard parsed."""

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.payload: dict[str, Any] | None = request.scope.get(PAYLOAD_KEY)


def encode_body(data: object) -> bytes:
    """The HTTP answer's JSON, by orjson (about 10x faster than the standard library's); a
    text holding a lone surrogate (a message may quote the client's own text), which UTF-8
    cannot encode, falls back to ASCII JSON with escapes."""
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:
        return json.dumps(data, separators=(",", ":")).encode()


class CrmGraphQL(GraphQL):
    """Strawberry's ASGI view with our per-request Context and websocket authentication; its
    refusals are GraphQL-shaped (crmfeed/request_guard.py refuses malformed requests first)."""

    websocket_adapter_class = RejectingWebSocketAdapter  # type: ignore[assignment]
    request_adapter_class = GuardedRequestAdapter
    graphql_transport_ws_handler_class = PersistedQueryTransportWS

    def __init__(self, services: Services) -> None:
        schema = build_schema(services.settings, persisted_queries=services.persisted_queries)
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allowed_origins=services.settings.cors_origin_list,
            multipart_uploads_enabled=True,  # file uploads: importRecords, startImport
        )
        self.services = services
        self.persisted_queries = services.persisted_queries
        self.graphiql = GraphiQLPage(services.settings)

    @property
    def graphql_ide_html(self) -> str:
        """crmfeed's GraphiQL page (crmfeed/graphiql.py): its example, its assets."""
        return self.graphiql.html()

    def should_render_graphql_ide(self, request: Any) -> bool:
        """Not for a persisted query's GET, which sends `extensions` instead of `query`."""
        return "extensions" not in request.query_params and super().should_render_graphql_ide(
            request
        )

    async def execute_single(  # type: ignore[override]
        self, *, request_data: GraphQLRequestData, **kwargs: Any
    ) -> ExecutionResult:
        """As strawberry's, once a persisted query's hash is checked or its text filled in
        (crmfeed/persisted_queries.py); an unknown hash answers PersistedQueryNotFound."""
        refusal = await self.services.persisted_queries.prepare(request_data)
        if refusal is not None:
            return ExecutionResult(data=None, errors=[refusal])
        return await super().execute_single(request_data=request_data, **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """As strawberry's: an HTTPException is answered as a GraphQL error; a websocket's
        token stops being watched when the socket ends."""
        if scope["type"] == "websocket":
            try:
                await super().__call__(scope, receive, send)
            finally:
                opened: OpenSocket | None = scope.get("state", {}).get(SOCKET_STATE)
                if opened is not None:
                    self.services.hub.sessions.forget(opened)
            return
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self._answer(Request(scope=scope, receive=receive))
        except HTTPException as error:
            message = error.reason
            cause = error.__cause__
            if isinstance(cause, InvalidOperationTypeError):
                kind = cause.operation_type.value.capitalize()
                message = f"{kind}s cannot be sent with {scope['method']}: send them with POST."
            elif isinstance(cause, CannotGetOperationTypeError) and cause.operation_name is None:
                message = (
                    "The document must hold one operation, or name the one to run in "
                    "`operationName`."
                )
            response = error_response(error.status_code, message, "BAD_REQUEST")
        await response(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        """Run the operation; a POST with an Idempotency-Key goes through
        crmfeed/idempotency.py, which may answer from what it stored."""
        if request.method != "POST" or IDEMPOTENCY_HEADER not in request.headers:
            return await self.run(request)  # type: ignore[return-value]
        context = await self.get_context(request, response=None)

        async def run(context: Context) -> Response:
            return await self.run(request, context=context)  # type: ignore[return-value]

        try:
            return await idempotency.answer(context, request, run)
        finally:
            await context.close()

    async def parse_http_body(
        self, request: GuardedRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """A POST's operation as RequestGuard parsed and checked it; else as strawberry does."""
        payload = request.payload
        if payload is None:
            return await super().parse_http_body(request)
        return GraphQLRequestData(
            query=payload.get("query"),
            variables=payload.get("variables"),
            operation_name=payload.get("operationName"),
            extensions=payload.get("extensions"),
        )

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """A request that could not run (a syntax or validation error, variables that do not
        fit, text that is too long, a subscription) answers 400; a refusal while running, 200."""
        if is_request_error(response_data):
            sub_response.status_code = 400
        response = Response(
            encode_body(response_data),
            status_code=sub_response.status_code or 200,
            media_type="application/json",
        )
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        return response

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:  # type: ignore[override]
        return self.services.context_for(request)

    async def on_ws_connect(self, context: Context) -> None:  # type: ignore[override]
        """The token comes in connection_init: {"Authorization": "Bearer <token>"}."""
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        token = bearer_token({"authorization": header}) if isinstance(header, str) else None
        if token is None:
            self._reject(
                context,
                4401,
                'Unauthorized: send {"Authorization": "Bearer '
                '<token>"} in the connection_init payload',
            )
        elif read_token(self.services.settings, token) is None:
            self._reject(context, 4403, "Forbidden: the token is invalid or expired; log in again")
        context.token = token
        context.forget_viewer()
        try:
            viewer = await context.optional_viewer()
        finally:
            # The context lives as long as the socket: don't let an idle socket hold a
            # pooled database connection (20 idle sockets would exhaust the pool).
            await context.close()
        if viewer is None or context.claims is None:
            refusal = REFUSALS.get(context.token_state or TokenState.NO_USER)
            self._reject(context, 4403, f"Forbidden: {refusal}")
        websocket = context.request
        if websocket is not None:
            # Closed with 4401 when the token expires, 4403 when it is revoked or the user
            # deactivated (crmfeed/live/sessions.py); forgotten when the socket ends.
            claims = context.claims

            async def close(code: int, reason: str) -> None:
                await websocket.close(code=code, reason=reason)

            opened = self.services.hub.sessions.open(
                viewer.id, claims.token_id, claims.expires_at, close
            )
            setattr(websocket.state, SOCKET_STATE, opened)

    async def reject_websocket(self, request: WebSocket) -> WebSocket:  # type: ignore[override]
        """A websocket from a page on an origin CORS_ORIGINS does not list: 403, saying so."""
        await refuse_websocket(request)
        return request

    @staticmethod
    def _reject(context: Context, code: int, reason: str) -> NoReturn:
        if context.request is not None:
            context.request.state.rejection = (code, reason)
        raise ConnectionRejectionError({"message": reason, "code": code})


def route_path(scope: Scope) -> str:
    """The request's path below the app's root path, as Starlette's router matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


class App(Starlette):
    """Starlette, except that a websocket to /graphql goes to the GraphQL view straight away
    (with its request id): Starlette's error and exception middleware and its router do
    nothing for a socket the view handles, yet each open socket kept their coroutine frames
    and closures for its whole life."""

    def __init__(self, *, websocket_app: ASGIApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.websocket_app = websocket_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and route_path(scope) == "/graphql":
            scope["app"] = self
            await self.websocket_app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(services: Services | None = None) -> Starlette:
    """The app; `services` defaults to ones built from the environment's settings.

    Refuses (InsecureSecretKey) the public development SECRET_KEY on a shared database;
    `crmfeed serve` also refuses it on a public address or with several workers."""
    services = services or Services.create(get_settings())
    services.settings.refuse_if_insecure()
    services.settings.warn_if_insecure()
    logs.configure(services.settings)
    graphql = CrmGraphQL(services)

    async def healthz(_: Request) -> JSONResponse:
        try:
            async with services.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:  # any failure means "not healthy"
            return JSONResponse(
                {"status": "unavailable", "database": type(error).__name__}, status_code=503
            )
        # The process serves without its broker too (live push falls back to polling).
        live = {
            "broker": "connected" if services.hub.connected else "unreachable",
            "outage_polls": services.hub.outage_polls,
        }
        return JSONResponse({"status": "ok", "live": live})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        """Start the services and the pollers the settings ask for, and stop them at the end.
        Services already started by whoever made them (a test's shared services, an app that
        embeds this one) are theirs to stop: only what this lifespan started is stopped."""
        async with contextlib.AsyncExitStack() as started:
            if not services.hub.running:
                await services.hub.start()
                started.push_async_callback(services.engine.dispose)
                started.push_async_callback(services.persisted_queries.close)
                started.push_async_callback(services.throttle.close)
                started.push_async_callback(services.hub.stop)
            pollers = (
                (services.settings.run_mail_sender, services.mail),
                (services.settings.run_reminders, services.reminders),
                (services.settings.run_transfer_jobs, services.transfers),
            )
            for wanted, poller in pollers:
                if wanted and not poller.running:
                    poller.start()
                    started.push_async_callback(poller.stop)
            yield

    app = App(
        websocket_app=logs.RequestIdMiddleware(graphql),
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route(
                "/graphql",
                RequestGuard(
                    graphql,
                    max_body_size=services.settings.max_body_size,
                    max_upload_size=services.settings.upload_max_bytes,
                ),
            ),
            WebSocketRoute("/graphql", graphql),
            *asset_routes(services.settings),
            *metrics_routes(services),
            # The reference single-page app (crmfeed/webapp/: plain JavaScript modules).
            Mount("/app", StaticFiles(packages=[("crmfeed", "webapp")], html=True), name="app"),
            # Record PDFs, calendar files (their routes, not a Mount: a Mount at "" would match
            # every path and turn a wrong method on /healthz into a 404).
            *page_files(services).routes,
            *transfer_routes(services),
        ],
        lifespan=lifespan,
        middleware=[Middleware(logs.RequestIdMiddleware), *cors_middleware(services.settings)],
    )
    app.state.services = services
    return app
