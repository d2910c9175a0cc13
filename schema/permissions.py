"""Permission classes for fields and mutations (always `async def has_permission`).

Example:

    @strawberry.mutation(extensions=ADMIN)
    async def create_user(...) -> User: ...
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission, PermissionExtension
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


class CanReadField(BasePermission):
    """Field-level security: the caller's function roles do not hide this record field."""

    def __init__(self, object_type: str, field: str) -> None:
        self.object_type = object_type
        self.field = field

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        access = await info.context.field_access()
        return access.can_read(self.object_type, self.field)


class HideField(PermissionExtension):
    """Resolve a field the caller may not see to null (lists too), instead of raising."""

    def __init__(self, permission: BasePermission) -> None:
        super().__init__(permissions=[permission], use_directives=False, fail_silently=True)

    def _on_unauthorized(self, permission: BasePermission) -> Any:
        return None


# What fields and mutations declare, once: `permission_classes=SIGNED_IN`, `extensions=ADMIN`.
SIGNED_IN: list[type[BasePermission]] = [IsAuthenticated]
ADMIN = [PermissionExtension(permissions=[IsAdmin()])]
