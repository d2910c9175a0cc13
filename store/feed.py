"""Feed items, their links and the social actions on them; every list goes through
`store.visibility.visible_items` so no one sees an item they may not."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from crmfeed.registry.enums import LifeStatus
from crmfeed.registry.feed import SceneRelation, SceneSpec
from store import visibility
from store.feed_tables import (
    FeedFavorite,
    FeedFollow,
    FeedItem,
    FeedItemRecord,
    FeedItemUser,
    FeedLike,
    FeedReply,
    FeedReplyMention,
)
from store.models import Record, TeamMember, User, UserClosure
from store.types import utcnow

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from store.viewer import Viewer

MENTION = "MENTION"
CC = "CC"
REPLY_MENTION = "REPLY_MENTION"
Mark = type[FeedLike] | type[FeedFavorite] | type[FeedFollow]


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Which items a feed lists, before visibility: types, a record, scene records, marks."""

    types: tuple[str, ...] = ()
    record_id: int | None = None
    scene_records: Any = None  # a SELECT of record ids, or None
    marked_by: tuple[Mark, int] | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.types:
            found.append(FeedItem.type.in_(self.types))
        if self.record_id is not None:
            found.append(
                FeedItem.id.in_(
                    select(FeedItemRecord.item_id).where(FeedItemRecord.record_id == self.record_id)
                )
            )
        if self.scene_records is not None:
            found.append(
                select(FeedItemRecord.item_id)
                .where(
                    FeedItemRecord.item_id == FeedItem.id,
                    FeedItemRecord.record_id.in_(self.scene_records),
                )
                .exists()
            )
        if self.marked_by is not None:
            mark, user_id = self.marked_by
            found.append(FeedItem.id.in_(select(mark.item_id).where(mark.user_id == user_id)))
        return found


def _strict_subordinates(viewer: Viewer) -> Any:
    return select(UserClosure.descendant_id).where(
        UserClosure.ancestor_id == viewer.id, UserClosure.depth > 0
    )


def scene_records(viewer: Viewer, scene: SceneSpec) -> Any:
    """Ids of the records a CRM Information scene is about (seed 001)."""
    relation = {
        SceneRelation.OWNED_BY_ME: Record.owner_id == viewer.id,
        SceneRelation.OWNED_BY_MY_SUBORDINATE: Record.owner_id.in_(_strict_subordinates(viewer)),
        SceneRelation.OWNED_IN_MY_DEPARTMENTS: Record.owner_id.in_(
            visibility.owners_under_my_departments(viewer)
        ),
        SceneRelation.TEAM_HAS_MY_SUBORDINATE: Record.id.in_(
            select(TeamMember.record_id).where(TeamMember.user_id.in_(_strict_subordinates(viewer)))
        ),
    }[scene.relation]
    return select(Record.id).where(
        Record.enterprise_id == viewer.enterprise_id,
        Record.life_status == LifeStatus.NORMAL.value,
        Record.object_type.in_([t.value for t in scene.object_types]),
        relation,
    )


async def insert_item(
    session: AsyncSession,
    *,
    enterprise_id: int,
    type: str,
    author_id: int,
    content: str,
    account_id: int | None,
    record_ids: Sequence[int],
    mentions: Sequence[int] = (),
    cc: Sequence[int] = (),
) -> FeedItem:
    """An item with its related-to links and named users; its author follows it."""
    now = utcnow()
    item = FeedItem(
        enterprise_id=enterprise_id,
        type=type,
        author_id=author_id,
        content=content,
        account_id=account_id,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    await session.flush()
    links = [
        {"enterprise_id": enterprise_id, "item_id": item.id, "record_id": record_id}
        for record_id in dict.fromkeys(record_ids)
    ]
    if links:
        await session.execute(insert(FeedItemRecord), links)
    named = [
        {"enterprise_id": enterprise_id, "item_id": item.id, "user_id": user_id, "kind": kind}
        for kind, users in ((MENTION, mentions), (CC, cc))
        for user_id in dict.fromkeys(users)
    ]
    if named:
        await session.execute(insert(FeedItemUser), named)
    await put_mark(session, FeedFollow, enterprise_id, item.id, author_id)
    return item


async def set_account(session: AsyncSession, item: FeedItem, account_id: int | None) -> None:
    """Change the account lookup; a new account also joins related-to, clearing leaves it."""
    item.account_id = account_id
    item.updated_at = utcnow()
    if account_id is not None:
        await _insert_ignoring_duplicates(
            session,
            FeedItemRecord,
            [{"enterprise_id": item.enterprise_id, "item_id": item.id, "record_id": account_id}],
        )
    await session.flush()


async def visible_item(session: AsyncSession, viewer: Viewer, item_id: int) -> FeedItem | None:
    return await session.scalar(
        select(FeedItem).where(FeedItem.id == item_id, visibility.visible_items(viewer))
    )


async def visible_item_ids(
    session: AsyncSession, viewer: Viewer, item_ids: Sequence[int]
) -> set[int]:
    rows = await session.scalars(
        select(FeedItem.id).where(FeedItem.id.in_(set(item_ids)), visibility.visible_items(viewer))
    )
    return set(rows)


async def page_items(
    session: AsyncSession,
    viewer: Viewer,
    item_filter: ItemFilter,
    *,
    before_id: int | None,
    limit: int,
) -> list[tuple[FeedItem, User]]:
    """Newest first, with authors; keyset paging on id, so new items never shift a page."""
    conditions = [visibility.visible_items(viewer), *item_filter.conditions()]
    if before_id is not None:
        conditions.append(FeedItem.id < before_id)
    query = (
        select(FeedItem, User)
        .join(User, User.id == FeedItem.author_id)
        .where(and_(*conditions))
        .order_by(FeedItem.id.desc())
        .limit(limit)
    )
    return [(item, author) for item, author in await session.execute(query)]


async def count_items(session: AsyncSession, viewer: Viewer, item_filter: ItemFilter) -> int:
    conditions = [visibility.visible_items(viewer), *item_filter.conditions()]
    total = await session.scalar(select(func.count()).select_from(FeedItem).where(*conditions))
    return total or 0


# -- per-item relations, batched for DataLoaders -------------------------------------------------


async def related_records_by_item(
    session: AsyncSession, viewer: Viewer, item_ids: Sequence[int]
) -> dict[int, list[Record]]:
    """Each item's related records that the viewer may read, in link order."""
    rows = await session.execute(
        select(FeedItemRecord.item_id, Record)
        .join(Record, Record.id == FeedItemRecord.record_id)
        .where(FeedItemRecord.item_id.in_(set(item_ids)), visibility.readable(viewer))
        .order_by(FeedItemRecord.item_id, Record.id)
    )
    found: dict[int, list[Record]] = defaultdict(list)
    for item_id, record in rows:
        found[item_id].append(record)
    return found


async def named_users_by_item(
    session: AsyncSession, enterprise_id: int, item_ids: Sequence[int]
) -> dict[int, list[tuple[str, User]]]:
    """(kind, user) of everyone named on each item, users included in the same statement."""
    rows = await session.execute(
        select(FeedItemUser.item_id, FeedItemUser.kind, User)
        .join(User, User.id == FeedItemUser.user_id)
        .where(
            FeedItemUser.enterprise_id == enterprise_id,
            FeedItemUser.item_id.in_(set(item_ids)),
        )
        .order_by(FeedItemUser.item_id, FeedItemUser.user_id)
    )
    found: dict[int, list[tuple[str, User]]] = defaultdict(list)
    for item_id, kind, user in rows:
        found[item_id].append((kind, user))
    return found


@dataclass(frozen=True, slots=True)
class ItemStats:
    like_count: int = 0
    liked_by_me: bool = False
    reply_count: int = 0
    favorited_by_me: bool = False
    followed_by_me: bool = False


def _count(model: Any) -> Any:
    return (
        select(func.count())
        .select_from(model)
        .where(model.item_id == FeedItem.id)
        .scalar_subquery()
    )


def _mine(mark: Mark, user_id: int) -> Any:
    return select(mark.item_id).where(mark.item_id == FeedItem.id, mark.user_id == user_id).exists()


async def item_stats(
    session: AsyncSession, user_id: int, item_ids: Sequence[int]
) -> dict[int, ItemStats]:
    """Counts and the user's own marks for each item, in one statement."""
    rows = await session.execute(
        select(
            FeedItem.id,
            _count(FeedLike),
            _mine(FeedLike, user_id),
            _count(FeedReply),
            _mine(FeedFavorite, user_id),
            _mine(FeedFollow, user_id),
        ).where(FeedItem.id.in_(set(item_ids)))
    )
    return {
        row[0]: ItemStats(int(row[1]), bool(row[2]), int(row[3]), bool(row[4]), bool(row[5]))
        for row in rows
    }


async def first_replies(
    session: AsyncSession, item_ids: Sequence[int], per_item: int, after_id: int | None = None
) -> dict[int, list[tuple[FeedReply, User]]]:
    """The oldest `per_item` replies of each item (after `after_id`) with their authors."""
    position = (
        func.row_number()
        .over(partition_by=FeedReply.item_id, order_by=FeedReply.id)
        .label("position")
    )
    conditions = [FeedReply.item_id.in_(set(item_ids))]
    if after_id is not None:
        conditions.append(FeedReply.id > after_id)
    ranked = select(FeedReply.id, position).where(*conditions).subquery()
    rows = await session.execute(
        select(FeedReply, User)
        .join(ranked, ranked.c.id == FeedReply.id)
        .join(User, User.id == FeedReply.author_id)
        .where(ranked.c.position <= per_item)
        .order_by(FeedReply.item_id, FeedReply.id)
    )
    found: dict[int, list[tuple[FeedReply, User]]] = defaultdict(list)
    for reply, author in rows:
        found[reply.item_id].append((reply, author))
    return found


async def reply_mentions(session: AsyncSession, reply_ids: Sequence[int]) -> dict[int, list[int]]:
    rows = await session.execute(
        select(FeedReplyMention.reply_id, FeedReplyMention.user_id)
        .where(FeedReplyMention.reply_id.in_(set(reply_ids)))
        .order_by(FeedReplyMention.reply_id, FeedReplyMention.user_id)
    )
    found: dict[int, list[int]] = defaultdict(list)
    for reply_id, user_id in rows:
        found[reply_id].append(user_id)
    return found


# -- actions -------------------------------------------------------------------------------------


async def _insert_ignoring_duplicates(
    session: AsyncSession, table: Any, rows: list[dict[str, Any]]
) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    await session.execute(statement.on_conflict_do_nothing(), rows)


async def put_mark(
    session: AsyncSession, mark: Mark, enterprise_id: int, item_id: int, user_id: int
) -> None:
    """Like, favorite or follow; repeating it changes nothing."""
    await _insert_ignoring_duplicates(
        session,
        mark,
        [
            {
                "enterprise_id": enterprise_id,
                "item_id": item_id,
                "user_id": user_id,
                "created_at": utcnow(),
            }
        ],
    )


async def remove_mark(session: AsyncSession, mark: Mark, item_id: int, user_id: int) -> None:
    await session.execute(delete(mark).where(mark.item_id == item_id, mark.user_id == user_id))


async def insert_reply(
    session: AsyncSession,
    *,
    item: FeedItem,
    author_id: int,
    content: str,
    mentions: Sequence[int],
) -> FeedReply:
    """A reply; its author follows the item, and mentioned users may see the thread."""
    reply = FeedReply(
        enterprise_id=item.enterprise_id,
        item_id=item.id,
        author_id=author_id,
        content=content,
        created_at=utcnow(),
    )
    session.add(reply)
    await session.flush()
    users = list(dict.fromkeys(mentions))
    if users:
        await session.execute(
            insert(FeedReplyMention),
            [
                {"enterprise_id": item.enterprise_id, "reply_id": reply.id, "user_id": u}
                for u in users
            ],
        )
        await _insert_ignoring_duplicates(
            session,
            FeedItemUser,
            [
                {
                    "enterprise_id": item.enterprise_id,
                    "item_id": item.id,
                    "user_id": u,
                    "kind": REPLY_MENTION,
                }
                for u in users
            ],
        )
    await put_mark(session, FeedFollow, item.enterprise_id, item.id, author_id)
    item.updated_at = utcnow()
    await session.flush()
    return reply


async def followers(session: AsyncSession, item_id: int) -> list[int]:
    return list(
        await session.scalars(
            select(FeedFollow.user_id)
            .where(FeedFollow.item_id == item_id)
            .order_by(FeedFollow.user_id)
        )
    )


async def visible_items_by_ids(
    session: AsyncSession, viewer: Viewer, item_ids: Sequence[int]
) -> dict[int, FeedItem]:
    rows = await session.scalars(
        select(FeedItem).where(FeedItem.id.in_(set(item_ids)), visibility.visible_items(viewer))
    )
    return {item.id: item for item in rows}
