"""Registering an enterprise, logging in, and who the caller is.

A login is throttled per email and per client address (crmfeed/throttle.py): a throttled one is
refused with TOO_MANY_ATTEMPTS before any password is checked, the right one too. The address is
the connection's peer as the server reports it (`request.client`): uvicorn replaces it with the
X-Forwarded-For address only for connections from its FORWARDED_ALLOW_IPS; the app itself never
reads that header. Unknown emails and wrong passwords get the same answer after the same work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crmfeed.registry.enums import FunctionRole
from crmfeed.security import issue_token
from resolvers.errors import TooManyAttempts, Unauthenticated
from resolvers.inputs import check_password, clean_email, clean_text
from resolvers.org import claiming_email, email_conflict
from store import org

if TYPE_CHECKING:
    from crmfeed.throttle import Refusal
    from resolvers.context import Context
    from store.models import User


DEACTIVATED_LOGIN = "This account is deactivated; a CRM administrator can reactivate it."


@dataclass(frozen=True, slots=True)
class Auth:
    token: str
    user: User


async def register_enterprise(
    context: Context, *, enterprise_name: str, admin_name: str, email: str, password: str
) -> Auth:
    """A new enterprise with its first user, a CRM administrator."""
    enterprise_name = clean_text(enterprise_name, "enterpriseName")
    admin_name = clean_text(admin_name, "adminName")
    email = clean_email(email)
    password = check_password(
        password, settings=context.settings, user_inputs=(email, admin_name, enterprise_name)
    )
    password_hash = await context.passwords.hash(password)
    async with context.db() as session:
        if await org.email_taken(session, email):
            raise email_conflict(email)
        async with claiming_email(session, email):
            enterprise = await org.create_enterprise(session, enterprise_name)
            user = await org.create_user(
                session,
                enterprise_id=enterprise.id,
                name=admin_name,
                email=email,
                password_hash=password_hash,
                department_id=None,
                superior_id=None,
                roles=[FunctionRole.CRM_ADMIN, FunctionRole.SALES],
            )
            await session.commit()
    context.token = issue_token(context.settings, user.id, enterprise.id)
    context.forget_viewer()
    return Auth(token=context.token, user=user)


async def login(context: Context, *, email: str, password: str) -> Auth:
    email = email.strip().lower()
    address = client_address(context)
    throttle = context.throttle

    async def admit() -> None:
        refusal = await throttle.refusal(email, address)
        if refusal is not None:
            raise too_many_attempts(refusal)

    # Checked before waiting for a hashing slot (a throttled flood costs no hash), and again
    # once the slot is ours (logins that queued together cannot all slip past the limit).
    await admit()
    async with context.db() as session:
        user = await org.get_user_by_email(session, email)
    # The wait for a hashing slot can be long in a flood of logins: it must not hold a pooled
    # database connection, or the flood starves every other request of connections.
    await context.close()
    # An unknown email is checked against a dummy hash: the same work, the same answer.
    password_hash = None if user is None else user.password_hash
    correct = await context.passwords.verify(password_hash, password, admit=admit)
    if user is None or not correct:
        await throttle.failed(email, address)
        raise Unauthenticated("The email or the password is wrong.")
    await throttle.succeeded(email)
    if not user.active:  # said only to whoever knows the password
        raise Unauthenticated(DEACTIVATED_LOGIN)
    context.token = issue_token(
        context.settings, user.id, user.enterprise_id, version=user.token_version
    )
    context.forget_viewer()
    return Auth(token=context.token, user=user)


def client_address(context: Context) -> str:
    """The client's address as the server saw it; "unknown" without one (a unix socket)."""
    client = None if context.request is None else context.request.client
    return client.host if client is not None else "unknown"


def too_many_attempts(refusal: Refusal) -> TooManyAttempts:
    what = "this account" if refusal.by == "account" else "this address"
    return TooManyAttempts(
        f"Too many failed logins for {what}: try again in {refusal.seconds} seconds.",
        retry_after=refusal.seconds,
    )


async def me(context: Context) -> User:
    viewer = await context.viewer()
    user = await context.loaders.user_by_id.load(viewer.id)
    if user is None:
        raise Unauthenticated("This account no longer exists.")
    return user
