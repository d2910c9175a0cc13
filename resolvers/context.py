"""The per-request context: settings, one database session, the viewer and the DataLoaders."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING

from crmfeed.security import Passwords, read_token
from crmfeed.throttle import LoginThrottle
from resolvers.errors import Unauthenticated
from store import org
from store.org import TokenState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    from starlette.requests import Request
    from starlette.websockets import WebSocket

    from crmfeed.idempotency import Claim
    from crmfeed.live.hub import Hub
    from crmfeed.security import TokenClaims
    from crmfeed.settings import Settings
    from resolvers.field_access import FieldAccessMap
    from resolvers.loaders import Loaders
    from store.viewer import Viewer

_UNSET = object()

# Why a well-signed, unexpired token does not sign anyone in (HTTP errors, websocket closes).
REFUSALS = {
    TokenState.NO_USER: "this account no longer exists",
    TokenState.DEACTIVATED: "this account is deactivated; ask a CRM administrator",
    TokenState.REVOKED: "this token was revoked (by a logout or a deactivation); log in again",
}


class Context:
    """Created once per GraphQL operation; `close()` ends its session (rolling back leftovers).

    Strawberry resolves sibling fields concurrently while an AsyncSession allows one statement
    at a time, so every use of the session goes through `db()`, which serialises them. On
    SQLite, when every pooled connection is in use, a `db()` block that leaves no write
    transaction open hands its connection back at its end (the session keeps what it loaded):
    under load a request holds a connection while it reads or writes, not while it resolves
    fields, waits for a password hash or for its turn to write.
    """

    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        token: str | None,
        hub: Hub | None = None,
        request: Request | WebSocket | None = None,
        passwords: Passwords | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.token = token
        self.hub = hub
        self.request = request
        # A served app passes its process-wide ones; a one-off context (the CLI) gets its own.
        self.passwords = passwords or Passwords(settings)
        self.throttle = throttle or LoginThrottle(
            settings.model_copy(update={"broadcast_url": "memory://"})
        )
        self.connection_params: dict[str, object] | None = None
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()
        self._viewer: object = _UNSET
        self.claims: TokenClaims | None = None  # of the token, once read
        self.token_state: TokenState | None = None  # None: no token, or a bad or expired one
        self._field_access: FieldAccessMap | None = None
        self._claim: Claim | None = None

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            if self._session is None:
                self._session = self.session_factory()
                if self._claim is not None:
                    self._claim.watch(self._session)
            yield self._session
            await self._release_connection()

    async def _release_connection(self) -> None:
        """Give the session's SQLite connection back to the pool when the pool has none to
        spare, no transaction is open on it and nothing waits to be flushed: a commit that
        writes nothing (and costs no hand-off: store/sqlite_connection.py). Not while an
        Idempotency-Key waits for the request's first commit, and not on PostgreSQL, where
        every statement opens a transaction."""
        session = self._session
        pool = getattr(session.bind, "pool", None) if session is not None else None
        if (
            session is None
            or pool is None
            or pool.checkedout() < pool.size()  # connections to spare: keeping it is cheaper
            or self._claim is not None
            or not session.in_transaction()
            or not session.sync_session._is_clean()  # nothing added, changed or deleted
        ):
            return
        connection = await session.connection()
        if connection.dialect.name != "sqlite":
            return
        raw = connection.sync_connection.connection.driver_connection  # type: ignore[union-attr]
        if not raw.in_transaction:
            await session.commit()

    def claim_idempotency(self, claim: Claim) -> None:
        """Write `claim`'s Idempotency-Key row in the first transaction this request commits,
        whichever session commits it (crmfeed/idempotency.py)."""
        self._claim = claim
        if self._session is not None:
            claim.watch(self._session)

    async def close(self) -> None:
        # Under the lock: a websocket's operations share one context, so another operation
        # may be in the middle of using the session.
        async with self._lock:
            if self._session is not None:
                await self._session.close()
                self._session = None

    async def discard_transaction(self) -> None:
        """Roll back and forget what this operation read, to run it again from the start."""
        await self.close()
        self.reset_loaders()

    async def optional_viewer(self) -> Viewer | None:
        if self._viewer is _UNSET:
            self._viewer = await self._load_viewer()
        return self._viewer  # type: ignore[return-value]

    async def viewer(self) -> Viewer:
        """The signed-in user; UNAUTHENTICATED without a valid token."""
        viewer = await self.optional_viewer()
        if viewer is None:
            refusal = REFUSALS.get(self.token_state) if self.token_state else None
            if refusal is not None:
                raise Unauthenticated(f"The token no longer counts: {refusal}.")
            if self.token:
                raise Unauthenticated("The token is invalid or expired: log in again.")
            raise Unauthenticated("Sign in first: send 'Authorization: Bearer <token>'.")
        return viewer

    async def publish(self, sent: list[tuple[int, int]]) -> None:
        """Push committed notifications ((user, seq) pairs) to live subscribers."""
        if self.hub is not None and sent:
            await self.hub.publish(sent)

    def use_viewer(self, viewer: Viewer) -> None:
        """Take the viewer as just loaded elsewhere (with a subscription's delivery)."""
        self._viewer = viewer

    def forget_viewer(self) -> None:
        """Reload the viewer on next use (after their roles or department changed)."""
        self._viewer = _UNSET

    async def _load_viewer(self) -> Viewer | None:
        self.claims = self.token_state = None
        if not self.token:
            return None
        claims = read_token(self.settings, self.token)
        if claims is None:
            return None
        self.claims = claims
        async with self.db() as session:
            found = await org.load_token_viewer(
                session, claims.enterprise_id, claims.user_id, claims.token_id, claims.version
            )
        self.token_state = found.state
        return found.viewer

    async def field_access(self) -> FieldAccessMap:
        """The caller's field-level access, loaded once per request."""
        if self._field_access is None:
            from resolvers.field_access import load

            self._field_access = await load(self)
        return self._field_access

    def forget_field_access(self) -> None:
        self._field_access = None

    def reset_loaders(self) -> None:
        """Forget cached lookups (a long-lived subscription re-checks at each delivery)."""
        self.__dict__.pop("loaders", None)
        self._field_access = None

    @cached_property
    def loaders(self) -> Loaders:
        from resolvers.loaders import Loaders

        return Loaders(self)

    def page_size(self, first: int | None) -> int:
        from resolvers.paging import page_size

        return page_size(first, self.settings.max_page_size)
