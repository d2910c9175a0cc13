"""Feed items, their links and the social actions on them; every list goes through
`store.visibility.visible_items` so no one sees an item they may not."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    any_,
    bindparam,
    delete,
    func,
    insert,
    intersect,
    literal,
    select,
    true,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import set_committed_value

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
from store.rows import insert_row
from store.types import Id, utcnow

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Select
    from sqlalchemy.ext.asyncio import AsyncSession

    from store.viewer import Viewer

MENTION = "MENTION"
CC = "CC"
REPLY_MENTION = "REPLY_MENTION"
Mark = type[FeedLike] | type[FeedFavorite] | type[FeedFollow]


@dataclass(frozen=True, slots=True)
class SceneRecords:
    """The records a CRM Information scene (seed 001) is about, as the viewer sees the scene."""

    viewer: Viewer
    spec: SceneSpec

    def _about(self, record: Any, *, correlated: bool) -> ColumnElement[bool]:
        viewer = self.viewer
        if self.spec.relation is SceneRelation.TEAM_HAS_MY_SUBORDINATE:
            team = _SCENE_TEAM
            if correlated:  # `+ 0`: probe this record's team, not every team row of them
                member = (team.user_id + 0).in_(_strict_subordinates(viewer))
                relation = select(1).where(team.record_id == record.id, member).exists()
            else:
                relation = record.id.in_(
                    select(team.record_id).where(team.user_id.in_(_strict_subordinates(viewer)))
                )
        else:
            relation = {
                SceneRelation.OWNED_BY_ME: record.owner_id == viewer.id,
                SceneRelation.OWNED_BY_MY_SUBORDINATE: record.owner_id.in_(
                    _strict_subordinates(viewer)
                ),
                SceneRelation.OWNED_IN_MY_DEPARTMENTS: record.owner_id.in_(
                    visibility.owners_under_my_departments(viewer)
                ),
            }[self.spec.relation]
        return and_(
            record.enterprise_id == viewer.enterprise_id,
            record.life_status == LifeStatus.NORMAL.value,
            record.object_type.in_(sorted(t.value for t in self.spec.object_types)),
            relation,
        )

    def ids(self) -> Select[tuple[int]]:
        """Ids of the scene's records, read from the record and team indexes."""
        return select(Record.id).where(self._about(Record, correlated=False))

    def on(self, record: Any) -> ColumnElement[bool]:
        """Whether one (aliased) record row is in the scene, cheap for a few rows."""
        return self._about(record, correlated=True)


@dataclass(frozen=True, slots=True)
class ItemFilter:
    """Which items a feed lists, before visibility: types, a record, scene records, marks."""

    types: tuple[str, ...] = ()
    record_id: int | None = None
    scene_records: SceneRecords | None = None
    marked_by: tuple[Mark, int] | None = None


def _strict_subordinates(viewer: Viewer) -> Select[tuple[int]]:
    return select(UserClosure.descendant_id).where(
        UserClosure.ancestor_id == viewer.id, UserClosure.depth > 0
    )


def scene_records(viewer: Viewer, scene: SceneSpec) -> SceneRecords:
    """The records a CRM Information scene is about (seed 001)."""
    return SceneRecords(viewer, scene)


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
    await insert_row(session, item)
    links = [
        {"enterprise_id": enterprise_id, "item_id": item.id, "record_id": record_id}
        for record_id in dict.fromkeys(record_ids)
    ]
    if links:
        await session.execute(insert(FeedItemRecord.__table__), links)
    named = [
        {"enterprise_id": enterprise_id, "item_id": item.id, "user_id": user_id, "kind": kind}
        for kind, users in ((MENTION, mentions), (CC, cc))
        for user_id in dict.fromkeys(users)
    ]
    if named:
        await session.execute(insert(FeedItemUser.__table__), named)
    await put_mark(session, FeedFollow, enterprise_id, item.id, author_id)
    return item


async def insert_items(
    session: AsyncSession,
    *,
    enterprise_id: int,
    type: str,
    author_id: int,
    items: Sequence[tuple[str, int | None, Sequence[int]]],
) -> list[int]:
    """Many items by one author, each (content, account, related records), written as
    `insert_item` writes one (its related-to links, the author following it, no named
    users) in four statements; returns their ids in order."""
    if not items:
        return []
    now = utcnow()
    await session.execute(
        insert(FeedItem.__table__),
        [
            {
                "enterprise_id": enterprise_id,
                "type": type,
                "author_id": author_id,
                "content": content,
                "account_id": account_id,
                "created_at": now,
                "updated_at": now,
            }
            for content, account_id, _ in items
        ],
    )
    ids = list(
        await session.scalars(
            select(FeedItem.id)
            .where(
                FeedItem.enterprise_id == enterprise_id,
                FeedItem.author_id == author_id,
                FeedItem.type == type,
                FeedItem.created_at == now,
            )
            .order_by(FeedItem.id)
        )
    )
    if len(ids) != len(items):  # another writer at the very same microsecond: never silently
        raise RuntimeError(f"wrote {len(items)} feed items but found {len(ids)}")
    links = [
        {"enterprise_id": enterprise_id, "item_id": item_id, "record_id": record_id}
        for item_id, (_, _, records) in zip(ids, items, strict=True)
        for record_id in dict.fromkeys(records)
    ]
    if links:
        await session.execute(insert(FeedItemRecord), links)
    await session.execute(
        insert(FeedFollow),
        [
            {"enterprise_id": enterprise_id, "item_id": i, "user_id": author_id, "created_at": now}
            for i in ids
        ],
    )
    return ids


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


async def relate_items(
    session: AsyncSession, enterprise_id: int, from_record_id: int, to_record_id: int
) -> None:
    """Every item related to one record becomes related to another (new) record too."""
    linked = select(
        literal(enterprise_id, Id), FeedItemRecord.item_id, literal(to_record_id, Id)
    ).where(FeedItemRecord.record_id == from_record_id)
    await session.execute(
        insert(FeedItemRecord).from_select(["enterprise_id", "item_id", "record_id"], linked)
    )


async def visible_item(session: AsyncSession, viewer: Viewer, item_id: int) -> FeedItem | None:
    return await session.scalar(_visible_item(viewer), {"item_id": item_id})


@lru_cache(maxsize=visibility.VIEWER_CACHE)
def _visible_item(viewer: Viewer) -> Select[tuple[FeedItem]]:
    """The bound `item_id`'s item if the viewer sees it; built once per viewer, so a like or a
    reply neither builds it nor walks it for its cache key again (several times the SQL)."""
    return select(FeedItem).where(
        FeedItem.id == bindparam("item_id", type_=Id), visibility.visible_items(viewer)
    )


async def visible_item_ids(
    session: AsyncSession, viewer: Viewer, item_ids: Sequence[int]
) -> set[int]:
    rows = await session.scalars(
        select(FeedItem.id).where(FeedItem.id.in_(set(item_ids)), visibility.visible_items(viewer))
    )
    return set(rows)


# -- pages ---------------------------------------------------------------------------------------
#
# Each feed is read from what bounds it, so a page costs a few index probes per item looked at:
# a record's feed walks that record's links, a marked feed the viewer's marks, both newest
# first. WORK and the scenes first fetch the records they are about, capped at NARROW_REACH + 1:
# when there are no more, the page is read from those records' links (passed as values, or for
# a remembered few read in the statement: `_remembered`); else it walks every item newest
# first, testing each item's own links (`visible_items` is correlated), which finds a page
# quickly because such a viewer sees many items.

_PAGE_LINK = aliased(FeedItemRecord, name="page_link")
_SCENE_LINK = aliased(FeedItemRecord, name="scene_link")
_SCENE_RECORD = aliased(Record, name="scene_record")
_SCENE_TEAM = aliased(TeamMember, name="scene_team")


# Page statements are built once per viewer and plan (`lru_cache`) with their values as bind
# parameters: SQLAlchemy then reuses each statement's cache key instead of walking the whole
# visibility expression again on every request (0.2-0.8 ms a statement under cProfile).
PAGE_PLANS = 4 * visibility.VIEWER_CACHE
_BEFORE = bindparam("before_id", type_=Id)
_LIMIT = bindparam("page_limit", type_=Integer)
_RECORD_ID = bindparam("record_id", type_=Id)
_MARK_USER = bindparam("mark_user", type_=Id)


def _among(column: Any, name: str, dialect: str) -> ColumnElement[bool]:
    """`column` is one of the ids bound as `name`: an array on PostgreSQL (one parameter, and
    the planner knows how many there are), an IN list on SQLite (which it reads in order)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(Id)))
    return column.in_(bindparam(name, expanding=True))


def _in_scene(scene: SceneRecords) -> ColumnElement[bool]:
    link, record = _SCENE_LINK, _SCENE_RECORD
    return (
        select(1)
        .select_from(link)
        .join(record, record.id == link.record_id)
        .where(link.item_id == FeedItem.id, scene.on(record))
        .offset(0)  # PostgreSQL: a probe per item, not a hashed sub-plan over every link
        .exists()
    )


def _marked(mark: Mark) -> ColumnElement[bool]:
    return select(1).where(mark.item_id == FeedItem.id, mark.user_id == _MARK_USER).exists()


def _filters(
    types: tuple[str, ...], scene: SceneRecords | None = None
) -> list[ColumnElement[bool]]:
    """The filter's cheap tests first (the item's type), then its correlated ones."""
    found: list[ColumnElement[bool]] = []
    if types:
        found.append(FeedItem.type.in_(types))
    if scene is not None:
        found.append(_in_scene(scene))
    return found


@lru_cache(maxsize=PAGE_PLANS)
def _capped(query: Select[tuple[int]], cap: int) -> Select[tuple[int]]:
    """The distinct ids `query` finds, at most `cap` + 1 of them. (A record open to the viewer
    in several ways, say as owner and as team member, is one record: capping the rows instead
    would stop short of records that come after the repeats.)"""
    return query.distinct().limit(cap + 1)


@lru_cache(maxsize=PAGE_PLANS)
def _scene_ids(scene: SceneRecords) -> Select[tuple[int]]:
    return scene.ids()


async def _reach(session: AsyncSession, query: Select[tuple[int]]) -> list[int] | None:
    """The ids `query` finds (a statement cached per viewer), sorted, or None when it finds
    more than `NARROW_REACH`."""
    cap = visibility.NARROW_REACH
    ids = list(await session.scalars(_capped(query, cap)))
    return None if len(ids) > cap else sorted(ids)


# What a viewer's reach statement found is remembered for a while (keyed by the threshold too):
# a viewer with more than NARROW_REACH open records then walks without asking again; one with at
# most SUBQUERY_REACH reads them inside the page statement on SQLite (an untyped WORK page or a
# count), which costs what passing them as values does at that size (measured up to 139 open
# records; at 450 the values plan is 3x faster) and saves the reach statement. Either plan is
# right for every viewer, so a remembered size that has gone stale can only cost speed.
REMEMBER_SECONDS = 60.0
SUBQUERY_REACH = 150
_WIDE = -1
_remembered: dict[tuple[Viewer, int], tuple[float, int]] = {}  # -> (until, size or _WIDE)


class OpenRecords(NamedTuple):
    """The viewer's open records for a WORK page or count: their `ids`, read now; or
    `in_sql`, few and remembered, for the statement to read itself; neither when there are
    more than NARROW_REACH (the statement walks the items)."""

    ids: list[int] | None = None
    in_sql: bool = False


async def _open_records(session: AsyncSession, viewer: Viewer, *, in_sql_ok: bool) -> OpenRecords:
    """The records whose follow-up activity is open to the viewer (see `_remembered`)."""
    now = time.monotonic()
    key = (viewer, visibility.NARROW_REACH)
    until, size = _remembered.get(key, (0.0, 0))
    if until > now:
        if size == _WIDE:
            return OpenRecords()
        if in_sql_ok and size <= SUBQUERY_REACH:
            return OpenRecords(in_sql=True)
    ids = await _reach(session, visibility.open_record_reach(viewer))
    if len(_remembered) >= PAGE_PLANS:
        _remembered.clear()
    _remembered[key] = (now + REMEMBER_SECONDS, _WIDE if ids is None else len(ids))
    return OpenRecords(ids=ids)


def _before(column: Any, paged: bool) -> list[ColumnElement[bool]]:
    """`column < before_id` after the first page. (A first page has no bound at all: given
    one, SQLite walks the rowid instead of the enterprise's index.)"""
    return [column < _BEFORE] if paged else []


def _with_authors(conditions: list[ColumnElement[bool]], order: Any) -> Select[Any]:
    return (
        select(FeedItem, User)
        .join(User, User.id == FeedItem.author_id)
        .where(*conditions)
        .order_by(order.desc())
        .limit(_LIMIT)
    )


def _among_newest_first(
    dialect: str, ids: Select[tuple[int]], conditions: list[ColumnElement[bool]]
) -> Select[Any]:
    """The items of `ids` (a few thousand at most) newest first, each tested with `conditions`
    only until the page is full. SQLite reads an `IN` list in order for this; PostgreSQL
    needs the ids sorted in a subquery, or it walks every item instead."""
    if dialect != "postgresql":
        return _with_authors([FeedItem.id.in_(ids), *conditions], FeedItem.id)
    candidate = ids.subquery("candidate")
    newest = select(candidate.c[0].label("id")).distinct().order_by(candidate.c[0].desc())
    found = newest.subquery("newest")
    return (
        select(FeedItem, User)
        .select_from(found)
        .join(FeedItem, FeedItem.id == found.c.id)
        .join(User, User.id == FeedItem.author_id)
        .where(*conditions)
        .order_by(found.c.id.desc())
        .limit(_LIMIT)
    )


async def page_items(
    session: AsyncSession,
    viewer: Viewer,
    item_filter: ItemFilter,
    *,
    before_id: int | None,
    limit: int,
) -> list[tuple[FeedItem, User]]:
    """Newest first, with authors; keyset paging on id, so new items never shift a page."""
    query, values = await _page_query(session, viewer, item_filter, before_id is not None)
    values.update(before_id=before_id, page_limit=limit)
    return [(item, author) for item, author in await session.execute(query, values)]


async def _page_query(
    session: AsyncSession, viewer: Viewer, item_filter: ItemFilter, paged: bool
) -> tuple[Select[Any], dict[str, Any]]:
    """The plan for this feed and viewer, and the values it binds (but the cursor and size)."""
    dialect = session.get_bind().dialect.name
    types, scene = item_filter.types, item_filter.scene_records
    if item_filter.record_id is not None or item_filter.marked_by is not None:
        mark, mark_user = item_filter.marked_by or (None, None)
        of_record = item_filter.record_id is not None
        query = _driven_page(viewer, types, scene, paged, of_record, mark)
        return query, {"record_id": item_filter.record_id, "mark_user": mark_user}
    if scene is not None:
        scene_ids = await _reach(session, _scene_ids(scene))
        if scene_ids is not None:  # the items about a few records, each one tested
            return _scene_page(viewer, types, paged, dialect), {"scene_ids": scene_ids}
    elif not viewer.is_admin:
        found = await _open_records(session, viewer, in_sql_ok=dialect == "sqlite" and not types)
        if found.in_sql:
            return _narrow_page(viewer, types, paged, dialect, listed=False), {}
        if found.ids is not None:
            query = _narrow_page(viewer, types, paged, dialect, listed=True)
            return query, {"open_ids": found.ids}
    return _walk_page(viewer, types, scene, paged), {}


@lru_cache(maxsize=PAGE_PLANS)
def _walk_page(
    viewer: Viewer, types: tuple[str, ...], scene: SceneRecords | None, paged: bool
) -> Select[Any]:
    """Every item of the enterprise newest first, each tested (the enterprise first, again in
    `visible`: SQLite then walks ix_feed_items_enterprise)."""
    conditions = [
        FeedItem.enterprise_id == viewer.enterprise_id,
        *_filters(types, scene),
        visibility.visible_items(viewer),
        *_before(FeedItem.id, paged),
    ]
    return _with_authors(conditions, FeedItem.id)


@lru_cache(maxsize=PAGE_PLANS)
def _scene_page(viewer: Viewer, types: tuple[str, ...], paged: bool, dialect: str) -> Select[Any]:
    """The items about a scene's few records (`scene_ids`), each tested."""
    about = select(FeedItemRecord.item_id).where(
        _among(FeedItemRecord.record_id, "scene_ids", dialect),
        *_before(FeedItemRecord.item_id, paged),
    )
    return _among_newest_first(dialect, about, [*_filters(types), visibility.visible_items(viewer)])


@lru_cache(maxsize=PAGE_PLANS)
def _driven_page(
    viewer: Viewer,
    types: tuple[str, ...],
    scene: SceneRecords | None,
    paged: bool,
    of_record: bool,
    mark: Mark | None,
) -> Select[Any]:
    """A record's feed walks that record's links (`record_id`), a marked feed the user's
    marks (`mark_user`)."""
    conditions = _filters(types, scene)
    if of_record:
        driver: Any = _PAGE_LINK
        conditions.append(driver.record_id == _RECORD_ID)
        if mark is not None:
            conditions.append(_marked(mark))
    else:
        assert mark is not None
        driver = mark
        conditions.append(driver.user_id == _MARK_USER)
    return (
        select(FeedItem, User)
        .select_from(driver)
        .join(FeedItem, FeedItem.id == driver.item_id)
        .join(User, User.id == FeedItem.author_id)
        .where(*conditions, *_before(driver.item_id, paged), visibility.visible_items(viewer))
        .order_by(driver.item_id.desc())
        .limit(_LIMIT)
    )


@lru_cache(maxsize=PAGE_PLANS)
def _narrow_page(
    viewer: Viewer, types: tuple[str, ...], paged: bool, dialect: str, listed: bool
) -> Select[Any]:
    """WORK for a viewer with few open records (`open_ids` when `listed`, else a subquery),
    from the sources of `visibility.visible_item_sources`: the newest page-size distinct ids
    of each, then their newest; with types, the sources' ids newest first, each item's type
    tested until the page is full."""
    open_links = _among(FeedItemRecord.record_id, "open_ids", dialect) if listed else None
    sources = [
        source.where(*_before(source.selected_columns[0], paged))
        for source in visibility.visible_item_sources(viewer, open_links)
    ]
    conditions = [FeedItem.enterprise_id == viewer.enterprise_id]
    if types:
        conditions.append(FeedItem.type.in_(types))
        return _among_newest_first(dialect, union_all(*sources), conditions)
    tops = [
        select(
            source.distinct().order_by(source.selected_columns[0].desc()).limit(_LIMIT).subquery()
        )
        for source in sources
    ]
    conditions.append(FeedItem.id.in_(union(*tops)))
    return _with_authors(conditions, FeedItem.id)


def _typed(sources: list[Select[tuple[int]]], types: tuple[str, ...]) -> list[Select[tuple[int]]]:
    """Each source of item ids, restricted to items of `types` (all when empty)."""
    if not types:
        return sources
    found = []
    for source in sources:
        (table,) = source.get_final_froms()
        if table is not FeedItem.__table__:
            source = source.join_from(table, FeedItem, FeedItem.id == source.selected_columns[0])
        found.append(source.where(FeedItem.type.in_(types)))
    return found


async def count_items(
    session: AsyncSession, viewer: Viewer, item_filter: ItemFilter, *, at_most: int | None = None
) -> int:
    """How many items the feed lists; with `at_most`, counting no further than `at_most` + 1
    (more than `at_most` then), so the count's cost has a bound whoever asks. WORK counts the
    union of the visible item sources (from the open records as values when they are few), a
    scene the items about its records that are in that union; the feed of a record or of marks
    tests each item about it or marked."""
    if item_filter.record_id is None and item_filter.marked_by is None:
        scene = item_filter.scene_records
        about = None
        gate: Any = true()
        if scene is not None:
            if await _reach(session, _scene_ids(scene)) == []:
                return 0  # the scene is about no record (the statement would still read items)
            about = select(FeedItemRecord.item_id.label("id")).where(
                visibility.AnyOf(FeedItemRecord.record_id, scene.ids().scalar_subquery())
            )
            # A one-time test, so that no visible item is read when the scene has none (inside
            # the open records too: SQLite builds an IN list before a test outside it).
            gate = select(about.subquery()).exists()
        open_links: ColumnElement[bool] | None = None
        values: dict[str, Any] = {}
        open_in_sql = False
        if viewer.is_admin:
            open_links = and_(gate, FeedItemRecord.enterprise_id == viewer.enterprise_id)
        else:
            dialect = session.get_bind().dialect.name
            found = await _open_records(session, viewer, in_sql_ok=dialect == "sqlite")
            if found.ids is not None:
                open_links = _among(FeedItemRecord.record_id, "open_ids", dialect)
                values["open_ids"] = found.ids
            else:  # many, or few and read by the statement: either way a subquery
                open_records = visibility.open_record_reach(viewer).where(gate)
                open_links = FeedItemRecord.record_id.in_(open_records)
                open_in_sql = True
        sources = visibility.visible_item_sources(viewer, open_links)
        if about is not None:
            visible = union_all(*(source.where(gate) for source in sources)).subquery()
            ids: Any = intersect(*_typed([about], item_filter.types), select(visible.c.id))
            if at_most is not None:
                ids = select(ids.subquery("intersected").c.id).limit(at_most + 1)
        elif at_most is None:
            ids = union(*_typed(sources, item_filter.types))
        else:  # the sources one after another, each id once, until the bound
            if open_in_sql:
                sources = visibility.streamed_item_sources(viewer)
            every = union_all(*_typed(sources, item_filter.types)).subquery("visible")
            ids = select(every.c.id).distinct().limit(at_most + 1)
        found_ids = ids.subquery("found")
        return await session.scalar(select(func.count()).select_from(found_ids), values) or 0
    conditions = _filters(item_filter.types, item_filter.scene_records)
    if item_filter.record_id is not None:
        about = select(FeedItemRecord.item_id).where(
            FeedItemRecord.record_id == item_filter.record_id
        )
        conditions.append(FeedItem.id.in_(about))
    if item_filter.marked_by is not None:
        mark, user_id = item_filter.marked_by
        conditions.append(FeedItem.id.in_(select(mark.item_id).where(mark.user_id == user_id)))
    conditions.append(visibility.visible_items(viewer))
    if at_most is None:
        query = select(func.count()).select_from(FeedItem).where(*conditions)
        return await session.scalar(query) or 0
    tested = select(FeedItem.id).where(*conditions).limit(at_most + 1).subquery("found")
    return await session.scalar(select(func.count()).select_from(tested)) or 0


# -- per-item relations, batched for DataLoaders -------------------------------------------------


async def related_records_by_item(
    session: AsyncSession, viewer: Viewer, item_ids: Sequence[int]
) -> dict[int, list[Record]]:
    """Each item's related records that the viewer may read, in link order."""
    rows = await session.execute(_related_records(viewer), {"item_ids": _ids(item_ids)})
    found: dict[int, list[Record]] = defaultdict(list)
    for item_id, record in rows:
        found[item_id].append(record)
    return found


# Statements built once: each request only binds its values (the item ids, the user), so it
# skips building the statement and its cache key.
_ITEM_IDS = bindparam("item_ids", expanding=True)

_NAMED_USERS = (
    select(FeedItemUser.item_id, FeedItemUser.kind, User)
    .join(User, User.id == FeedItemUser.user_id)
    .where(
        FeedItemUser.enterprise_id == bindparam("enterprise_id"),
        FeedItemUser.item_id.in_(_ITEM_IDS),
    )
    .order_by(FeedItemUser.item_id, FeedItemUser.user_id)
)


def _ids(item_ids: Sequence[int]) -> list[int]:
    return sorted(set(item_ids))


@lru_cache(maxsize=visibility.VIEWER_CACHE)
def _related_records(viewer: Viewer) -> Select[Any]:
    return (
        select(FeedItemRecord.item_id, Record)
        .join(Record, Record.id == FeedItemRecord.record_id)
        .where(FeedItemRecord.item_id.in_(_ITEM_IDS), visibility.readable_row(viewer))
        .order_by(FeedItemRecord.item_id, Record.id)
    )


async def named_users_by_item(
    session: AsyncSession, enterprise_id: int, item_ids: Sequence[int]
) -> dict[int, list[tuple[str, User]]]:
    """(kind, user) of everyone named on each item, users included in the same statement."""
    rows = await session.execute(
        _NAMED_USERS, {"enterprise_id": enterprise_id, "item_ids": _ids(item_ids)}
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


def _mine(mark: Mark) -> Any:
    return (
        select(mark.item_id)
        .where(mark.item_id == FeedItem.id, mark.user_id == bindparam("user_id"))
        .exists()
    )


_STATS_COLUMNS = (
    FeedItem.id,
    _count(FeedLike),
    _mine(FeedLike),
    _count(FeedReply),
    _mine(FeedFavorite),
    _mine(FeedFollow),
)
"""Columns of `ItemStats`, after the item id, in its field order."""
_ITEM_STATS = select(*_STATS_COLUMNS).where(FeedItem.id.in_(_ITEM_IDS))


async def item_stats(
    session: AsyncSession, user_id: int, item_ids: Sequence[int]
) -> dict[int, ItemStats]:
    """Counts and the user's own marks for each item, in one statement."""
    rows = await session.execute(_ITEM_STATS, {"user_id": user_id, "item_ids": _ids(item_ids)})
    return {
        row[0]: ItemStats(int(row[1]), bool(row[2]), int(row[3]), bool(row[4]), bool(row[5]))
        for row in rows
    }


_REPLY_RANKS = (
    select(
        FeedReply.id,
        func.row_number()
        .over(partition_by=FeedReply.item_id, order_by=FeedReply.id)
        .label("position"),
    )
    .where(FeedReply.item_id.in_(_ITEM_IDS), FeedReply.id > bindparam("after_id"))
    .subquery("ranked")
)
_FIRST_REPLIES = (
    select(FeedReply, User)
    .join(_REPLY_RANKS, _REPLY_RANKS.c.id == FeedReply.id)
    .join(User, User.id == FeedReply.author_id)
    .where(_REPLY_RANKS.c.position <= bindparam("per_item"))
    .order_by(FeedReply.item_id, FeedReply.id)
)


async def first_replies(
    session: AsyncSession, item_ids: Sequence[int], per_item: int, after_id: int | None = None
) -> dict[int, list[tuple[FeedReply, User]]]:
    """The oldest `per_item` replies of each item (after `after_id`) with their authors."""
    rows = await session.execute(
        _FIRST_REPLIES,
        {"item_ids": _ids(item_ids), "per_item": per_item, "after_id": after_id or 0},
    )
    found: dict[int, list[tuple[FeedReply, User]]] = defaultdict(list)
    for reply, author in rows:
        found[reply.item_id].append((reply, author))
    return found


_REPLY_MENTIONS = (
    select(FeedReplyMention.reply_id, FeedReplyMention.user_id)
    .where(FeedReplyMention.reply_id.in_(bindparam("reply_ids", expanding=True)))
    .order_by(FeedReplyMention.reply_id, FeedReplyMention.user_id)
)


async def reply_mentions(session: AsyncSession, reply_ids: Sequence[int]) -> dict[int, list[int]]:
    rows = await session.execute(_REPLY_MENTIONS, {"reply_ids": _ids(reply_ids)})
    found: dict[int, list[int]] = defaultdict(list)
    for reply_id, user_id in rows:
        found[reply_id].append(user_id)
    return found


# -- actions -------------------------------------------------------------------------------------


_IGNORING_DUPLICATES: dict[tuple[str, Any], Any] = {}


async def _insert_ignoring_duplicates(
    session: AsyncSession, table: Any, rows: list[dict[str, Any]]
) -> None:
    """INSERT ... ON CONFLICT DO NOTHING of `rows` into the mapped class `table`'s table: a
    Core statement, built once per dialect (an ORM-enabled insert goes through the ORM's bulk
    path, several times the statement's cost)."""
    if not rows:
        return
    key = (session.get_bind().dialect.name, table)
    statement = _IGNORING_DUPLICATES.get(key)
    if statement is None:
        dialect_insert = (postgresql if key[0] == "postgresql" else sqlite).insert
        statement = _IGNORING_DUPLICATES[key] = dialect_insert(
            table.__table__
        ).on_conflict_do_nothing()
    await session.execute(statement, rows)


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
    now = utcnow()
    reply = FeedReply(
        enterprise_id=item.enterprise_id,
        item_id=item.id,
        author_id=author_id,
        content=content,
        created_at=now,
    )
    await insert_row(session, reply)
    users = list(dict.fromkeys(mentions))
    if users:
        await session.execute(
            insert(FeedReplyMention.__table__),
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
    await session.execute(_TOUCH_ITEM, {"item_id": item.id, "updated_at": now})
    set_committed_value(item, "updated_at", now)
    return reply


# A reply moves its item's updated_at: a Core UPDATE (the unit of work's flush of the loaded
# item would cost several times the statement).
_TOUCH_ITEM = (
    update(FeedItem.__table__)
    .where(FeedItem.__table__.c.id == bindparam("item_id"))
    .values(updated_at=bindparam("updated_at"))
)


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


# -- a feed page's activity in one statement ------------------------------------------------------

_SHOWN_REPLY = aliased(FeedReply, name="shown_reply")
_SHOWN_AUTHOR = aliased(User, name="shown_author")
_STATS_AND_FIRST_REPLIES = (
    select(*_STATS_COLUMNS, _SHOWN_REPLY, _SHOWN_AUTHOR)
    .select_from(FeedItem)
    .outerjoin(
        _SHOWN_REPLY,
        and_(
            _SHOWN_REPLY.item_id == FeedItem.id,
            _SHOWN_REPLY.id.in_(
                select(_REPLY_RANKS.c.id).where(_REPLY_RANKS.c.position <= bindparam("per_item"))
            ),
        ),
    )
    .outerjoin(_SHOWN_AUTHOR, _SHOWN_AUTHOR.id == _SHOWN_REPLY.author_id)
    .where(FeedItem.id.in_(_ITEM_IDS))
    .order_by(FeedItem.id, _SHOWN_REPLY.id)
)


async def stats_and_first_replies(
    session: AsyncSession,
    user_id: int,
    item_ids: Sequence[int],
    per_item: int,
    after_id: int | None = None,
) -> tuple[dict[int, ItemStats], dict[int, list[tuple[FeedReply, User]]]]:
    """`item_stats` and `first_replies` in one statement (a row per item and shown reply)."""
    rows = await session.execute(
        _STATS_AND_FIRST_REPLIES,
        {
            "user_id": user_id,
            "item_ids": _ids(item_ids),
            "per_item": per_item,
            "after_id": after_id or 0,
        },
    )
    stats: dict[int, ItemStats] = {}
    replies: dict[int, list[tuple[FeedReply, User]]] = defaultdict(list)
    for item_id, likes, liked, count, favorited, followed, reply, author in rows:
        if item_id not in stats:
            stats[item_id] = ItemStats(
                int(likes), bool(liked), int(count), bool(favorited), bool(followed)
            )
        if reply is not None:
            replies[item_id].append((reply, author))
    return stats, replies


# -- removing what users wrote --------------------------------------------------------------------
#
# Deleting is a real DELETE: the foreign keys take everything that hangs off an item or a reply
# with it (ON DELETE CASCADE: links, named users, replies and their mentions, likes, favorites,
# follows, reminders, forwards, and the notifications about any of these; SET NULL: a task's or
# calendar event's source item), in the same statement on both databases.


async def item_record_ids(session: AsyncSession, item_id: int) -> list[int]:
    """Every record the item is related to (whoever may read them)."""
    rows = await session.scalars(
        select(FeedItemRecord.record_id)
        .where(FeedItemRecord.item_id == item_id)
        .order_by(FeedItemRecord.record_id)
    )
    return list(rows)


async def delete_item(session: AsyncSession, item_id: int) -> None:
    await session.execute(
        delete(FeedItem).where(FeedItem.id == item_id).execution_options(synchronize_session=False)
    )


async def reply_on_visible_item(
    session: AsyncSession, viewer: Viewer, reply_id: int
) -> FeedReply | None:
    """The reply, if the viewer may see the item it is on."""
    return await session.scalar(
        select(FeedReply)
        .join(FeedItem, FeedItem.id == FeedReply.item_id)
        .where(FeedReply.id == reply_id, visibility.visible_items(viewer))
    )


async def delete_reply(session: AsyncSession, reply: FeedReply) -> None:
    """Delete the reply; the people it alone @mentioned no longer see its item for that."""
    mentioned = list(
        await session.scalars(
            select(FeedReplyMention.user_id).where(FeedReplyMention.reply_id == reply.id)
        )
    )
    await session.execute(
        delete(FeedReply)
        .where(FeedReply.id == reply.id)
        .execution_options(synchronize_session=False)
    )
    if not mentioned:
        return
    other_reply = aliased(FeedReply, name="other_reply")
    still_mentioned = (
        select(FeedReplyMention.user_id)
        .join(other_reply, other_reply.id == FeedReplyMention.reply_id)
        .where(other_reply.item_id == reply.item_id)
    )
    await session.execute(
        delete(FeedItemUser)
        .where(
            FeedItemUser.item_id == reply.item_id,
            FeedItemUser.kind == REPLY_MENTION,
            FeedItemUser.user_id.in_(mentioned),
            FeedItemUser.user_id.not_in(still_mentioned),
        )
        .execution_options(synchronize_session=False)
    )
