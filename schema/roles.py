"""Function roles and permissions as data: the types, the admin queries and mutations."""

from __future__ import annotations

import strawberry

from resolvers import role_permissions
from resolvers.role_permissions import Grant, RoleInfo
from schema.permissions import ADMIN, SIGNED_IN


@strawberry.type
class Role:
    key: str = strawberry.field(
        description="What names the role in setRolePermission and customRoles: a preset "
        "role's name (SALES, ORDER_FINANCE, ...) or CUSTOM_<n>."
    )
    name: str
    preset: bool

    @classmethod
    def of(cls, info: RoleInfo) -> Role:
        return cls(key=info.key, name=info.name, preset=info.preset)


@strawberry.type
class RolePermission:
    role: str
    permission: str = strawberry.field(description="<Object>.<operation>, e.g. Account.edit.")
    granted: bool
    editable: bool = strawberry.field(
        description="False for the CRM Administrator, who holds every permission."
    )

    @classmethod
    def of(cls, grant: Grant) -> RolePermission:
        return cls(
            role=grant.role,
            permission=grant.permission,
            granted=grant.granted,
            editable=grant.editable,
        )


@strawberry.type
class RoleQuery:
    @strawberry.field(permission_classes=SIGNED_IN, description="Every role, preset ones first.")
    async def roles(self, info: strawberry.Info) -> list[Role]:
        return [Role.of(r) for r in await role_permissions.roles(info.context)]

    @strawberry.field(
        extensions=ADMIN,
        description="Every role (or the one given) x every function permission, granted or not.",
    )
    async def role_permissions(
        self, info: strawberry.Info, role: str | None = None
    ) -> list[RolePermission]:
        grants = await role_permissions.role_permissions(info.context, role)
        return [RolePermission.of(g) for g in grants]


@strawberry.type
class RoleMutation:
    @strawberry.mutation(
        extensions=ADMIN,
        description="Grant or take away a function permission of a role (from the next request "
        "of its holders). The CRM Administrator's cannot be changed.",
    )
    async def set_role_permission(
        self, info: strawberry.Info, role: str, permission: str, granted: bool
    ) -> RolePermission:
        grant = await role_permissions.set_role_permission(info.context, role, permission, granted)
        return RolePermission.of(grant)

    @strawberry.mutation(
        extensions=ADMIN,
        description="A custom role, with no permissions yet; assign it with "
        "createUser/updateUser customRoles.",
    )
    async def create_role(self, info: strawberry.Info, name: str) -> Role:
        return Role.of(await role_permissions.create_role(info.context, name))
