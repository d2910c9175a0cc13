"""The Query root: wiring only, each field calls its resolver."""

from __future__ import annotations

import strawberry

from crmfeed.registry.enums import LifeStatus
from crmfeed.registry.objects import OBJECTS
from resolvers import access, auth, feed, field_access, org, records, sharing, tasks
from schema.access import AccessExplanation, SharingRule
from schema.confirmation import ConfirmationQuery
from schema.enums import ObjectType
from schema.feed import (
    FeedItem,
    FeedItemConnection,
    FeedItemType,
    FeedScene,
    ForwardCardConnection,
    ReminderConnection,
    TaskConnection,
)
from schema.notifications import NotificationQuery
from schema.org import (
    Department,
    EnterpriseSettings,
    FollowUpSetting,
    User,
    UserConnection,
)
from schema.permissions import ADMIN, SIGNED_IN
from schema.record_page import RecordPageQuery
from schema.records import (
    FieldAccessRule,
    ObjectTypeInfo,
    RecordConnection,
    RecordFilter,
    RecordInterface,
    wrap_record,
)
from schema.roles import RoleQuery
from schema.transfer import TransferQuery
from store.records import RecordFilter as StoreFilter


@strawberry.type
class Query(NotificationQuery, RecordPageQuery, RoleQuery, TransferQuery, ConfirmationQuery):
    @strawberry.field(permission_classes=SIGNED_IN)
    async def me(self, info: strawberry.Info) -> User:
        return User(row=await auth.me(info.context))

    @strawberry.field(permission_classes=SIGNED_IN)
    async def departments(self, info: strawberry.Info) -> list[Department]:
        return [Department(row=row) for row in await org.departments(info.context)]

    @strawberry.field(permission_classes=SIGNED_IN)
    async def users(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> UserConnection:
        return UserConnection.build(*await org.users_page(info.context, first, after))

    @strawberry.field(
        permission_classes=SIGNED_IN,
        description="The record, or null when it does not exist or the caller may not read it.",
    )
    async def record(self, info: strawberry.Info, id: strawberry.ID) -> RecordInterface | None:
        return wrap_record(await records.get_record(info.context, id))

    @strawberry.field(permission_classes=SIGNED_IN)
    async def records(
        self,
        info: strawberry.Info,
        object_type: ObjectType,
        filter: RecordFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> RecordConnection:
        given = filter or RecordFilter()
        record_filter = records.make_filter(
            statuses=given.status,
            owner_id=given.owner_id,
            name_contains=given.name_contains,
            updated_since=given.updated_since,
            object_type=object_type,
        )
        page = await records.page(
            info.context,
            object_type=object_type,
            record_filter=record_filter,
            first=first,
            after=after,
        )
        return RecordConnection(page=page)

    @strawberry.field(extensions=ADMIN, description="Invalid records (CRM administrators only).")
    async def recycle_bin(
        self,
        info: strawberry.Info,
        object_type: ObjectType | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> RecordConnection:
        page = await records.page(
            info.context,
            object_type=object_type,
            record_filter=StoreFilter(),
            first=first,
            after=after,
            life_status=LifeStatus.INVALID,
        )
        return RecordConnection(page=page)

    @strawberry.field(permission_classes=SIGNED_IN)
    async def explain_access(
        self, info: strawberry.Info, record_id: strawberry.ID, user_id: strawberry.ID | None = None
    ) -> AccessExplanation:
        explanation = await access.explain_access(info.context, record_id, user_id)
        return AccessExplanation(explanation=explanation)

    @strawberry.field(extensions=ADMIN)
    async def sharing_rules(self, info: strawberry.Info) -> list[SharingRule]:
        return [SharingRule(row=row) for row in await sharing.sharing_rules(info.context)]

    @strawberry.field(extensions=ADMIN)
    async def follow_up_settings(
        self, info: strawberry.Info, object_type: ObjectType
    ) -> list[FollowUpSetting]:
        settings = await sharing.follow_up_settings(info.context, object_type)
        return [FollowUpSetting(team_role=role, access=value) for role, value in settings]

    @strawberry.field(permission_classes=SIGNED_IN)
    async def enterprise_settings(self, info: strawberry.Info) -> EnterpriseSettings:
        return EnterpriseSettings(row=await sharing.enterprise(info.context))

    @strawberry.field(
        permission_classes=SIGNED_IN,
        description="The object registry, with the caller's own access to every field.",
    )
    async def object_types(self, info: strawberry.Info) -> list[ObjectTypeInfo]:
        access = await info.context.field_access()
        return [ObjectTypeInfo.build(spec, access) for spec in OBJECTS]

    @strawberry.field(extensions=ADMIN, description="Field-level security rules of an object.")
    async def field_access(
        self, info: strawberry.Info, object_type: ObjectType
    ) -> list[FieldAccessRule]:
        found = await field_access.rules(info.context, object_type)
        return [
            FieldAccessRule(object_type=object_type, field=name, role=role, access=level)
            for name, role, level in found
        ]

    @strawberry.field(
        permission_classes=SIGNED_IN,
        description="WORK: all activity I may see; a scene of seed 001; or a record's feed.",
    )
    async def feed(
        self,
        info: strawberry.Info,
        scene: FeedScene = FeedScene.WORK,
        record_id: strawberry.ID | None = None,
        types: list[FeedItemType] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> FeedItemConnection:
        page = await feed.feed_page(
            info.context, scene=scene, record_id=record_id, types=types, first=first, after=after
        )
        return FeedItemConnection(page=page)

    @strawberry.field(permission_classes=SIGNED_IN)
    async def feed_item(self, info: strawberry.Info, id: strawberry.ID) -> FeedItem | None:
        row = await feed.get_item(info.context, id)
        return None if row is None else FeedItem(row=row, loaders=info.context.loaders)

    @strawberry.field(permission_classes=SIGNED_IN)
    async def my_favorites(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> FeedItemConnection:
        return FeedItemConnection(
            page=await feed.marked_page(info.context, "favorite", first, after)
        )

    @strawberry.field(permission_classes=SIGNED_IN)
    async def my_following(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> FeedItemConnection:
        return FeedItemConnection(page=await feed.marked_page(info.context, "follow", first, after))

    @strawberry.field(
        permission_classes=SIGNED_IN,
        description="Tasks assigned to me, by due time: overdue and soonest first, then those "
        "without one; newest first among equals. `done`: only completed (true) or only open "
        "(false) ones; all when null.",
    )
    async def my_tasks(
        self,
        info: strawberry.Info,
        done: bool | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> TaskConnection:
        return TaskConnection.build(*await tasks.my_tasks(info.context, done, first, after))

    @strawberry.field(
        permission_classes=SIGNED_IN,
        description="Reminders not fired yet that I set or that remind me, soonest first.",
    )
    async def my_reminders(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> ReminderConnection:
        return ReminderConnection.build(*await tasks.my_reminders(info.context, first, after))

    @strawberry.field(permission_classes=SIGNED_IN, description="Cards forwarded to me.")
    async def forwarded_to_me(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> ForwardCardConnection:
        return ForwardCardConnection.build(*await tasks.forwarded_to_me(info.context, first, after))
