"""Departments and users: the two trees every visibility rule walks."""

from __future__ import annotations

from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from crmfeed.ids import Kind
from crmfeed.registry.enums import FunctionRole
from resolvers.errors import BadUserInput, Conflict, not_found
from resolvers.inputs import (
    check_password,
    clean_email,
    clean_text,
    parse_optional_id,
)
from resolvers.paging import decode_cursor
from resolvers.role_permissions import check_custom_roles
from store import org

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.context import Context
    from store.models import Department, User


async def _existing_user(
    session: AsyncSession, enterprise_id: int, user_id: int, field: str
) -> User:
    user = await org.get_user(session, enterprise_id, user_id)
    if user is None:
        raise BadUserInput(f"{field}: no user with that id exists.", field=field)
    return user


async def _existing_department(
    session: AsyncSession, enterprise_id: int, department_id: int, field: str
) -> Department:
    department = await org.get_department(session, enterprise_id, department_id)
    if department is None:
        raise BadUserInput(f"{field}: no department with that id exists.", field=field)
    return department


def email_conflict(email: str) -> Conflict:
    return Conflict(f"A user with email {email} already exists.", field="email")


@asynccontextmanager
async def claiming_email(session: AsyncSession, email: str) -> AsyncIterator[None]:
    """CONFLICT when a concurrent request took `email` between our check and our insert."""
    try:
        yield
    except IntegrityError:
        await session.rollback()
        if await org.email_taken(session, email):
            raise email_conflict(email) from None
        raise


@contextmanager
def refusing_concurrent_cycle(field: str, what: str) -> Iterator[None]:
    """CONFLICT when a move that passed its cycle check would make a cycle after all: another
    change to the tree committed in between (the store re-checks under the org-chart lock)."""
    try:
        yield
    except org.WouldCycle:
        raise Conflict(
            f"{field}: the org chart changed while this request ran, and this move would now "
            f"put {what} (a cycle). Nothing was changed; reload the org chart and try again.",
            field=field,
        ) from None


# -- departments ---------------------------------------------------------------------------------


async def create_department(
    context: Context, *, name: str, parent_id: str | None, head_id: str | None
) -> Department:
    viewer = await context.viewer()
    name = clean_text(name, "name")
    parent = parse_optional_id(parent_id, Kind.DEPARTMENT, "parentId")
    head = parse_optional_id(head_id, Kind.USER, "headId")
    async with context.db() as session:
        if parent is not None:
            await _existing_department(session, viewer.enterprise_id, parent, "parentId")
        if head is not None:
            await _existing_user(session, viewer.enterprise_id, head, "headId")
        department = await org.create_department(
            session, enterprise_id=viewer.enterprise_id, name=name, parent_id=parent, head_id=head
        )
        await session.commit()
    return department


async def update_department(
    context: Context, department_id: str, changes: dict[str, Any]
) -> Department:
    """`changes` holds only the fields the caller gave (None clears parent or head)."""
    viewer = await context.viewer()
    target = parse_optional_id(department_id, Kind.DEPARTMENT, "id")
    columns: dict[str, object] = {}
    if "name" in changes:
        if changes["name"] is None:
            raise BadUserInput("name must not be empty.", field="name")
        columns["name"] = clean_text(changes["name"], "name")
    async with context.db() as session:
        department = await org.get_department(session, viewer.enterprise_id, target or 0)
        if department is None:
            raise not_found("department", department_id)
        if "parentId" in changes:
            parent = parse_optional_id(changes["parentId"], Kind.DEPARTMENT, "parentId")
            if parent is not None:
                await _existing_department(session, viewer.enterprise_id, parent, "parentId")
                if await org.is_department_in_subtree(session, department.id, parent):
                    raise BadUserInput(
                        "parentId: a department cannot be moved under itself or one of its "
                        "sub-departments (that would make a cycle).",
                        field="parentId",
                    )
            columns["parent_id"] = parent
        if "headId" in changes:
            head = parse_optional_id(changes["headId"], Kind.USER, "headId")
            if head is not None:
                await _existing_user(session, viewer.enterprise_id, head, "headId")
            columns["head_id"] = head
        with refusing_concurrent_cycle("parentId", "a department under its own sub-department"):
            await org.update_department(session, department, columns)
        await session.commit()
    return department


async def departments(context: Context) -> list[Department]:
    viewer = await context.viewer()
    async with context.db() as session:
        return await org.list_departments(session, viewer.enterprise_id)


# -- users ---------------------------------------------------------------------------------------


def _roles(value: list[FunctionRole] | None) -> list[FunctionRole]:
    return [FunctionRole.SALES] if value is None else list(dict.fromkeys(value))


async def create_user(
    context: Context,
    *,
    name: str,
    email: str,
    password: str,
    department_id: str | None,
    superior_id: str | None,
    roles: list[FunctionRole] | None,
    custom_roles: list[str] | None = None,
) -> User:
    viewer = await context.viewer()
    name = clean_text(name, "name")
    email = clean_email(email)
    password = check_password(password, settings=context.settings, user_inputs=(email, name))
    department = parse_optional_id(department_id, Kind.DEPARTMENT, "departmentId")
    superior = parse_optional_id(superior_id, Kind.USER, "superiorId")
    password_hash = await context.passwords.hash(password)
    async with context.db() as session:
        if department is not None:
            await _existing_department(session, viewer.enterprise_id, department, "departmentId")
        if superior is not None:
            await _existing_user(session, viewer.enterprise_id, superior, "superiorId")
        if custom_roles:
            await check_custom_roles(session, viewer.enterprise_id, custom_roles)
        if await org.email_taken(session, email):
            raise email_conflict(email)
        async with claiming_email(session, email):
            user = await org.create_user(
                session,
                enterprise_id=viewer.enterprise_id,
                name=name,
                email=email,
                password_hash=password_hash,
                department_id=department,
                superior_id=superior,
                roles=_roles(roles),
            )
            if custom_roles:
                await org.set_roles(session, user, custom_roles, custom=True)
            await session.commit()
    return user


async def update_user(context: Context, user_id: str, changes: dict[str, Any]) -> User:
    """`changes` holds only the fields the caller gave (None clears department or superior)."""
    viewer = await context.viewer()
    target = parse_optional_id(user_id, Kind.USER, "id")
    columns: dict[str, object] = {}
    if "name" in changes:
        if changes["name"] is None:
            raise BadUserInput("name must not be empty.", field="name")
        columns["name"] = clean_text(changes["name"], "name")
    async with context.db() as session:
        user = await org.get_user(session, viewer.enterprise_id, target or 0)
        if user is None:
            raise not_found("user", user_id)
        if "departmentId" in changes:
            department = parse_optional_id(changes["departmentId"], Kind.DEPARTMENT, "departmentId")
            if department is not None:
                await _existing_department(
                    session, viewer.enterprise_id, department, "departmentId"
                )
            columns["department_id"] = department
        if "superiorId" in changes:
            superior = parse_optional_id(changes["superiorId"], Kind.USER, "superiorId")
            if superior is not None:
                await _existing_user(session, viewer.enterprise_id, superior, "superiorId")
                if await org.is_subordinate_or_self(session, user.id, superior):
                    raise BadUserInput(
                        "superiorId: a user cannot report to themselves or to one of their "
                        "subordinates (that would make a cycle).",
                        field="superiorId",
                    )
            columns["superior_id"] = superior
        if changes.get("roles") is not None:
            new_roles = _roles(changes["roles"])
            if FunctionRole.CRM_ADMIN not in new_roles:
                await _keep_an_admin(session, viewer.enterprise_id, user.id)
            await org.set_roles(session, user, new_roles)
        if changes.get("customRoles") is not None:
            keys = list(dict.fromkeys(changes["customRoles"]))
            await check_custom_roles(session, viewer.enterprise_id, keys)
            await org.set_roles(session, user, keys, custom=True)
        with refusing_concurrent_cycle("superiorId", "a user under their own subordinate"):
            await org.update_user(session, user, columns)
        await session.commit()
    if user.id == viewer.id:
        context.forget_viewer()
    return user


async def _keep_an_admin(session: AsyncSession, enterprise_id: int, user_id: int) -> None:
    admins = await org.admin_ids(session, enterprise_id, active_only=True)
    if admins == [user_id]:
        raise Conflict(
            "roles: this user is the enterprise's last active CRM administrator; make someone "
            "else an administrator first.",
            field="roles",
        )


async def users_page(
    context: Context, first: int | None, after: str | None
) -> tuple[list[User], int, int]:
    """(users after the cursor, page size, total) in id order."""
    viewer = await context.viewer()
    size = context.page_size(first)
    after_id = decode_cursor(after)
    async with context.db() as session:
        rows = await org.page_users(session, viewer.enterprise_id, after_id, size + 1)
        total = await org.count_users(session, viewer.enterprise_id)
    return rows, size, total
