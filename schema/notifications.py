"""Notification types and the live subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from datetime import datetime

import strawberry
from strawberry import Private

from crmfeed.ids import Kind, to_global
from resolvers import notifications
from resolvers.notify import NotificationKind as RegistryNotificationKind
from resolvers.paging import encode_cursor
from schema.feed import FeedItem, ForwardCard, _item, _record, _user
from schema.org import User, wrap_user
from schema.pagination import PageInfo
from schema.permissions import SIGNED_IN
from schema.records import RecordInterface, wrap_record
from store import feed_tables, notification_tables
from store.notifications import Delivered

NotificationKind = strawberry.enum(RegistryNotificationKind, name="NotificationKind")


@strawberry.type
class Notification:
    row: Private[notification_tables.Notification]
    # What a live delivery read with the row (visible to the recipient): no loads needed.
    parts: Private[Delivered | None] = None
    # Plain values, set by `of`: a field without a resolver costs strawberry and graphql-core
    # much less per delivery (a fan-out executes this selection once per subscription).
    id: strawberry.ID
    cursor: str = strawberry.field(description="Pass it as `after` to get what came later.")
    kind: NotificationKind
    created_at: datetime
    read: bool
    message: str

    @classmethod
    def of(
        cls, row: notification_tables.Notification, parts: Delivered | None = None
    ) -> Notification:
        return cls(
            row=row,
            parts=parts,
            id=strawberry.ID(to_global(Kind.NOTIFICATION, row.id)),
            cursor=encode_cursor(row.seq),
            kind=NotificationKind(row.kind),
            created_at=row.created_at,
            read=row.read_at is not None,
            message=row.message,
        )

    # Sync resolvers: a live delivery answers from `parts` with no awaitable (each one costs
    # graphql-core a task per delivery); elsewhere they return the DataLoader's awaitable.
    @strawberry.field(graphql_type=User | None)
    def actor(self, info: strawberry.Info) -> User | Awaitable[User | None] | None:
        if self.parts is not None:
            return wrap_user(self.parts.actor)
        return _user(info, self.row.actor_id)

    @strawberry.field(graphql_type=FeedItem | None)
    def feed_item(self, info: strawberry.Info) -> FeedItem | Awaitable[FeedItem | None] | None:
        if self.parts is not None:
            item = self.parts.item
            return None if item is None else FeedItem(row=item, loaders=info.context.loaders)
        return _item(info, self.row.item_id)

    @strawberry.field(graphql_type=RecordInterface | None)
    def record(
        self, info: strawberry.Info
    ) -> RecordInterface | Awaitable[RecordInterface | None] | None:
        if self.parts is not None:
            return wrap_record(self.parts.record)
        return _record(info, self.row.record_id)

    @strawberry.field(description="The forwarded card, for FORWARDED notifications.")
    async def forward(self, info: strawberry.Info) -> ForwardCard | None:
        if self.row.forward_id is None:
            return None
        async with info.context.db() as session:
            row = await session.get(feed_tables.Forward, self.row.forward_id)
        return None if row is None else ForwardCard(row=row)


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo

    @classmethod
    def build(
        cls, rows: list[notification_tables.Notification], has_next: bool
    ) -> NotificationConnection:
        edges = [
            NotificationEdge(cursor=encode_cursor(row.seq), node=Notification.of(row))
            for row in rows
        ]
        return cls(
            edges=edges,
            page_info=PageInfo.of(edges, has_next),
        )


@strawberry.type
class NotificationQuery:
    @strawberry.field(
        permission_classes=SIGNED_IN,
        description="My inbox, oldest first after the cursor.",
    )
    async def notifications(
        self,
        info: strawberry.Info,
        after: str | None = None,
        first: int | None = None,
        unread_only: bool | None = False,
    ) -> NotificationConnection:
        rows, has_next = await notifications.page(info.context, after, first, bool(unread_only))
        return NotificationConnection.build(rows, has_next)

    @strawberry.field(permission_classes=SIGNED_IN)
    async def unread_notification_count(self, info: strawberry.Info) -> int:
        return await notifications.unread_count(info.context)


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Mark my notifications up to this cursor read; returns how many changed.",
    )
    async def mark_notifications_read(self, info: strawberry.Info, up_to: str) -> int:
        return await notifications.mark_read(info.context, up_to)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        permission_classes=SIGNED_IN,
        description="Every stored notification after `after`, then new ones as they come.",
    )
    async def notifications(
        self, info: strawberry.Info, after: str | None = None
    ) -> AsyncGenerator[Notification, None]:
        async for found in notifications.stream(info.context, after):
            yield Notification.of(found.row, found)
            del found  # nor does this generator, while it waits for the next one
