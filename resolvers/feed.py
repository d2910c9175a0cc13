"""Follow-up activity: posting items, the feeds and scenes, and the social actions on items."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from crmfeed.ids import Kind
from crmfeed.registry.enums import LifeStatus, ObjectType
from crmfeed.registry.feed import (
    ITEM_TYPES,
    MAX_CONTENT,
    MAX_MENTIONS,
    SCENES,
    FeedItemType,
    FeedScene,
    ItemTypeSpec,
)
from crmfeed.registry.objects import spec_for
from resolvers import checker, notify
from resolvers.errors import BadUserInput, Forbidden, not_found
from resolvers.feed_prefetch import PagePrefetch
from resolvers.inputs import parse_id, parse_ids
from resolvers.paging import bounded, count_bound, decode_cursor
from resolvers.records import readable_or_not_found
from store import feed, org, records
from store.feed import ItemFilter
from store.feed_tables import FeedFavorite, FeedFollow, FeedLike

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.context import Context
    from store.feed_tables import FeedItem, FeedReply
    from store.models import Record, User
    from store.viewer import Viewer

MARKS = {"like": FeedLike, "favorite": FeedFavorite, "follow": FeedFollow}


def clean_content(content: str, field: str = "content") -> str:
    cleaned = content.strip()
    if not cleaned:
        raise BadUserInput(f"{field} must not be empty.", field=field)
    if len(cleaned) > MAX_CONTENT:
        raise BadUserInput(
            f"{field} may be at most {MAX_CONTENT:,} characters (got {len(cleaned):,}).",
            field=field,
        )
    return cleaned


def parse_mentions(values: Sequence[str] | None, field: str = "mentions") -> list[int]:
    ids = parse_ids(list(values or []), Kind.USER, field)
    if len(ids) > MAX_MENTIONS:
        raise BadUserInput(
            f"{field}: at most {MAX_MENTIONS} people may be @mentioned (got {len(ids)}).",
            field=field,
        )
    return ids


async def existing_users(
    session: AsyncSession, viewer: Viewer, ids: Sequence[int], field: str
) -> dict[int, User]:
    found = await org.users_by_ids(session, viewer.enterprise_id, ids) if ids else {}
    _require_users(found, ids, field)
    return found


def _require_users(found: dict[int, User], ids: Sequence[int], field: str) -> None:
    for number in ids:
        if number not in found:
            raise BadUserInput(f"{field}: no user with id usr_{number} exists.", field=field)


async def _readable_records(
    session: AsyncSession, viewer: Viewer, ids: Sequence[int], field: str
) -> dict[int, Record]:
    """The records, all readable and normal; the same answer for a missing or hidden one."""
    found = await records.readable_records(session, viewer, ids)
    _require_records(found, ids, field)
    return found


def _require_records(found: dict[int, Record], ids: Sequence[int], field: str) -> None:
    """Each of `ids` readable and normal; the same answer for a missing or hidden one."""
    for number in ids:
        record = found.get(number)
        if record is None or record.life_status != LifeStatus.NORMAL:
            raise BadUserInput(f"{field}: no record with id rec_{number} exists.", field=field)


@dataclass(frozen=True, slots=True)
class NewItem:
    content: str
    type: FeedItemType
    related_to: list[str]
    account_id: str | None
    mentions: list[str]
    cc: list[str]


async def post(context: Context, new: NewItem) -> FeedItem:
    """`postSalesRecord`: a user's item, related to records they may read."""
    viewer = await context.viewer()
    spec = ITEM_TYPES[new.type]
    if not spec.postable:
        raise BadUserInput(
            f"type: {spec.label} items are made by the system, not posted.", field="type"
        )
    if spec.permission:
        kind, operation = spec.permission.split(".")
        checker.check_permission(viewer, kind, operation, doing=f"Posting a {spec.label.lower()}")
    content = clean_content(new.content)
    related = parse_ids(new.related_to, Kind.RECORD, "relatedTo")
    account = None if new.account_id is None else parse_id(new.account_id, Kind.RECORD, "accountId")
    mentions = parse_mentions(new.mentions)
    cc = parse_mentions(new.cc, "cc")
    async with context.db() as session:
        item, sent = await post_in(
            session, viewer, new.type, content, related, account, mentions, cc
        )
        await session.commit()
    await context.publish(sent)
    return item


async def post_in(
    session: AsyncSession,
    viewer: Viewer,
    item_type: FeedItemType,
    content: str,
    related: list[int],
    account: int | None,
    mentions: list[int],
    cc: list[int],
) -> tuple[FeedItem, list[tuple[int, int]]]:
    """Write an item in the caller's transaction, related to records the viewer may read, and
    its notifications; returns the item and what to publish after commit. `post` and the items
    the record page actions write (a logged call, a sent mail) all go through here."""
    spec = ITEM_TYPES[item_type]
    # The records and the users named are read in one statement each (none when none).
    wanted = [*related, account] if account is not None else related
    readable = await records.readable_records(session, viewer, wanted) if wanted else {}
    _require_records(readable, related, "relatedTo")
    found = {number: readable[number] for number in related}
    if account is not None:
        _require_records(readable, [account], "accountId")
        account_row = readable[account]
        if account_row.object_type != ObjectType.ACCOUNT:
            raise BadUserInput(
                f"accountId: rec_{account} is a {spec_for(account_row.object_type).label}, "
                "not an Account.",
                field="accountId",
            )
        found[account] = account_row
        related = [*related, account]
    _check_related(spec, found.values())
    users = await org.users_by_ids(session, viewer.enterprise_id, [*cc, *mentions, viewer.id])
    _require_users(users, cc, "cc")
    _require_users(users, mentions, "mentions")
    item = await feed.insert_item(
        session,
        enterprise_id=viewer.enterprise_id,
        type=item_type.value,
        author_id=viewer.id,
        content=content,
        account_id=account,
        record_ids=related,
        mentions=mentions,
        cc=cc,
    )
    sent = await notify.item_posted(session, viewer, users[viewer.id].name, item, mentions, cc)
    return item, sent


def _check_related(spec: ItemTypeSpec, related: Iterable[Record]) -> None:
    rows = list(related)
    if spec.needs_record and not rows:
        raise BadUserInput(
            f"relatedTo: a {spec.label.lower()} must be related to at least one record "
            "(relatedTo or accountId).",
            field="relatedTo",
        )
    if spec.related_types and not any(
        ObjectType(row.object_type) in spec.related_types for row in rows
    ):
        names = " or ".join(sorted(spec_for(t).label for t in spec.related_types))
        raise BadUserInput(
            f"relatedTo: a {spec.label.lower()} must be related to a {names}.", field="relatedTo"
        )


async def visible_or_not_found(session: AsyncSession, viewer: Viewer, item_id: str) -> FeedItem:
    try:
        number = parse_id(item_id, Kind.FEED_ITEM, "itemId")
    except BadUserInput:
        raise not_found("feed item", item_id) from None
    item = await feed.visible_item(session, viewer, number)
    if item is None:
        raise not_found("feed item", item_id)
    return item


async def get_item(context: Context, item_id: str) -> FeedItem | None:
    viewer = await context.viewer()
    try:
        number = parse_id(item_id, Kind.FEED_ITEM, "id")
    except BadUserInput:
        return None
    async with context.db() as session:
        return await feed.visible_item(session, viewer, number)


async def update_item(
    context: Context, item_id: str, content: str | None, account_changes: dict[str, str | None]
) -> FeedItem:
    """The author edits the content or the account lookup (clearing it leaves related-to)."""
    viewer = await context.viewer()
    async with context.db() as session:
        item = await visible_or_not_found(session, viewer, item_id)
        if item.author_id != viewer.id:
            raise Forbidden("Only the author may edit a feed item.")
        require_user_written(item, "edited")
        if content is not None:
            item.content = clean_content(content)
        if "accountId" in account_changes:
            value = account_changes["accountId"]
            account = None if value is None else parse_id(value, Kind.RECORD, "accountId")
            if account is not None:
                row = (await _readable_records(session, viewer, [account], "accountId"))[account]
                if row.object_type != ObjectType.ACCOUNT:
                    raise BadUserInput(
                        f"accountId: rec_{account} is not an Account.", field="accountId"
                    )
            await feed.set_account(session, item, account)
        await session.commit()
    return item


def require_user_written(item: FeedItem, verb: str) -> None:
    """FORBIDDEN for an item the system wrote (a type that is not posted): no user changes it."""
    if not ITEM_TYPES[FeedItemType(item.type)].postable:
        raise Forbidden(f"Items the system wrote (sales process, task, calendar) cannot be {verb}.")


# -- feeds ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemPage:
    rows: list[tuple[FeedItem, User]]
    has_next: bool
    context: Context
    item_filter: ItemFilter
    prefetched: PagePrefetch

    async def total_count(self) -> int:
        viewer = await self.context.viewer()
        async with self.context.db() as session:
            return await feed.count_items(session, viewer, self.item_filter)

    async def count_up_to(self, at_most: int) -> tuple[int, bool]:
        """(count, exact): the same count, stopped after `at_most` items."""
        at_most = count_bound(at_most)
        viewer = await self.context.viewer()
        async with self.context.db() as session:
            found = await feed.count_items(session, viewer, self.item_filter, at_most=at_most)
        return bounded(found, at_most)


async def _page(
    context: Context, item_filter: ItemFilter, first: int | None, after: str | None
) -> ItemPage:
    viewer = await context.viewer()
    size = context.page_size(first)
    before_id = decode_cursor(after)
    async with context.db() as session:
        rows = await feed.page_items(
            session, viewer, item_filter, before_id=before_id, limit=size + 1
        )
    for _, author in rows:
        context.loaders.user_by_id.prime(author.id, author)
    page = rows[:size]
    return ItemPage(
        rows=page,
        has_next=len(rows) > size,
        context=context,
        item_filter=item_filter,
        prefetched=PagePrefetch.of(page),
    )


async def feed_page(
    context: Context,
    *,
    scene: FeedScene,
    record_id: str | None,
    types: list[FeedItemType] | None,
    first: int | None,
    after: str | None,
) -> ItemPage:
    """WORK: everything visible to me; a scene: items about its records; a record's feed."""
    viewer = await context.viewer()
    record_number = None
    if record_id is not None:
        async with context.db() as session:
            record_number = (await readable_or_not_found(session, viewer, record_id)).id
    scene_spec = SCENES.get(scene)
    item_filter = ItemFilter(
        types=tuple(t.value for t in types or ()),
        record_id=record_number,
        scene_records=None if scene_spec is None else feed.scene_records(viewer, scene_spec),
    )
    return await _page(context, item_filter, first, after)


async def record_feed_page(
    context: Context,
    record: Record,
    types: list[FeedItemType] | None,
    first: int | None,
    after: str | None,
) -> ItemPage:
    """`Record.feed`: the record (already readable) and its follow-up activity."""
    item_filter = ItemFilter(types=tuple(t.value for t in types or ()), record_id=record.id)
    return await _page(context, item_filter, first, after)


async def marked_page(
    context: Context, mark: str, first: int | None, after: str | None
) -> ItemPage:
    """My favorites or the items I follow (only those I may still see)."""
    viewer = await context.viewer()
    return await _page(context, ItemFilter(marked_by=(MARKS[mark], viewer.id)), first, after)


# -- actions -------------------------------------------------------------------------------------


async def reply(
    context: Context, item_id: str, content: str, mentions: list[str] | None
) -> FeedReply:
    viewer = await context.viewer()
    content = clean_content(content)
    mentioned = parse_mentions(mentions)
    async with context.db() as session:
        item = await visible_or_not_found(session, viewer, item_id)
        users = await existing_users(session, viewer, [*mentioned, viewer.id], "mentions")
        # The answer's author is the viewer, just read: no second look-up after the commit.
        context.loaders.user_by_id.prime(viewer.id, users[viewer.id])
        followers = await feed.followers(session, item.id)
        created = await feed.insert_reply(
            session, item=item, author_id=viewer.id, content=content, mentions=mentioned
        )
        sent = await notify.replied(
            session, viewer, users[viewer.id].name, item, created, mentioned, followers
        )
        await session.commit()
    await context.publish(sent)
    return created


async def set_mark(context: Context, item_id: str, mark: str, on: bool) -> FeedItem:
    """Like / favorite / follow and their undo; repeating one changes nothing."""
    viewer = await context.viewer()
    async with context.db() as session:
        item = await visible_or_not_found(session, viewer, item_id)
        if on:
            await feed.put_mark(session, MARKS[mark], viewer.enterprise_id, item.id, viewer.id)
        else:
            await feed.remove_mark(session, MARKS[mark], item.id, viewer.id)
        await session.commit()
    return item


def now() -> datetime:
    return datetime.now(UTC)


def check_time(value: datetime | None, field: str, *, future: bool = False) -> None:
    if value is None:
        return
    if value.tzinfo is None:
        raise BadUserInput(
            f"{field} needs a UTC offset, e.g. 2026-01-31T09:00:00+00:00.", field=field
        )
    if future and value <= now():
        raise BadUserInput(f"{field} must be in the future.", field=field)


async def can_see(session: AsyncSession, viewer: Viewer, user_id: int, item_id: int) -> bool:
    other = await org.load_viewer(session, viewer.enterprise_id, user_id)
    return other is not None and await feed.visible_item(session, other, item_id) is not None
