"""Follow-up activity types: feed items, replies, tasks, reminders, calendar events, forwards."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING

import strawberry
from graphql.pyutils import AwaitableOrValue
from strawberry import Private
from strawberry.types.nodes import SelectedField

from crmfeed.ids import Kind, to_global
from crmfeed.registry import feed as feed_registry
from resolvers.feed import ItemPage
from resolvers.feed_prefetch import (
    Prefetched,
    ReplyPage,
    Wanted,
    reply_page,
    selected,
    then,
)
from resolvers.loaders import Loaders
from resolvers.paging import COUNT_UP_TO, decode_cursor, encode_cursor, page_size
from resolvers.tasks import reminder_cursor, task_cursor
from schema.org import User, wrap_user
from schema.pagination import BoundedCount, PageInfo
from schema.records import RecordInterface, wrap_record
from store import feed, feed_tables, models

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from strawberry.types.nodes import Selection


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
    return None if row is None else FeedItem(row=row, loaders=info.context.loaders)


@strawberry.type
class Reply:
    """A reply; like an item's, its own columns and author are plain fields."""

    row: Private[feed_tables.FeedReply]
    id: strawberry.ID
    content: str
    created_at: datetime
    author: User

    def __init__(self, row: feed_tables.FeedReply, author: models.User) -> None:
        self.row = row
        self.id = strawberry.ID(to_global(Kind.REPLY, row.id))
        self.content = row.content
        self.created_at = row.created_at
        self.author = User(row=author)

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
    """An item. Every field but `replies` is a plain attribute, read without a resolver call (a
    page reads them for every item): the columns are set when the item is made, the relations
    too when the page prefetched them. A relation that was not (an item from elsewhere: one
    item, a mutation's payload, a notification) is missing from the instance, so `__getattr__`
    answers it with an awaitable that fills it from the DataLoaders."""

    row: Private[feed_tables.FeedItem]
    loaders: Private[Loaders]
    loaded: Private[Prefetched]
    id: strawberry.ID
    type: FeedItemType
    content: str
    created_at: datetime
    updated_at: datetime
    author: User
    related_to: list[RecordInterface] = strawberry.field(
        description="The related records the caller may read."
    )
    account: RecordInterface | None = strawberry.field(
        description="The account lookup (null when cleared or not readable)."
    )
    mentions: list[User]
    cc: list[User]
    like_count: int
    liked_by_me: bool
    reply_count: int
    favorited_by_me: bool
    followed_by_me: bool

    def __init__(
        self, row: feed_tables.FeedItem, loaders: Loaders, loaded: Prefetched | None = None
    ) -> None:
        self.row = row
        self.loaders = loaders
        self.loaded = loaded = loaded or Prefetched()
        self.id = strawberry.ID(to_global(Kind.FEED_ITEM, row.id))
        self.type = FeedItemType(row.type)
        self.content = row.content
        self.created_at = row.created_at
        self.updated_at = row.updated_at
        if loaded.author is not None:
            self.author = User(row=loaded.author)
        if loaded.related is not None:
            self._set_related(loaded.related)
        if loaded.named is not None:
            self._set_named(loaded.named)
        if loaded.stats is not None:
            self._set_stats(loaded.stats)

    def _set_related(self, rows: list[models.Record]) -> None:
        self.related_to = [record for record in map(wrap_record, rows) if record is not None]
        account_id = self.row.account_id
        self.account = next((r for r in self.related_to if r.row.id == account_id), None)

    def _set_named(self, rows: list[tuple[str, models.User]]) -> None:
        self.mentions = [User(row=user) for kind, user in rows if kind == "MENTION"]
        self.cc = [User(row=user) for kind, user in rows if kind == "CC"]

    def _set_stats(self, stats: feed.ItemStats) -> None:
        self.like_count = stats.like_count
        self.liked_by_me = stats.liked_by_me
        self.reply_count = stats.reply_count
        self.favorited_by_me = stats.favorited_by_me
        self.followed_by_me = stats.followed_by_me

    def __getattr__(self, name: str) -> Awaitable[object]:
        """Only reached for an attribute the instance lacks: a relation not prefetched."""
        fill = _FILLS.get(name)
        if fill is None:
            raise AttributeError(name)
        return self._filled(fill, name)

    async def _filled(self, fill: Callable[[FeedItem], Awaitable[None]], name: str) -> object:
        await fill(self)
        return self.__dict__[name]

    @strawberry.field(graphql_type=ReplyConnection, description="Replies, oldest first.")
    def replies(
        self, info: strawberry.Info, first: int | None = None, after: str | None = None
    ) -> AwaitableOrValue[ReplyConnection]:
        size = page_size(first, MAX_REPLY_PAGE)
        key = (size + 1, decode_cursor(after))
        rows: AwaitableOrValue[list[tuple[feed_tables.FeedReply, models.User]]]
        if key in self.loaded.replies:
            rows = self.loaded.replies[key]
        else:
            rows = info.context.loaders.replies_by_item_page.load((self.row.id, *key))
        return then(rows, lambda found: _reply_connection(found, size))


async def _fill_author(item: FeedItem) -> None:
    item.author = User(row=await item.loaders.user_by_id.load(item.row.author_id))


async def _fill_related(item: FeedItem) -> None:
    item._set_related(await item.loaders.related_records_by_item_id.load(item.row.id))


async def _fill_named(item: FeedItem) -> None:
    item._set_named(await item.loaders.named_users_by_item_id.load(item.row.id))


async def _fill_stats(item: FeedItem) -> None:
    item._set_stats(await item.loaders.stats_by_item_id.load(item.row.id))


_FILLS: dict[str, Callable[[FeedItem], Awaitable[None]]] = {
    "author": _fill_author,
    "related_to": _fill_related,
    "account": _fill_related,
    "mentions": _fill_named,
    "cc": _fill_named,
    **dict.fromkeys(
        ("like_count", "liked_by_me", "reply_count", "favorited_by_me", "followed_by_me"),
        _fill_stats,
    ),
}


def _reply_connection(
    rows: list[tuple[feed_tables.FeedReply, models.User]], size: int
) -> ReplyConnection:
    edges = [
        ReplyEdge(cursor=encode_cursor(reply.id), node=Reply(row=reply, author=author))
        for reply, author in rows[:size]
    ]
    return ReplyConnection(edges=edges, page_info=PageInfo.of(edges, len(rows) > size))


ITEM_STATS = frozenset({"likeCount", "likedByMe", "replyCount", "favoritedByMe", "followedByMe"})


def wanted_by(selections: list[Selection]) -> Wanted:
    """What the items under these `edges` selections read, for `feed_prefetch.prefetch`."""
    names: set[str] = set()
    replies: set[ReplyPage] = set()
    for edges in selections:
        if not isinstance(edges, SelectedField):
            continue
        for node in selected(edges.selections, "node"):
            for name in (*ITEM_STATS, "relatedTo", "account", "mentions", "cc"):
                if next(selected(node.selections, name), None) is not None:
                    names.add(name)
            for field in selected(node.selections, "replies"):
                page = reply_page(field.arguments, MAX_REPLY_PAGE)
                if page is not None:
                    replies.add(page)
    return Wanted(
        related=bool(names & {"relatedTo", "account"}),
        named=bool(names & {"mentions", "cc"}),
        stats=bool(names & ITEM_STATS),
        replies=frozenset(replies),
    )


@strawberry.type
class FeedItemEdge:
    cursor: str
    node: FeedItem


@strawberry.type
class FeedItemConnection:
    page: Private[ItemPage]

    @strawberry.field
    async def edges(self, info: strawberry.Info) -> list[FeedItemEdge]:
        rows = self.page.rows
        prefetched = self.page.prefetched
        await prefetched.load(info.context, wanted_by(info.selected_fields))
        return [
            FeedItemEdge(
                cursor=encode_cursor(item.id),
                node=FeedItem(
                    row=item, loaders=info.context.loaders, loaded=prefetched.items[item.id]
                ),
            )
            for item, _ in rows
        ]

    @strawberry.field
    def page_info(self) -> PageInfo:
        rows = self.page.rows
        return PageInfo(
            has_next_page=self.page.has_next,
            end_cursor=encode_cursor(rows[-1][0].id) if rows else None,
        )

    @strawberry.field(
        description="All items of this feed the caller may see, exactly. Its cost grows with "
        "the items the caller sees (hundreds of ms at hundreds of thousands); `countUpTo` "
        "stops early."
    )
    async def total_count(self) -> int:
        return await self.page.total_count()

    @strawberry.field(
        description="`totalCount` counted no further than `atMost` (1 to 10000). "
        "`exact` false: more than `count`."
    )
    async def count_up_to(self, at_most: int = COUNT_UP_TO) -> BoundedCount:
        return BoundedCount.of(await self.page.count_up_to(at_most))


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

    @strawberry.field(description="When it was last completed (null while open).")
    def completed_at(self) -> datetime | None:
        return self.row.completed_at

    @strawberry.field(description="Who completed it (null while open).")
    async def completed_by(self, info: strawberry.Info) -> User | None:
        return await _user(info, self.row.completed_by_id)

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
        edges = [TaskEdge(cursor=task_cursor(row), node=Task(row=row)) for row in rows]
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
class ReminderEdge:
    cursor: str
    node: Reminder


@strawberry.type
class ReminderConnection:
    edges: list[ReminderEdge]
    page_info: PageInfo

    @classmethod
    def build(
        cls, rows: list[tuple[feed_tables.Reminder, list[int]]], has_next: bool
    ) -> ReminderConnection:
        edges = [
            ReminderEdge(cursor=reminder_cursor(row), node=Reminder(row=row, user_ids=users))
            for row, users in rows
        ]
        return cls(edges=edges, page_info=PageInfo.of(edges, has_next))


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

    @strawberry.field(
        description="The event as an .ics file (calendar apps import it); the caller's bearer "
        "token opens it."
    )
    def ics_url(self) -> str:
        return f"/files/events/{self.id()}.ics"

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
