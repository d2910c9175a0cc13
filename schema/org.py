"""Enterprise, people and settings types and inputs."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import Private

from crmfeed.ids import Kind, to_global
from resolvers.paging import encode_cursor
from schema.enums import FollowUpAccess, FunctionRole, TeamRole
from schema.pagination import PageInfo
from schema.roles import Role
from store import models
from store.viewer import custom_role_key


@strawberry.type
class User:
    """A person. Their own columns are plain fields, read without a resolver call (a feed page
    reads an author's name for every item and reply)."""

    row: Private[models.User]
    id: strawberry.ID
    name: str
    email: str
    active: bool = strawberry.field(
        description="False once deactivated: the user cannot log in, their tokens are void."
    )
    created_at: datetime

    def __init__(self, row: models.User) -> None:
        self.row = row
        self.id = strawberry.ID(to_global(Kind.USER, row.id))
        self.name = row.name
        self.email = row.email
        self.active = row.active
        self.created_at = row.created_at

    @strawberry.field
    async def department(self, info: strawberry.Info) -> Department | None:
        if self.row.department_id is None:
            return None
        return wrap_department(
            await info.context.loaders.department_by_id.load(self.row.department_id)
        )

    @strawberry.field
    async def superior(self, info: strawberry.Info) -> User | None:
        if self.row.superior_id is None:
            return None
        return wrap_user(await info.context.loaders.user_by_id.load(self.row.superior_id))

    @strawberry.field
    async def roles(self, info: strawberry.Info) -> list[FunctionRole]:
        return await info.context.loaders.roles_by_user_id.load(self.row.id)

    @strawberry.field(description="The custom roles the user holds (besides `roles`).")
    async def custom_roles(self, info: strawberry.Info) -> list[Role]:
        rows = await info.context.loaders.custom_roles_by_user_id.load(self.row.id)
        return [Role(key=custom_role_key(row.id), name=row.name, preset=False) for row in rows]


@strawberry.type
class Department:
    row: Private[models.Department]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global(Kind.DEPARTMENT, self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    async def parent(self, info: strawberry.Info) -> Department | None:
        if self.row.parent_id is None:
            return None
        return wrap_department(await info.context.loaders.department_by_id.load(self.row.parent_id))

    @strawberry.field
    async def head(self, info: strawberry.Info) -> User | None:
        if self.row.head_id is None:
            return None
        return wrap_user(await info.context.loaders.user_by_id.load(self.row.head_id))


def wrap_user(row: models.User | None) -> User | None:
    return None if row is None else User(row=row)


def wrap_department(row: models.Department | None) -> Department | None:
    return None if row is None else Department(row=row)


@strawberry.type
class AuthPayload:
    token: str
    user: User


@strawberry.type
class UserEdge:
    cursor: str
    node: User


@strawberry.type
class UserConnection:
    edges: list[UserEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def build(cls, rows: list[models.User], size: int, total: int) -> UserConnection:
        page = rows[:size]
        edges = [UserEdge(cursor=encode_cursor(row.id), node=User(row=row)) for row in page]
        return cls(
            edges=edges,
            page_info=PageInfo.of(edges, len(rows) > size),
            total_count=total,
        )


@strawberry.type
class EnterpriseSettings:
    row: Private[models.Enterprise]

    @strawberry.field
    def enterprise_id(self) -> strawberry.ID:
        return strawberry.ID(to_global(Kind.ENTERPRISE, self.row.id))

    @strawberry.field
    def enterprise_name(self) -> str:
        return self.row.name

    @strawberry.field(description="Whether data sharing also opens follow-up activity.")
    def sharing_opens_follow_up(self) -> bool:
        return self.row.sharing_opens_follow_up


@strawberry.type
class FollowUpSetting:
    team_role: TeamRole
    access: FollowUpAccess


@strawberry.input
class RegisterEnterpriseInput:
    enterprise_name: str
    admin_name: str
    email: str
    password: str


@strawberry.input
class CreateDepartmentInput:
    name: str
    parent_id: strawberry.ID | None = None
    head_id: strawberry.ID | None = None


@strawberry.input
class UpdateDepartmentInput:
    name: str | None = strawberry.UNSET
    parent_id: strawberry.ID | None = strawberry.UNSET
    head_id: strawberry.ID | None = strawberry.UNSET


@strawberry.input
class CreateUserInput:
    name: str
    email: str
    password: str
    department_id: strawberry.ID | None = None
    superior_id: strawberry.ID | None = None
    roles: list[FunctionRole] | None = None
    custom_roles: list[str] | None = strawberry.field(
        default=None, description="Custom role keys (CUSTOM_<n>, from createRole)."
    )


@strawberry.input
class UpdateUserInput:
    name: str | None = strawberry.UNSET
    department_id: strawberry.ID | None = strawberry.UNSET
    superior_id: strawberry.ID | None = strawberry.UNSET
    roles: list[FunctionRole] | None = strawberry.UNSET
    custom_roles: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the user's custom roles (keys)."
    )


@strawberry.input
class EnterpriseSettingsInput:
    sharing_opens_follow_up: bool | None = None


def given(value: object) -> dict[str, object]:
    """The fields of an update input the caller actually sent, by their GraphQL names."""
    definition = value.__strawberry_definition__  # type: ignore[attr-defined]
    return {
        field.graphql_name or _camel(field.python_name): getattr(value, field.python_name)
        for field in definition.fields
        if getattr(value, field.python_name) is not strawberry.UNSET
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
