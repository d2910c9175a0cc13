"""Who is asking: the identity every visibility condition is built for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crmfeed.registry.enums import FunctionRole, ObjectType
from crmfeed.registry.permissions import ALL_PERMISSIONS, defaults_of
from crmfeed.registry.roles import read_scope

if TYPE_CHECKING:
    from collections.abc import Iterable

CUSTOM_PREFIX = "CUSTOM_"


def custom_role_key(role_id: int) -> str:
    """How a user's role row names a custom role."""
    return f"{CUSTOM_PREFIX}{role_id}"


def split_roles(keys: Iterable[str | None]) -> tuple[frozenset[FunctionRole], frozenset[str]]:
    """Role keys as stored on a user: (preset roles, custom role keys)."""
    given = {key for key in keys if key is not None}
    preset = frozenset(FunctionRole(k) for k in given if k in FunctionRole.__members__)
    return preset, frozenset(k for k in given if k not in FunctionRole.__members__)


@dataclass(frozen=True, slots=True)
class Viewer:
    id: int
    enterprise_id: int
    department_id: int | None
    roles: frozenset[FunctionRole]
    sharing_opens_follow_up: bool = True
    custom_roles: frozenset[str] = frozenset()
    # The function permissions the enterprise stores for the viewer's roles; None: the roles'
    # defaults (a viewer built without reading them, e.g. by the demo loader).
    granted: frozenset[str] | None = None

    @property
    def is_admin(self) -> bool:
        return FunctionRole.CRM_ADMIN in self.roles

    @property
    def permissions(self) -> frozenset[str]:
        """Every function permission the viewer holds (a CRM administrator: all of them)."""
        if self.is_admin:
            return frozenset(ALL_PERMISSIONS)
        return defaults_of(self.roles) if self.granted is None else self.granted

    @property
    def read_scope(self) -> frozenset[ObjectType]:
        """Object types whose records the viewer's function roles let them read."""
        return read_scope(self.roles)

    def has_role(self, role: FunctionRole) -> bool:
        return role in self.roles
