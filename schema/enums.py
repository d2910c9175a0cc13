"""GraphQL enums: the registry's enums, exposed under their API names."""

from __future__ import annotations

from enum import Enum

import strawberry

from crmfeed.registry import enums

ObjectType = strawberry.enum(enums.ObjectType, name="ObjectType")
FunctionRole = strawberry.enum(enums.FunctionRole, name="FunctionRole")
TeamRole = strawberry.enum(enums.TeamRole, name="TeamRole")
DataAccess = strawberry.enum(enums.DataAccess, name="DataAccess")
FollowUpAccess = strawberry.enum(enums.FollowUpAccess, name="FollowUpAccess")
LifeStatus = strawberry.enum(enums.LifeStatus, name="LifeStatus")
AccessRule = strawberry.enum(enums.AccessRule, name="AccessRule")
FieldType = strawberry.enum(enums.FieldType, name="FieldType")
FieldAccess = strawberry.enum(enums.FieldAccess, name="FieldAccess")


@strawberry.enum
class OldOwnerHandling(Enum):
    REMOVE = "REMOVE"
    KEEP_AS_MEMBER = "KEEP_AS_MEMBER"
