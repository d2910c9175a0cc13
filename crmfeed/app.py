"""The ASGI app: GraphQL (and GraphiQL) at /graphql, /healthz, engine and broadcaster lifespan."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from broadcaster import Broadcast
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL

from crmfeed.settings import Settings, get_settings
from resolvers.context import Context
from schema.build import build_schema
from store.engine import create_engine, create_session_factory

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
    from starlette.requests import Request
    from starlette.websockets import WebSocket


@dataclass
class Services:
    """What the app shares between requests: settings, engine, sessions, broadcaster."""

    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    broadcast: Broadcast

    @classmethod
    def create(cls, settings: Settings, *, schema: str | None = None) -> Services:
        engine = create_engine(settings, schema=schema)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=create_session_factory(engine),
            broadcast=Broadcast(settings.broadcast_url),
        )


def bearer_token(headers: Any) -> str | None:
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class CrmGraphQL(GraphQL):
    """Strawberry's ASGI view with our per-request Context."""

    def __init__(self, services: Services) -> None:
        super().__init__(build_schema(services.settings), graphql_ide="graphiql")
        self.services = services

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:  # type: ignore[override]
        return Context(
            settings=self.services.settings,
            session_factory=self.services.session_factory,
            token=bearer_token(request.headers),
        )


def create_app(services: Services | None = None) -> Starlette:
    """The app; `services` defaults to ones built from the environment's settings."""
    services = services or Services.create(get_settings())
    services.settings.warn_if_insecure()
    graphql = CrmGraphQL(services)

    async def healthz(_: Request) -> JSONResponse:
        try:
            async with services.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:  # any failure means "not healthy"
            return JSONResponse(
                {"status": "unavailable", "database": type(error).__name__}, status_code=503
            )
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await services.broadcast.connect()
        try:
            yield
        finally:
            await services.broadcast.disconnect()
            await services.engine.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    return app
