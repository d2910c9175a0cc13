"""Follow-up activity types: feed items, replies, tasks, reminders, calendar events, forwards."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry import Private

from crmfeed.ids import Kind, to_global
from crmfeed.registry import feed as feed_registry
from resolvers.feed import ItemPage
from resolvers.paging import encode_cursor
from schema.org import User, wrap_user
from schema.pagination import PageInfo
from schema.records import RecordInterface, wrap_record
from store import feed_tables, models

FeedItemType = strawberry.enum(feed_registry.FeedItemType, name="FeedItemType")
FeedScene = strawberry.enum(feed_registry.FeedScene, name="FeedScene")
MAX_REPLY_PAGE = 50


async def _users(info: strawberry.Info, ids: list[int]) -> list[User]:
    rows = await info.context.loaders.user_by_id.load_many(ids)
    return [User(row=row) for row in rows if row is not None]


async def _user(info: strawberry.Info, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    return wrap_user(await info.context.loaders.user_by_id.load(user_id))


async def _record(info: strawberry.Info, record_id: int | None) -> RecordInterface | None:
    if record_id is None:
        return None
    return wrap_record(await info.context.loaders.readable_record_by_id.load(record_id))


async def _item(info: strawberry.Info, item_id: int | None) -> FeedItem | None:
    if item_id is None:
        return None
    row = await info.context.loaders.visible_item_by_id.load(item_id)
    return None if row is None else FeedItem(row=row)


@strawberry.type
class Reply:
    row: Private[feed_tables.FeedReply]
    author_row: Private[models.User]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global(Kind.REPLY, self.row.id))

    @strawberry.field
    def content(self) -> str:
        return self.row.content

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def author(self) -> User:
        return User(row=self.author_row)

    @strawberry.field
    async def mentions(self, info: strawberry.Info) -> list[User]:
        return await _users(info, await info.context.loaders.mentions_by_reply_id.load(self.row.id))


@strawberry.type
class ReplyEdge:
    cursor: str
    node: Reply


@strawberry.type
class ReplyConnection:
    edges: list[ReplyEdge]
    page_info: PageInfo


@strawberry.type
class FeedItem:
    row: Private[feed_tables.FeedItem]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global(Kind.FEED_ITEM, self.row.id))

    @strawberry.field
    def type(self) -> FeedItemType:
        return FeedItemType(self.row.type)

    @strawberry.field
    def content(self) -> str:
        return self.row.content

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at

    @strawberry.field
    async def author(self, info: strawberry.Info) -> User:
        author = await _user(info, self.row.author_id)
        assert author is not None  # author_id is a foreign key
        return author

    @strawberry.field(description="The related records the caller may read.")
    async def related_to(self, info: strawberry.Info) -> list[RecordInterface]:
        rows = await info.context.loaders.related_records_by_item_id.load(self.row.id)
        return [record for record in map(wrap_record, rows) if record is not None]

    @strawberry.field(description="The account lookup (null when cleared or not readable).")
    async def account(self, info: strawberry.Info) -> RecordInterface | None:
        if self.row.account_id is None:
            return None
        rows = await info.context.loaders.related_records_by_item_id.load(self.row.id)
        return next((wrap_record(r) for r in rows if r.id == self.row.account_id), None)

    async def _named(self, info: strawberry.Info, kind: str) -> list[User]:
        named = await info.context.loaders.named_users_by_item_id.load(self.row.id)
        return [User(row=user) for found_kind, user in named if found_kind == kind]

    @strawberry.field
    async def mentions(self, info: strawberry.Info) -> list[User]:
        return await self._named(info, "MENTION")

    @strawberry.field
    async def cc(self, info: strawberry.Info) -> list[User]:
        return await self._named(info, "CC")

    @strawberry.field
    async def like_count(self, info: strawberry.Info) -> int:
        return (await info.context.loaders.stats_by_item_id.load(self.row.id)).like_count

    @strawberry.field
    async def liked_by_me(self, info: strawberry.Info) -> bool:
        return (await info.context.loaders.stats_by_item_id.load(self.row.id)).liked_by_me

    @strawberry.field
    async def reply_count(self, info: strawberry.Info) -> int:
        return (await info.context.loaders.stats_by_item_id.load(self.row.id)).reply_count

    @strawberry.field
    async def favorited_by_me(self, info: strawberry.Info) -> bool:
        return (await info.context.loaders.stats_by_item_id.load(self.row.id)).favorited_by_me

    @strawberry.field
    async def followed_by_me(self, info: strawberry.Info) -> bool:
        return (await info.context.loaders.stats_by_item_id.load(self.row.id)).followed_by_me

    @strawberry.field(description="Replies, oldest first.")
    async def replies(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> ReplyConnection:
        from resolvers.paging import decode_cursor, page_size

        size = page_size(first, MAX_REPLY_PAGE)
        key = (self.row.id, size + 1, decode_cursor(after))
        rows = await info.context.loaders.replies_by_item_page.load(key)
        edges = [
            ReplyEdge(cursor=encode_cursor(reply.id), node=Reply(row=reply, author_row=author))
            for reply, author in rows[:size]
        ]
        return ReplyConnection(
            edges=edges,
            page_info=PageInfo.of(edges, len(rows) > size),
        )


@strawberry.type
class FeedItemEdge:
    cursor: str
    node: FeedItem


@strawberry.type
class FeedItemConnection:
    page: Private[ItemPage]

    @strawberry.field
    def edges(self) -> list[FeedItemEdge]:
        return [
            FeedItemEdge(cursor=encode_cursor(item.id), node=FeedItem(row=item))
            for item, _ in self.page.rows
        ]

    @strawberry.field
    def page_info(self) -> PageInfo:
        rows = self.page.rows
        return PageInfo(
            has_next_page=self.page.has_next,
            end_cursor=encode_cursor(rows[-1][0].id) if rows else None,
        )

    @strawberry.field(description="All items of this feed the caller may see.")
    async def total_count(self) -> int:
        return await self.page.total_count()


@strawberry.type
class Task:
    row: Private[feed_tables.Task]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global(Kind.TASK, self.row.id))

    @strawberry.field
    def title(self) -> str:
        return self.row.title

    @strawberry.field
    def due_at(self) -> datetime | None:
        return self.row.due_at

    @strawberry.field
    def done(self) -> bool:
        return self.row.done

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    async def assignee(self, info: strawberry.Info) -> User | None:
        return await _user(info, self.row.assignee_id)

    @strawberry.field
    async def created_by(self, info: strawberry.Info) -> User | None:
        return await _user(info, self.row.created_by_id)

    @strawberry.field(description="The item it was made from, if the caller may see it.")
    async def source_item(self, info: strawberry.Info) -> FeedItem | None:
        return await _item(info, self.row.source_item_id)

    @strawberry.field(description="The TASK item in the records' feeds.")
    async def feed_item(self, info: strawberry.Info) -> FeedItem | None:
        return await _item(info, self.row.feed_item_id)

    @strawberry.field
    async def record(self, info: strawberry.Info) -> RecordInterface | None:
        return await _record(info, self.row.record_id)


@strawberry.type
class TaskEdge:
    cursor: str
    node: Task


@strawberry.type
class TaskConnection:
    edges: list[TaskEdge]
    page_info: PageInfo

    @classmethod
    def build(cls, rows: list[feed_tables.Task], has_next: bool) -> TaskConnection:
        edges = [TaskEdge(cursor=encode_cursor(row.id), node=Task(row=row)) for row in rows]
        return cls(
            edges=edges,
            page_info=PageInfo.of(edges, has_next),
        )


@strawberry.type
class Reminder:
    row: Private[feed_tables.Reminder]
    user_ids: Private[list[int]]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global(Kind.REMINDER, self.row.id))

    @strawberry.field
    def remind_at(self) -> datetime:
        return self.row.remind_at

    @strawberry.field
    def note(self) -> str | None:
        return self.row.note

    @strawberry.field
    def fired_at(self) -> datetime | None:
        return self.row.fired_at

    @strawberry.field
    async def users(self, info: strawberry.Info) -> list[User]:
        return await _users(info, self.user_ids)

    @strawberry.field
    async def feed_item(self, info: strawberry.Info) -> FeedItem | None:
        return await _item(info, self.row.item_id)

    @strawberry.field
    async def record(self, info: strawberry.Info) -> RecordInterface | None:
        return await _record(info, self.row.record_id)


@strawberry.type
class CalendarEvent:
    row: Private[feed_tables.CalendarEvent]
    participant_ids: Private[list[int]]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global(Kind.CALENDAR_EVENT, self.row.id))

    @strawberry.field
    def title(self) -> str:
        return self.row.title

    @strawberry.field
    def starts_at(self) -> datetime:
        return self.row.starts_at

    @strawberry.field
    def ends_at(self) -> datetime | None:
        return self.row.ends_at

    @strawberry.field
    async def participants(self, info: strawberry.Info) -> list[User]:
        return await _users(info, self.participant_ids)

    @strawberry.field
    async def record(self, info: strawberry.Info) -> RecordInterface | None:
        return await _record(info, self.row.record_id)

    @strawberry.field
    async def feed_item(self, info: strawberry.Info) -> FeedItem | None:
        return await _item(info, self.row.feed_item_id)


@strawberry.enum
class ForwardKind(Enum):
    FEED_ITEM = "FEED_ITEM"
    RECORD = "RECORD"


@strawberry.type(description="A card forwarded to me; it shows even when I cannot open it.")
class ForwardCard:
    row: Private[feed_tables.Forward]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global(Kind.FORWARD, self.row.id))

    @strawberry.field
    def kind(self) -> ForwardKind:
        return ForwardKind.FEED_ITEM if self.row.item_id is not None else ForwardKind.RECORD

    @strawberry.field
    def message(self) -> str | None:
        return self.row.message

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(name="from")
    async def from_user(self, info: strawberry.Info) -> User | None:
        return await _user(info, self.row.from_user_id)

    @strawberry.field(description="The item, or null when I may not see it.")
    async def feed_item(self, info: strawberry.Info) -> FeedItem | None:
        return await _item(info, self.row.item_id)

    @strawberry.field(description="The record, or null when I may not read it.")
    async def record(self, info: strawberry.Info) -> RecordInterface | None:
        return await _record(info, self.row.record_id)

    @strawberry.field(description="Whether I may open what the card points to.")
    async def can_open(self, info: strawberry.Info) -> bool:
        if self.row.item_id is not None:
            return await _item(info, self.row.item_id) is not None
        return await _record(info, self.row.record_id) is not None


@strawberry.type
class ForwardCardEdge:
    cursor: str
    node: ForwardCard


@strawberry.type
class ForwardCardConnection:
    edges: list[ForwardCardEdge]
    page_info: PageInfo

    @classmethod
    def build(cls, rows: list[feed_tables.Forward], has_next: bool) -> ForwardCardConnection:
        edges = [
            ForwardCardEdge(cursor=encode_cursor(row.id), node=ForwardCard(row=row)) for row in rows
        ]
        return cls(
            edges=edges,
            page_info=PageInfo.of(edges, has_next),
        )


@strawberry.input
class PostSalesRecordInput:
    content: str
    related_to: list[strawberry.ID] | None = None
    account_id: strawberry.ID | None = None
    mentions: list[strawberry.ID] | None = None
    cc: list[strawberry.ID] | None = None
    type: FeedItemType = FeedItemType.SALES_RECORD


@strawberry.input
class UpdateFeedItemInput:
    content: str | None = strawberry.UNSET
    account_id: strawberry.ID | None = strawberry.UNSET


@strawberry.input
class CreateTaskInput:
    record_id: strawberry.ID
    title: str
    assignee_id: strawberry.ID
    due_at: datetime | None = None


@strawberry.input
class CreateCalendarEventInput:
    title: str
    starts_at: datetime
    ends_at: datetime | None = None
    record_id: strawberry.ID | None = None
    item_id: strawberry.ID | None = None
    participant_ids: list[strawberry.ID] | None = None
