"""Who is asking: the identity every visibility condition is built for."""

from __future__ import annotations

from dataclasses import dataclass

from crmfeed.registry.enums import FunctionRole
from crmfeed.registry.roles import permissions_of


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

    def has_role(self, role: FunctionRole) -> bool:
        return role in self.roles
