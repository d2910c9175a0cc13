"""The `Record` interface and one concrete type per object, generated from the registry."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import Private
from strawberry.scalars import JSON

from crmfeed.ids import Kind, to_global
from crmfeed.registry.enums import FieldType as F
from crmfeed.registry.enums import ObjectType as RegistryObjectType
from crmfeed.registry.objects import OBJECTS, FieldSpec, ObjectSpec
from crmfeed.registry.transitions import transitions_of
from resolvers.field_access import FieldAccessMap
from resolvers.paging import COUNT_UP_TO, encode_cursor
from resolvers.records import RecordPage
from schema.confirmation import extra_fields
from schema.enums import DataAccess, FieldAccess, FunctionRole, LifeStatus, ObjectType, TeamRole
from schema.org import Department, User, wrap_department, wrap_user
from schema.pagination import BoundedCount, PageInfo
from schema.permissions import CanReadField, HideField
from schema.record_actions import RecordAction
from schema.transitions import TransitionInfo
from store import models

if TYPE_CHECKING:
    from schema.feed import FeedItemConnection, FeedItemType


FeedItemTypeRef = Annotated["FeedItemType", strawberry.lazy("schema.feed")]
FeedItemConnectionRef = Annotated["FeedItemConnection", strawberry.lazy("schema.feed")]


@strawberry.type
class TeamMember:
    row: Private[models.TeamMember]

    @strawberry.field
    async def user(self, info: strawberry.Info) -> User:
        user = wrap_user(await info.context.loaders.user_by_id.load(self.row.user_id))
        assert user is not None  # team rows reference users by foreign key
        return user

    @strawberry.field
    def team_role(self) -> TeamRole:
        return TeamRole(self.row.team_role)

    @strawberry.field
    def access(self) -> DataAccess:
        return DataAccess(self.row.access)


@strawberry.interface(name="Record")
class RecordInterface:
    """A record. Its own columns are plain fields, read without a resolver call (a feed page
    reads the related records' names for every item)."""

    row: Private[models.Record]
    id: strawberry.ID
    object_type: ObjectType
    name: str
    status: str
    life_status: LifeStatus
    created_at: datetime
    updated_at: datetime

    def __init__(self, row: models.Record) -> None:
        self.row = row
        self.id = strawberry.ID(to_global(Kind.RECORD, row.id))
        self.object_type = ObjectType(row.object_type)
        self.name = row.name
        self.status = row.status
        self.life_status = LifeStatus(row.life_status)
        self.created_at = row.created_at
        self.updated_at = row.updated_at

    @classmethod
    def resolve_type(cls, obj: RecordInterface, *_: object) -> str:
        """The concrete type's name, read off the object (strawberry's own resolver first
        checks for casts and generics, which records never are)."""
        return type(obj).__strawberry_definition__.name  # type: ignore[attr-defined]

    @strawberry.field
    async def owner(self, info: strawberry.Info) -> User:
        owner = wrap_user(await info.context.loaders.user_by_id.load(self.row.owner_id))
        assert owner is not None  # owner_id is a foreign key
        return owner

    @strawberry.field(description="The owner's department.")
    async def department(self, info: strawberry.Info) -> Department | None:
        owner = await info.context.loaders.user_by_id.load(self.row.owner_id)
        if owner is None or owner.department_id is None:
            return None
        return wrap_department(
            await info.context.loaders.department_by_id.load(owner.department_id)
        )

    @strawberry.field
    async def created_by(self, info: strawberry.Info) -> User | None:
        return wrap_user(await info.context.loaders.user_by_id.load(self.row.created_by_id))

    @strawberry.field
    async def updated_by(self, info: strawberry.Info) -> User | None:
        return wrap_user(await info.context.loaders.user_by_id.load(self.row.updated_by_id))

    @strawberry.field(description="The related team, the owner first.")
    async def team(self, info: strawberry.Info) -> list[TeamMember]:
        members = await info.context.loaders.team_by_record_id.load(self.row.id)
        ordered = sorted(members, key=lambda m: m.team_role != "OWNER")
        return [TeamMember(row=member) for member in ordered]

    @strawberry.field(description="The record's follow-up activity that the caller may see.")
    async def feed(
        self,
        info: strawberry.Info,
        types: list[FeedItemTypeRef] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> FeedItemConnectionRef:
        from resolvers import feed
        from schema.feed import FeedItemConnection

        page = await feed.record_feed_page(info.context, self.row, types, first, after)
        return FeedItemConnection(page=page)

    @strawberry.field(
        description="The status transitions the caller may apply to this record now "
        "(transitionRecord accepts exactly these, given their required inputs)."
    )
    async def transitions(self, info: strawberry.Info) -> list[TransitionInfo]:
        from resolvers.transitions import offered

        return [TransitionInfo.build(t) for t in await offered(info.context, self.row)]

    @strawberry.field(
        description="What the caller may do to this record now: the record actions and the "
        "transitions the mutations would accept (input aside)."
    )
    async def allowed_actions(self, info: strawberry.Info) -> list[RecordAction]:
        from resolvers.allowed_actions import allowed_actions

        return [RecordAction.of(a) for a in await allowed_actions(info.context, self.row)]

    @strawberry.field(
        description="The record's own fields (name included) that the caller may see, by name."
    )
    async def values(self, info: strawberry.Info) -> JSON:
        return (await info.context.field_access()).visible_values(self.row)


PYTHON_TYPES: dict[F, Any] = {
    F.TEXT: str,
    F.LONG_TEXT: str,
    F.EMAIL: str,
    F.PHONE: str,
    F.URL: str,
    F.SELECT: str,
    F.NUMBER: float,
    F.CURRENCY: float,
    F.BOOLEAN: bool,
    F.DATE: date,
    F.DATETIME: datetime,
    F.MULTI_SELECT: list[str],
    F.LOOKUP: strawberry.ID,
    F.USER: strawberry.ID,
    F.USERS: list[strawberry.ID],
}
PARSERS: dict[F, Any] = {F.DATE: date.fromisoformat, F.DATETIME: datetime.fromisoformat}


def _typed_field(object_type: RegistryObjectType, spec: FieldSpec) -> Any:
    parse = PARSERS.get(spec.type)

    def resolve(root: RecordInterface) -> Any:
        value = (root.row.values or {}).get(spec.name)
        return parse(value) if parse is not None and value is not None else value

    return strawberry.field(
        resolver=resolve,
        graphql_type=PYTHON_TYPES[spec.type] | None,
        description=f"{spec.label} (null when field-level security hides it from the caller).",
        extensions=[HideField(CanReadField(object_type.value, spec.name))],
    )


def _record_type(spec: ObjectSpec) -> type[RecordInterface]:
    namespace: dict[str, Any] = {
        f.name: _typed_field(spec.object_type, f) for f in spec.fields if f.name != "name"
    }
    namespace.update(extra_fields(spec.object_type))
    namespace["__init__"] = RecordInterface.__init__  # a dataclass keeps an __init__ it is given
    cls = type(spec.type_name, (RecordInterface,), namespace)
    return strawberry.type(cls, description=f"A {spec.label} record.")  # type: ignore[return-value]


RECORD_TYPES: dict[str, type[RecordInterface]] = {
    spec.object_type.value: _record_type(spec) for spec in OBJECTS
}


def wrap_record(row: models.Record | None) -> RecordInterface | None:
    return None if row is None else RECORD_TYPES[row.object_type](row=row)


@strawberry.type
class RecordEdge:
    cursor: str
    node: RecordInterface


@strawberry.type
class RecordConnection:
    page: Private[RecordPage]

    @strawberry.field
    def edges(self) -> list[RecordEdge]:
        return [
            RecordEdge(cursor=encode_cursor(row.id), node=RECORD_TYPES[row.object_type](row=row))
            for row in self.page.rows
        ]

    @strawberry.field
    def page_info(self) -> PageInfo:
        rows = self.page.rows
        return PageInfo(
            has_next_page=self.page.has_next,
            end_cursor=encode_cursor(rows[-1].id) if rows else None,
        )

    @strawberry.field(
        description="All records matching the filter that the caller may read, exactly. Its "
        "cost grows with the records the caller reaches (a few ms for a salesperson, tens of "
        "ms for a manager of thousands); `countUpTo` stops early."
    )
    async def total_count(self) -> int:
        return await self.page.total_count()

    @strawberry.field(
        description="`totalCount` counted no further than `atMost` (1 to 10000): as fast for "
        "a manager of thousands as for a salesperson. `exact` false: more than `count`."
    )
    async def count_up_to(self, at_most: int = COUNT_UP_TO) -> BoundedCount:
        return BoundedCount.of(await self.page.count_up_to(at_most))


@strawberry.input
class RecordFilter:
    status: list[str] | None = None
    owner_id: strawberry.ID | None = None
    name_contains: str | None = None
    updated_since: datetime | None = None


@strawberry.input
class TeamMemberInput:
    user_id: strawberry.ID
    team_role: TeamRole
    access: DataAccess


@strawberry.type
class FieldInfo:
    name: str
    label: str
    type: str
    required: bool
    options: list[str]
    target: ObjectType | None
    access: FieldAccess = strawberry.field(description="The caller's own access to this field.")


@strawberry.type
class StatusInfo:
    key: str
    label: str


@strawberry.type
class ObjectTypeInfo:
    object_type: ObjectType
    type_name: str
    label: str
    statuses: list[str]
    status_labels: list[StatusInfo]
    default_status: str
    team_roles: list[TeamRole]
    fields: list[FieldInfo]
    transitions: list[TransitionInfo] = strawberry.field(
        description="Every status transition of the type, whoever may apply it."
    )

    @classmethod
    def build(cls, spec: ObjectSpec, access: FieldAccessMap) -> ObjectTypeInfo:
        return cls(
            object_type=spec.object_type,
            type_name=spec.type_name,
            label=spec.label,
            statuses=list(spec.status_keys),
            status_labels=[StatusInfo(key=s.key, label=s.label) for s in spec.statuses],
            default_status=spec.default_status,
            team_roles=list(spec.team_roles),
            fields=[
                FieldInfo(
                    name=f.name,
                    label=f.label,
                    type=f.type.value,
                    required=f.required,
                    options=list(f.options),
                    target=f.target,
                    access=access.of(spec.object_type.value, f.name),
                )
                for f in spec.fields
            ],
            transitions=[TransitionInfo.build(t) for t in transitions_of(spec.object_type)],
        )


@strawberry.type
class FieldAccessRule:
    object_type: ObjectType
    field: str
    role: FunctionRole
    access: FieldAccess
