"""Administering function permissions: which role grants which permission, custom roles.

A role is named by its key: a preset role's name (`SALES`, `ORDER_FINANCE`, ...) or a custom
role's `CUSTOM_<n>` (what `createRole` answers). The CRM Administrator holds every permission
and cannot lose one. A change counts from the next request of each user it concerns (the
viewer reads their permissions with their roles, once per request).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from crmfeed.registry.enums import FunctionRole
from crmfeed.registry.permissions import ALL_PERMISSIONS, STORED_ROLES
from crmfeed.registry.roles import ROLE_LABELS
from resolvers.errors import BadUserInput, Conflict
from resolvers.inputs import clean_text
from store import org
from store.viewer import custom_role_key

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.context import Context

MAX_ROLE_NAME = 100
MAX_CUSTOM_ROLES = 200


@dataclass(frozen=True, slots=True)
class RoleInfo:
    key: str
    name: str
    preset: bool


@dataclass(frozen=True, slots=True)
class Grant:
    role: str
    permission: str
    granted: bool
    editable: bool


def _preset(role: FunctionRole) -> RoleInfo:
    return RoleInfo(role.value, ROLE_LABELS[role], preset=True)


async def _roles(session: AsyncSession, enterprise_id: int) -> list[RoleInfo]:
    custom = await org.custom_roles(session, enterprise_id)
    return [_preset(role) for role in FunctionRole] + [
        RoleInfo(custom_role_key(row.id), row.name, preset=False) for row in custom
    ]


async def roles(context: Context) -> list[RoleInfo]:
    """Every role of the enterprise, preset ones first."""
    viewer = await context.viewer()
    async with context.db() as session:
        return await _roles(session, viewer.enterprise_id)


async def role_permissions(context: Context, role: str | None) -> list[Grant]:
    """Every role (or the one given) x every permission, with whether it is granted."""
    viewer = await context.viewer()
    async with context.db() as session:
        known = await _roles(session, viewer.enterprise_id)
        if role is not None:
            known = [_known_role(known, role)]
        stored = await org.role_permissions(session, viewer.enterprise_id)
    admin = FunctionRole.CRM_ADMIN.value
    return [
        Grant(
            info.key,
            name,
            granted=info.key == admin or (info.key, name) in stored,
            editable=info.key != admin,
        )
        for info in known
        for name in ALL_PERMISSIONS
    ]


def _known_role(known: Sequence[RoleInfo], role: str) -> RoleInfo:
    found = next((info for info in known if info.key == role), None)
    if found is None:
        keys = ", ".join(info.key for info in known)
        raise BadUserInput(f"role: no role '{role}' (roles: {keys}).", field="role")
    return found


def _known_permission(name: str) -> str:
    if name in ALL_PERMISSIONS:
        return name
    close = difflib.get_close_matches(name, ALL_PERMISSIONS, n=3)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise BadUserInput(
        f"permission: no function permission '{name}' (they read <Object>.<operation>, e.g. "
        f"Account.edit or SalesRecord.create).{hint}",
        field="permission",
    )


async def set_role_permission(context: Context, role: str, permission: str, granted: bool) -> Grant:
    viewer = await context.viewer()
    name = _known_permission(permission)
    if role == FunctionRole.CRM_ADMIN.value:
        raise BadUserInput(
            "role: the CRM Administrator holds every permission; it cannot be changed.",
            field="role",
        )
    async with context.db() as session:
        _known_role(await _roles(session, viewer.enterprise_id), role)
        await org.set_role_permission(session, viewer.enterprise_id, role, name, granted)
        await session.commit()
    return Grant(role, name, granted=granted, editable=True)


async def create_role(context: Context, name: str) -> RoleInfo:
    """A custom role with no permissions yet (grant them with setRolePermission)."""
    viewer = await context.viewer()
    name = clean_text(name, "name", max_length=MAX_ROLE_NAME)
    taken = {info.name.casefold() for info in map(_preset, STORED_ROLES)} | {
        ROLE_LABELS[FunctionRole.CRM_ADMIN].casefold()
    }
    if name.casefold() in taken or name.upper() in FunctionRole.__members__:
        raise Conflict(f"name: '{name}' is a preset role.", field="name")
    async with context.db() as session:
        existing = await org.custom_roles(session, viewer.enterprise_id)
        if any(row.name.casefold() == name.casefold() for row in existing):
            raise Conflict(f"name: a role named '{name}' already exists.", field="name")
        if len(existing) >= MAX_CUSTOM_ROLES:
            raise BadUserInput(
                f"name: an enterprise may have at most {MAX_CUSTOM_ROLES} custom roles.",
                field="name",
            )
        try:
            row = await org.create_custom_role(session, viewer.enterprise_id, name)
            await session.commit()
        except IntegrityError:  # the same name, created by a concurrent request
            raise Conflict(f"name: a role named '{name}' already exists.", field="name") from None
    return RoleInfo(custom_role_key(row.id), row.name, preset=False)


async def check_custom_roles(session: AsyncSession, enterprise_id: int, keys: list[str]) -> None:
    """BAD_USER_INPUT unless every key names one of the enterprise's custom roles."""
    known = await org.custom_role_keys(session, enterprise_id)
    unknown = [key for key in keys if key not in known]
    if unknown:
        listed = ", ".join(known) or "none yet: create one with createRole"
        raise BadUserInput(
            f"customRoles: no custom role '{unknown[0]}' (custom roles: {listed}).",
            field="customRoles",
        )
