"""Permission classes for fields and mutations (always `async def has_permission`).

Example:

    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_user(...) -> User: ...
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from crmfeed.registry.enums import FunctionRole


class IsAuthenticated(BasePermission):
    """A valid token; the context raises UNAUTHENTICATED with the reason otherwise."""

    message = "Sign in first: send 'Authorization: Bearer <token>'."
    error_extensions = {"code": "UNAUTHENTICATED"}

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        await info.context.viewer()
        return True


class HasRole(BasePermission):
    """The caller holds the function role (CRM administrators pass every role check)."""

    error_extensions = {"code": "FORBIDDEN"}

    def __init__(self, role: FunctionRole) -> None:
        self.role = role
        self.message = f"This needs the {role.value} function role."

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        viewer = await info.context.viewer()
        return viewer.has_role(self.role) or viewer.is_admin


class IsAdmin(HasRole):
    """The caller is a CRM administrator."""

    def __init__(self) -> None:
        super().__init__(FunctionRole.CRM_ADMIN)
        self.message = "Only CRM administrators may do this."
