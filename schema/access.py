"""Sharing rules and the data permission inspector's answer."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import Private

from crmfeed.ids import Kind, to_global
from resolvers import access
from schema.enums import AccessRule, DataAccess, FunctionRole, ObjectType, TeamRole
from schema.org import Department, User, wrap_department, wrap_user
from store import models


@strawberry.type
class SharingRule:
    row: Private[models.SharingRule]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global(Kind.SHARING_RULE, self.row.id))

    @strawberry.field
    def object_type(self) -> ObjectType:
        return ObjectType(self.row.object_type)

    @strawberry.field
    def access(self) -> DataAccess:
        return DataAccess(self.row.access)

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    async def from_user(self, info: strawberry.Info) -> User | None:
        return await _user(info, self.row.from_user_id)

    @strawberry.field
    async def to_user(self, info: strawberry.Info) -> User | None:
        return await _user(info, self.row.to_user_id)

    @strawberry.field
    async def from_department(self, info: strawberry.Info) -> Department | None:
        return await _department(info, self.row.from_department_id)

    @strawberry.field
    async def to_department(self, info: strawberry.Info) -> Department | None:
        return await _department(info, self.row.to_department_id)


async def _user(info: strawberry.Info, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    return wrap_user(await info.context.loaders.user_by_id.load(user_id))


async def _department(info: strawberry.Info, department_id: int | None) -> Department | None:
    if department_id is None:
        return None
    return wrap_department(await info.context.loaders.department_by_id.load(department_id))


@strawberry.input
class CreateSharingRuleInput:
    object_type: ObjectType
    access: DataAccess
    from_user_id: strawberry.ID | None = None
    from_department_id: strawberry.ID | None = None
    to_user_id: strawberry.ID | None = None
    to_department_id: strawberry.ID | None = None


@strawberry.type
class AccessReason:
    reason: Private[access.Reason]

    @strawberry.field
    def rule(self) -> AccessRule:
        return self.reason.rule

    @strawberry.field(description="The team member, owner or viewer this rule goes through.")
    async def via_user(self, info: strawberry.Info) -> User | None:
        return await _user(info, self.reason.via_user_id)

    @strawberry.field
    def team_role(self) -> TeamRole | None:
        return self.reason.team_role

    @strawberry.field
    def sharing_rule(self) -> SharingRule | None:
        rule = self.reason.sharing_rule
        return None if rule is None else SharingRule(row=rule)

    @strawberry.field
    def department(self) -> Department | None:
        return wrap_department(self.reason.department)

    @strawberry.field(description="The function role whose read scope covers the record's type.")
    def function_role(self) -> FunctionRole | None:
        return self.reason.function_role


@strawberry.type
class AccessExplanation:
    explanation: Private[access.Explanation]

    @strawberry.field
    def can_read(self) -> bool:
        return self.explanation.can_read

    @strawberry.field(description="Whether the user may edit the record in its current status.")
    def can_write(self) -> bool:
        return self.explanation.can_write

    @strawberry.field
    def reasons(self) -> list[AccessReason]:
        return [AccessReason(reason=reason) for reason in self.explanation.reasons]

    @strawberry.field
    def follow_up_open(self) -> bool:
        return self.explanation.follow_up_open

    @strawberry.field
    def follow_up_reason(self) -> str:
        return self.explanation.follow_up_reason
