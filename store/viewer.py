"""Who is asking: the identity every visibility condition is built for."""

from __future__ import annotations

from dataclasses import dataclass

from crmfeed.registry.enums import FunctionRole, ObjectType
from crmfeed.registry.roles import permissions_of, read_scope


@dataclass(frozen=True, slots=True)
class Viewer:
    id: int
    enterprise_id: int
    department_id: int | None
    roles: frozenset[FunctionRole]
    sharing_opens_follow_up: bool = True

    @property
    def is_admin(self) -> bool:
        return FunctionRole.CRM_ADMIN in self.roles

    @property
    def permissions(self) -> frozenset[str]:
        return permissions_of(self.roles)

    @property
    def read_scope(self) -> frozenset[ObjectType]:
        """Object types whose records the viewer's function roles let them read."""
        return read_scope(self.roles)

    def has_role(self, role: FunctionRole) -> bool:
        return role in self.roles
