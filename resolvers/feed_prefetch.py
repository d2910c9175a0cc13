"""Load what a feed page's selection asks of its items right after the page, in the request's
session, so the item fields become plain reads instead of one awaited DataLoader per field and
item. Items from elsewhere (one item, a mutation's payload, a task's or notification's item)
carry no `Prefetched` and their fields fall back to the DataLoaders.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import TYPE_CHECKING, TypeVar

from strawberry.types.nodes import SelectedField

from resolvers.errors import BadUserInput
from resolvers.paging import decode_cursor, page_size
from store import feed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from graphql.pyutils import AwaitableOrValue
    from strawberry.types.nodes import Selection

    from resolvers.context import Context
    from store.feed import ItemStats
    from store.feed_tables import FeedItem, FeedReply
    from store.models import Record, User

T = TypeVar("T")
R = TypeVar("R")

ReplyPage = tuple[int, int | None]
"""(page size + 1, replies after this id): the key of one `replies(first:, after:)` page."""


@dataclass(frozen=True, slots=True)
class Wanted:
    """The per-item relations a selection reads."""

    related: bool = False
    named: bool = False
    stats: bool = False
    replies: frozenset[ReplyPage] = frozenset()

    def without(self, done: Wanted) -> Wanted:
        return Wanted(
            related=self.related and not done.related,
            named=self.named and not done.named,
            stats=self.stats and not done.stats,
            replies=self.replies - done.replies,
        )

    def adding(self, more: Wanted) -> Wanted:
        return Wanted(
            related=self.related or more.related,
            named=self.named or more.named,
            stats=self.stats or more.stats,
            replies=self.replies | more.replies,
        )


@dataclass(slots=True)
class Prefetched:
    """One item's loaded relations; None (or a missing reply page) means not loaded."""

    author: User | None = None
    related: list[Record] | None = None
    named: list[tuple[str, User]] | None = None
    stats: ItemStats | None = None
    replies: dict[ReplyPage, list[tuple[FeedReply, User]]] = field(default_factory=dict)


@dataclass(slots=True)
class PagePrefetch:
    """A page's items with what has been loaded for them so far. A page's `edges` may be
    selected more than once (under aliases): each selection loads only what is still missing."""

    items: dict[int, Prefetched]
    done: Wanted = Wanted()
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def of(cls, rows: Sequence[tuple[FeedItem, User]]) -> PagePrefetch:
        """Each item with its author, which the page statement read."""
        return cls({item.id: Prefetched(author=author) for item, author in rows})

    async def load(self, context: Context, wanted: Wanted) -> None:
        """The relations `wanted` for every item: one statement per relation (the stats and
        the first reply page share one, other reply pages add one each) whatever the page size.
        """
        async with self.lock:  # sibling selections resolve concurrently: load once
            missing = wanted.without(self.done)
            if self.items and missing != Wanted():
                await self._load(context, missing)
            self.done = self.done.adding(missing)

    async def _load(self, context: Context, wanted: Wanted) -> None:
        ids = list(self.items)
        viewer = await context.viewer()
        async with context.db() as session:
            if wanted.related:
                related = await feed.related_records_by_item(session, viewer, ids)
                for item_id, loaded in self.items.items():
                    loaded.related = related.get(item_id, [])
            if wanted.named:
                named = await feed.named_users_by_item(session, viewer.enterprise_id, ids)
                for item_id, loaded in self.items.items():
                    loaded.named = named.get(item_id, [])
            reply_pages = sorted(wanted.replies, key=lambda key: (key[0], key[1] or 0))
            if wanted.stats:
                if reply_pages:
                    size, after = reply_pages.pop(0)
                    stats, pages = await feed.stats_and_first_replies(
                        session, viewer.id, ids, size, after
                    )
                    self._put_replies((size, after), pages)
                else:
                    stats = await feed.item_stats(session, viewer.id, ids)
                for item_id, loaded in self.items.items():
                    loaded.stats = stats.get(item_id, feed.ItemStats())
            for size, after in reply_pages:
                self._put_replies(
                    (size, after), await feed.first_replies(session, ids, size, after)
                )

    def _put_replies(self, key: ReplyPage, pages: dict[int, list[tuple[FeedReply, User]]]) -> None:
        for item_id, loaded in self.items.items():
            loaded.replies[key] = pages.get(item_id, [])


def then(value: AwaitableOrValue[T], use: Callable[[T], R]) -> AwaitableOrValue[R]:
    """`use(value)`, now when the value is at hand, else once it has been awaited."""
    if isawaitable(value):

        async def later() -> R:
            return use(await value)

        return later()
    return use(value)  # type: ignore[arg-type]


def _included(directives: dict[str, dict[str, object]]) -> bool:
    skip = directives.get("skip")
    include = directives.get("include")
    return not (skip and skip.get("if") is True) and not (include and include.get("if") is False)


def selected(selections: Iterable[Selection], name: str) -> Iterator[SelectedField]:
    """The fields called `name` (under any alias, through fragments) that are not skipped."""
    for selection in selections:
        if not _included(selection.directives):
            continue
        if isinstance(selection, SelectedField):
            if selection.name == name:
                yield selection
        else:
            yield from selected(selection.selections, name)


def reply_page(arguments: dict[str, object], maximum: int) -> ReplyPage | None:
    """The page a `replies(first:, after:)` selection asks for; None when its arguments are
    invalid (the field itself reports that)."""
    first = arguments.get("first")
    after = arguments.get("after")
    try:
        size = page_size(None if first is None else int(str(first)), maximum)
        return size + 1, decode_cursor(None if after is None else str(after))
    except (BadUserInput, ValueError):
        return None
