"""Enterprises, departments, users and their roles."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    union_all,
    update,
)

from crmfeed.registry.enums import FunctionRole
from crmfeed.registry.permissions import default_rows
from store import closure
from store.locks import lock_org_chart
from store.models import (
    CustomRole,
    Department,
    DepartmentClosure,
    Enterprise,
    RevokedToken,
    RolePermission,
    User,
    UserClosure,
    UserRole,
)
from store.viewer import CUSTOM_PREFIX, Viewer, custom_role_key, split_roles

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession


class WouldCycle(Exception):
    """The move would hang a node under itself or one of its descendants: another request
    changed the tree after the caller checked it."""


async def create_enterprise(session: AsyncSession, name: str) -> Enterprise:
    """A new enterprise, its preset roles holding their default function permissions."""
    enterprise = Enterprise(name=name, sharing_opens_follow_up=True)
    session.add(enterprise)
    await session.flush()
    await seed_role_permissions(session, enterprise.id)
    return enterprise


async def any_enterprise(session: AsyncSession) -> bool:
    """Whether the database holds any data at all (every row belongs to an enterprise)."""
    return await session.scalar(select(Enterprise.id).limit(1)) is not None


async def get_enterprise(session: AsyncSession, enterprise_id: int) -> Enterprise:
    return (await session.scalars(select(Enterprise).where(Enterprise.id == enterprise_id))).one()


async def set_sharing_opens_follow_up(session: AsyncSession, enterprise_id: int, on: bool) -> None:
    await session.execute(
        update(Enterprise).where(Enterprise.id == enterprise_id).values(sharing_opens_follow_up=on)
    )


# -- users ---------------------------------------------------------------------------------------


async def email_taken(session: AsyncSession, email: str) -> bool:
    found = await session.scalar(select(User.id).where(User.email == email))
    return found is not None


async def create_user(
    session: AsyncSession,
    *,
    enterprise_id: int,
    name: str,
    email: str,
    password_hash: str,
    department_id: int | None,
    superior_id: int | None,
    roles: Iterable[FunctionRole],
) -> User:
    if superior_id is not None:  # the new user's chain is copied from the superior's
        await lock_org_chart(session, enterprise_id)
    user = User(
        enterprise_id=enterprise_id,
        name=name,
        email=email,
        password_hash=password_hash,
        department_id=department_id,
        superior_id=superior_id,
    )
    session.add(user)
    await session.flush()
    await closure.add_node(session, UserClosure, enterprise_id, user.id, superior_id)
    await set_roles(session, user, roles)
    return user


async def set_roles(
    session: AsyncSession, user: User, roles: Iterable[FunctionRole | str], *, custom: bool = False
) -> None:
    """Replace the user's preset roles (`custom=False`) or their custom roles (role keys)."""
    preset = UserRole.role.in_([role.value for role in FunctionRole])
    await session.execute(
        delete(UserRole).where(UserRole.user_id == user.id, ~preset if custom else preset)
    )
    rows = [
        {"enterprise_id": user.enterprise_id, "user_id": user.id, "role": str(role)}
        for role in dict.fromkeys(roles)
    ]
    if rows:
        await session.execute(insert(UserRole), rows)


async def update_user(session: AsyncSession, user: User, changes: dict[str, object]) -> None:
    """Apply column changes; a new superior re-hangs the user's subtree in the closure, under
    the enterprise's org-chart lock (WouldCycle when the tree changed into a cycle meanwhile)."""
    if "superior_id" in changes:
        await _move(session, UserClosure, user, "superior_id", changes["superior_id"])
    for key, value in changes.items():
        setattr(user, key, value)
    await session.flush()


async def is_subordinate_or_self(session: AsyncSession, superior: int, user: int) -> bool:
    return await closure.is_in_subtree(session, UserClosure, superior, user)


async def get_user(session: AsyncSession, enterprise_id: int, user_id: int) -> User | None:
    return await session.scalar(
        select(User).where(User.enterprise_id == enterprise_id, User.id == user_id)
    )


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


_USERS_BY_IDS = select(User).where(
    User.enterprise_id == bindparam("enterprise_id"), User.id.in_(bindparam("ids", expanding=True))
)


async def users_by_ids(
    session: AsyncSession, enterprise_id: int, ids: Sequence[int]
) -> dict[int, User]:
    rows = await session.scalars(
        _USERS_BY_IDS, {"enterprise_id": enterprise_id, "ids": sorted(set(ids))}
    )
    return {user.id: user for user in rows}


async def role_keys_by_user_ids(
    session: AsyncSession, enterprise_id: int, ids: Sequence[int]
) -> dict[int, list[str]]:
    """Every role key each user holds (preset role names and `CUSTOM_<id>`), sorted."""
    rows = await session.execute(
        select(UserRole.user_id, UserRole.role)
        .where(UserRole.enterprise_id == enterprise_id, UserRole.user_id.in_(set(ids)))
        .order_by(UserRole.user_id, UserRole.role)
    )
    found: dict[int, list[str]] = defaultdict(list)
    for user_id, role in rows:
        found[user_id].append(role)
    return found


async def roles_by_user_ids(
    session: AsyncSession, enterprise_id: int, ids: Sequence[int]
) -> dict[int, list[FunctionRole]]:
    """Each user's preset roles (custom ones left out)."""
    keys = await role_keys_by_user_ids(session, enterprise_id, ids)
    return {user: sorted(split_roles(found)[0]) for user, found in keys.items()}


# The function permissions each of the user's roles grants, one row per (role, permission).
_GRANTS = and_(
    RolePermission.enterprise_id == UserRole.enterprise_id, RolePermission.role == UserRole.role
)

# Built once: each request binds its user (and skips rebuilding the statement's cache key).
_VIEWER = (
    select(
        User.id,
        User.department_id,
        Enterprise.sharing_opens_follow_up,
        UserRole.role,
        RolePermission.permission,
    )
    .join(Enterprise, Enterprise.id == User.enterprise_id)
    .outerjoin(UserRole, UserRole.user_id == User.id)
    .outerjoin(RolePermission, _GRANTS)
    .where(User.enterprise_id == bindparam("enterprise_id"), User.id == bindparam("user_id"))
)


def _viewer(rows: Sequence[Any], enterprise_id: int) -> Viewer:
    """A viewer from the rows of `_VIEWER` (or `_TOKEN_VIEWER`): roles and permissions."""
    roles, custom = split_roles(row.role for row in rows)
    return Viewer(
        id=rows[0].id,
        enterprise_id=enterprise_id,
        department_id=rows[0].department_id,
        roles=roles,
        sharing_opens_follow_up=rows[0].sharing_opens_follow_up,
        custom_roles=custom,
        granted=frozenset(row.permission for row in rows if row.permission is not None),
    )


async def load_viewer(session: AsyncSession, enterprise_id: int, user_id: int) -> Viewer | None:
    """The viewer with their roles and function permissions, in one statement."""
    rows = (
        await session.execute(_VIEWER, {"enterprise_id": enterprise_id, "user_id": user_id})
    ).all()
    if not rows:
        return None
    return _viewer(rows, enterprise_id)


class TokenState(StrEnum):
    """What the users table says about a token whose signature and expiry are good."""

    VALID = "valid"
    NO_USER = "no_user"  # the user (or the enterprise claim) does not exist
    DEACTIVATED = "deactivated"
    REVOKED = "revoked"  # logged out, or issued before the user's token_version was raised


@dataclass(frozen=True, slots=True)
class TokenViewer:
    state: TokenState
    viewer: Viewer | None = None


# The viewer statement with what ends a token: the account's state, its token version and
# whether this token id was revoked. Still one statement per request.
_TOKEN_VIEWER = (
    select(
        User.id,
        User.department_id,
        User.active,
        User.token_version,
        Enterprise.sharing_opens_follow_up,
        UserRole.role,
        RolePermission.permission,
        exists().where(RevokedToken.jti == bindparam("jti")).label("revoked"),
    )
    .join(Enterprise, Enterprise.id == User.enterprise_id)
    .outerjoin(UserRole, UserRole.user_id == User.id)
    .outerjoin(RolePermission, _GRANTS)
    .where(User.enterprise_id == bindparam("enterprise_id"), User.id == bindparam("user_id"))
)


async def load_token_viewer(
    session: AsyncSession, enterprise_id: int, user_id: int, token_id: str, version: int
) -> TokenViewer:
    """The viewer a token names, if the token still counts: one statement."""
    rows = (
        await session.execute(
            _TOKEN_VIEWER, {"enterprise_id": enterprise_id, "user_id": user_id, "jti": token_id}
        )
    ).all()
    if not rows:
        return TokenViewer(TokenState.NO_USER)
    first = rows[0]
    if not first.active:
        return TokenViewer(TokenState.DEACTIVATED)
    if first.revoked or version != first.token_version:
        return TokenViewer(TokenState.REVOKED)
    return TokenViewer(TokenState.VALID, _viewer(rows, enterprise_id))


async def ended_sessions(
    session: AsyncSession, user_ids: Collection[int], token_ids: Collection[str]
) -> tuple[set[int], set[str]]:
    """Of these users and token ids, in one statement: the users deactivated, and the tokens
    revoked (open websockets whose "sessions ended" message may have been lost)."""
    inactive = select(literal("user"), cast(User.id, String)).where(
        User.id.in_(sorted(user_ids)), User.active.is_(False)
    )
    revoked = select(literal("token"), RevokedToken.jti).where(
        RevokedToken.jti.in_(sorted(token_ids))
    )
    rows = (await session.execute(union_all(inactive, revoked))).all()
    return (
        {int(value) for kind, value in rows if kind == "user"},
        {value for kind, value in rows if kind == "token"},
    )


async def revoke_token(
    session: AsyncSession,
    *,
    enterprise_id: int,
    user_id: int,
    token_id: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    """Record a revoked token id, and forget those whose tokens have expired anyway."""
    await session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    if await session.get(RevokedToken, token_id) is None:
        session.add(
            RevokedToken(
                jti=token_id, enterprise_id=enterprise_id, user_id=user_id, expires_at=expires_at
            )
        )
        await session.flush()


async def set_active(session: AsyncSession, user: User, active: bool) -> None:
    """(De)activate a user. Deactivating also raises their token version: tokens issued
    before stay dead after a reactivation."""
    values: dict[str, object] = {"active": active}
    if not active:
        values["token_version"] = User.token_version + 1
    await session.execute(update(User).where(User.id == user.id).values(**values))
    await session.refresh(user)


async def lock_enterprise(session: AsyncSession, enterprise_id: int) -> None:
    """Serialise changes that must keep an enterprise-wide invariant (an active CRM
    administrator): PostgreSQL locks the enterprise row; SQLite has one writer anyway."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            select(Enterprise.id).where(Enterprise.id == enterprise_id).with_for_update()
        )


async def page_users(
    session: AsyncSession, enterprise_id: int, after_id: int | None, limit: int
) -> list[User]:
    query = select(User).where(User.enterprise_id == enterprise_id)
    if after_id is not None:
        query = query.where(User.id > after_id)
    return list(await session.scalars(query.order_by(User.id).limit(limit)))


async def count_users(session: AsyncSession, enterprise_id: int) -> int:
    return (
        await session.scalar(
            select(func.count()).select_from(User).where(User.enterprise_id == enterprise_id)
        )
        or 0
    )


# -- departments ---------------------------------------------------------------------------------


async def create_department(
    session: AsyncSession,
    *,
    enterprise_id: int,
    name: str,
    parent_id: int | None,
    head_id: int | None,
) -> Department:
    if parent_id is not None:  # the new department's chain is copied from the parent's
        await lock_org_chart(session, enterprise_id)
    department = Department(
        enterprise_id=enterprise_id, name=name, parent_id=parent_id, head_id=head_id
    )
    session.add(department)
    await session.flush()
    await closure.add_node(session, DepartmentClosure, enterprise_id, department.id, parent_id)
    return department


async def update_department(
    session: AsyncSession, department: Department, changes: dict[str, object]
) -> None:
    """Apply column changes; a new parent re-hangs the department's subtree in the closure,
    under the enterprise's org-chart lock (WouldCycle as for `update_user`)."""
    if "parent_id" in changes:
        await _move(session, DepartmentClosure, department, "parent_id", changes["parent_id"])
    for key, value in changes.items():
        setattr(department, key, value)
    await session.flush()


async def _move(
    session: AsyncSession,
    table: type[UserClosure] | type[DepartmentClosure],
    node: User | Department,
    link: str,
    parent: object,
) -> None:
    """Re-hang `node` under `parent` (None: a root), reading the tree under the lock: the
    caller's cycle check may have read it before a concurrent move committed."""
    if parent is not None and not isinstance(parent, int):
        raise TypeError(f"{link} must be an id or None, not {parent!r}")
    await lock_org_chart(session, node.enterprise_id)
    await session.refresh(node, [link])
    if parent == getattr(node, link):
        return
    if parent is not None and await closure.is_in_subtree(session, table, node.id, parent):
        raise WouldCycle
    await closure.move_subtree(session, table, node.enterprise_id, node.id, parent)


async def is_department_in_subtree(session: AsyncSession, root: int, department: int) -> bool:
    return await closure.is_in_subtree(session, DepartmentClosure, root, department)


async def get_department(
    session: AsyncSession, enterprise_id: int, department_id: int
) -> Department | None:
    return await session.scalar(
        select(Department).where(
            Department.enterprise_id == enterprise_id, Department.id == department_id
        )
    )


async def departments_by_ids(
    session: AsyncSession, enterprise_id: int, ids: Sequence[int]
) -> dict[int, Department]:
    rows = await session.scalars(
        select(Department).where(
            Department.enterprise_id == enterprise_id, Department.id.in_(set(ids))
        )
    )
    return {department.id: department for department in rows}


async def list_departments(session: AsyncSession, enterprise_id: int) -> list[Department]:
    return list(
        await session.scalars(
            select(Department)
            .where(Department.enterprise_id == enterprise_id)
            .order_by(Department.id)
        )
    )


async def role_holder_ids(
    session: AsyncSession, enterprise_id: int, role: FunctionRole
) -> list[int]:
    """The active users holding the function role."""
    query = (
        select(UserRole.user_id)
        .join(User, User.id == UserRole.user_id)
        .where(
            UserRole.enterprise_id == enterprise_id,
            UserRole.role == role.value,
            User.active.is_(True),
        )
    )
    return sorted(await session.scalars(query))


async def admin_ids(
    session: AsyncSession, enterprise_id: int, *, active_only: bool = False
) -> list[int]:
    query = select(UserRole.user_id).where(
        UserRole.enterprise_id == enterprise_id,
        UserRole.role == FunctionRole.CRM_ADMIN.value,
    )
    if active_only:
        query = query.join(User, User.id == UserRole.user_id).where(User.active.is_(True))
    return sorted(await session.scalars(query))


# -- function permissions and custom roles --------------------------------------------------------


async def seed_role_permissions(session: AsyncSession, enterprise_id: int) -> None:
    """Give a new enterprise's preset roles their default function permissions."""
    rows = [
        {"enterprise_id": enterprise_id, "role": role, "permission": name}
        for role, name in default_rows()
    ]
    await session.execute(insert(RolePermission), rows)


async def role_permissions(session: AsyncSession, enterprise_id: int) -> set[tuple[str, str]]:
    """Every stored (role key, permission) grant of the enterprise."""
    rows = await session.execute(
        select(RolePermission.role, RolePermission.permission).where(
            RolePermission.enterprise_id == enterprise_id
        )
    )
    return {(role, name) for role, name in rows}


async def set_role_permission(
    session: AsyncSession, enterprise_id: int, role: str, name: str, granted: bool
) -> None:
    """Grant or take away one permission of one role (idempotent)."""
    await session.execute(
        delete(RolePermission).where(
            RolePermission.enterprise_id == enterprise_id,
            RolePermission.role == role,
            RolePermission.permission == name,
        )
    )
    if granted:
        await session.execute(
            insert(RolePermission).values(enterprise_id=enterprise_id, role=role, permission=name)
        )


async def custom_roles(session: AsyncSession, enterprise_id: int) -> list[CustomRole]:
    return list(
        await session.scalars(
            select(CustomRole)
            .where(CustomRole.enterprise_id == enterprise_id)
            .order_by(CustomRole.id)
        )
    )


async def custom_role_named(
    session: AsyncSession, enterprise_id: int, name: str
) -> CustomRole | None:
    return await session.scalar(
        select(CustomRole).where(CustomRole.enterprise_id == enterprise_id, CustomRole.name == name)
    )


async def create_custom_role(session: AsyncSession, enterprise_id: int, name: str) -> CustomRole:
    role = CustomRole(enterprise_id=enterprise_id, name=name)
    session.add(role)
    await session.flush()
    return role


async def custom_role_keys(session: AsyncSession, enterprise_id: int) -> dict[str, CustomRole]:
    """The enterprise's custom roles by the key users hold them as."""
    return {custom_role_key(role.id): role for role in await custom_roles(session, enterprise_id)}


async def custom_roles_by_user_ids(
    session: AsyncSession, enterprise_id: int, ids: Sequence[int]
) -> dict[int, list[CustomRole]]:
    """Each user's custom roles, in creation order."""
    rows = await session.execute(
        select(UserRole.user_id, CustomRole)
        .join(
            CustomRole,
            and_(
                CustomRole.enterprise_id == UserRole.enterprise_id,
                UserRole.role == literal(CUSTOM_PREFIX) + cast(CustomRole.id, String),
            ),
        )
        .where(UserRole.enterprise_id == enterprise_id, UserRole.user_id.in_(set(ids)))
        .order_by(UserRole.user_id, CustomRole.id)
    )
    found: dict[int, list[CustomRole]] = defaultdict(list)
    for user_id, role in rows:
        found[user_id].append(role)
    return found
