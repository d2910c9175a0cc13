"""Ending sessions: logging out (one token) and deactivating a user (all their tokens).

Every request already loads its viewer in one statement; that statement also reads the user's
`active` flag, `token_version` and whether the token's id was revoked (store/org.py
`load_token_viewer`), so a revoked or deactivated token is refused at once, at no extra cost.
Open websockets are closed through the hub, on every process (crmfeed/live/sessions.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from crmfeed.ids import Kind
from crmfeed.live.sessions import Ended
from resolvers.errors import BadUserInput, Conflict, Unauthenticated, not_found
from resolvers.inputs import parse_optional_id
from store import org

if TYPE_CHECKING:
    from resolvers.context import Context
    from store.models import User


async def logout(context: Context) -> bool:
    """Revoke the token of this request; its websockets are closed."""
    viewer = await context.viewer()
    claims = context.claims
    if claims is None:  # cannot happen once the viewer loaded from a token
        raise Unauthenticated("Sign in first: send 'Authorization: Bearer <token>'.")
    async with context.db() as session:
        await org.revoke_token(
            session,
            enterprise_id=viewer.enterprise_id,
            user_id=viewer.id,
            token_id=claims.token_id,
            expires_at=claims.expires_at,
            now=datetime.now(UTC),
        )
        await session.commit()
    context.forget_viewer()
    if context.hub is not None:
        await context.hub.end_sessions(viewer.id, claims.token_id, Ended.REVOKED)
    return True


async def set_active(context: Context, user_id: str, active: bool) -> User:
    """Deactivate or reactivate a user of the caller's enterprise (CRM administrators only,
    checked by the schema). Deactivating: they cannot log in, every token they hold stops
    working at once (on every process, websockets included), their rows stay. An administrator
    cannot deactivate themselves, nor the enterprise's last active CRM administrator."""
    viewer = await context.viewer()
    target = parse_optional_id(user_id, Kind.USER, "id")
    if not active and target == viewer.id:
        raise BadUserInput(
            "id: you cannot deactivate yourself; another CRM administrator can.", field="id"
        )
    async with context.db() as session:
        await org.lock_enterprise(session, viewer.enterprise_id)
        user = await org.get_user(session, viewer.enterprise_id, target or 0)
        if user is None:
            raise not_found("user", user_id)
        if user.active == active:
            return user  # nothing to change (a repeated request)
        await org.set_active(session, user, active)
        if not active and not await org.admin_ids(session, viewer.enterprise_id, active_only=True):
            await session.rollback()
            raise Conflict(
                "id: this user is the enterprise's last active CRM administrator; make someone "
                "else an administrator first.",
                field="id",
            )
        await session.commit()
    if not active and context.hub is not None:
        await context.hub.end_sessions(user.id, None, Ended.DEACTIVATED)
    return user
