"""Registering an enterprise, logging in, and who the caller is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crmfeed.registry.enums import FunctionRole
from crmfeed.security import hash_password, issue_token, verify_password
from resolvers.errors import Unauthenticated
from resolvers.inputs import check_password, clean_email, clean_text
from resolvers.org import claiming_email, email_conflict
from store import org

if TYPE_CHECKING:
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
    password = check_password(password)
    password_hash = await hash_password(context.settings, password)
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
    async with context.db() as session:
        user = await org.get_user_by_email(session, email.strip().lower())
    if user is None or not await verify_password(context.settings, user.password_hash, password):
        raise Unauthenticated("The email or the password is wrong.")
    if not user.active:  # said only to whoever knows the password
        raise Unauthenticated(DEACTIVATED_LOGIN)
    context.token = issue_token(
        context.settings, user.id, user.enterprise_id, version=user.token_version
    )
    context.forget_viewer()
    return Auth(token=context.token, user=user)


async def me(context: Context) -> User:
    viewer = await context.viewer()
    user = await context.loaders.user_by_id.load(viewer.id)
    if user is None:
        raise Unauthenticated("This account no longer exists.")
    return user
