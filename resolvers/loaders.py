"""Per-request DataLoaders: one batched statement per relation a list resolves per row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from strawberry.dataloader import DataLoader

from store import access, confirmation, feed, org, records, sharing

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from crmfeed.registry.enums import FunctionRole
    from resolvers.context import Context
    from store.access import AccessFacts
    from store.confirmation_tables import ConfirmationNode
    from store.feed import ItemStats
    from store.feed_tables import FeedItem, FeedReply
    from store.models import CustomRole, Department, Record, SharingRule, TeamMember, User
    from store.viewer import Viewer

V = TypeVar("V")
Fetch = Callable[["AsyncSession", "Viewer", Sequence[int]], Awaitable[Mapping[int, V]]]


def _loader(context: Context, fetch: Fetch[V], default: V) -> DataLoader[int, V]:
    async def batch_load(keys: list[int]) -> list[V]:
        viewer = await context.viewer()
        async with context.db() as session:
            found = await fetch(session, viewer, keys)
        return [found.get(key, default) for key in keys]

    return DataLoader(load_fn=batch_load)


def _in_enterprise(
    fetch: Callable[[AsyncSession, int, Sequence[int]], Awaitable[Mapping[int, V]]],
) -> Fetch[V]:
    """A fetch by the viewer's enterprise id instead of the viewer."""
    return lambda session, viewer, keys: fetch(session, viewer.enterprise_id, keys)


class Loaders:
    """`<Target>By<Key>` loaders, scoped to the viewer's enterprise; keys are internal ids.

    Each loader is made on first use: a live delivery resets the loaders for every
    notification and typically uses none of them."""

    def __init__(self, context: Context) -> None:
        self.context = context

    @cached_property
    def user_by_id(self) -> DataLoader[int, User | None]:
        return _loader(self.context, _in_enterprise(org.users_by_ids), None)

    @cached_property
    def department_by_id(self) -> DataLoader[int, Department | None]:
        return _loader(self.context, _in_enterprise(org.departments_by_ids), None)

    @cached_property
    def roles_by_user_id(self) -> DataLoader[int, list[FunctionRole]]:
        return _loader(self.context, _in_enterprise(org.roles_by_user_ids), [])

    @cached_property
    def custom_roles_by_user_id(self) -> DataLoader[int, list[CustomRole]]:
        return _loader(self.context, _in_enterprise(org.custom_roles_by_user_ids), [])

    @cached_property
    def team_by_record_id(self) -> DataLoader[int, list[TeamMember]]:
        return _loader(self.context, _in_enterprise(records.team_by_record_ids), [])

    @cached_property
    def confirmation_nodes_by_record_id(self) -> DataLoader[int, list[ConfirmationNode]]:
        return _loader(self.context, _in_enterprise(confirmation.latest_rounds), [])

    @cached_property
    def sharing_rule_by_id(self) -> DataLoader[int, SharingRule | None]:
        return _loader(self.context, _in_enterprise(sharing.rules_by_ids), None)

    @cached_property
    def readable_record_by_id(self) -> DataLoader[int, Record | None]:
        return _loader(self.context, records.readable_records, None)

    @cached_property
    def related_records_by_item_id(self) -> DataLoader[int, list[Record]]:
        return _loader(self.context, feed.related_records_by_item, [])

    @cached_property
    def named_users_by_item_id(self) -> DataLoader[int, list[tuple[str, User]]]:
        return _loader(self.context, _in_enterprise(feed.named_users_by_item), [])

    @cached_property
    def stats_by_item_id(self) -> DataLoader[int, ItemStats]:
        return _loader(
            self.context,
            lambda session, viewer, keys: feed.item_stats(session, viewer.id, keys),
            feed.ItemStats(),
        )

    @cached_property
    def visible_item_by_id(self) -> DataLoader[int, FeedItem | None]:
        return _loader(self.context, feed.visible_items_by_ids, None)

    @cached_property
    def mentions_by_reply_id(self) -> DataLoader[int, list[int]]:
        return _loader(
            self.context, lambda session, viewer, keys: feed.reply_mentions(session, keys), []
        )

    @cached_property
    def replies_by_item_page(self) -> DataLoader[ReplyKey, list[tuple[FeedReply, User]]]:
        return DataLoader(load_fn=self._replies(self.context))

    @cached_property
    def access_facts_by_record(self) -> DataLoader[Record, AccessFacts]:
        return DataLoader(load_fn=self._access_facts(self.context))

    @staticmethod
    def _access_facts(context: Context) -> Callable[[list[Record]], Awaitable[list[Any]]]:
        """Keys are record rows (the facts depend on the owner and type they carry)."""

        async def batch_load(keys: list[Record]) -> list[Any]:
            viewer = await context.viewer()
            async with context.db() as session:
                found = await access.access_facts_many(session, viewer, keys)
            return [found[record.id] for record in keys]

        return batch_load

    @staticmethod
    def _replies(context: Context) -> Callable[[list[ReplyKey]], Awaitable[list[Any]]]:
        """Keys are (item id, page size + 1, after reply id); one statement per distinct page."""

        async def batch_load(keys: list[ReplyKey]) -> list[Any]:
            groups: dict[tuple[int, int | None], list[int]] = {}
            for item_id, size, after in keys:
                groups.setdefault((size, after), []).append(item_id)
            found: dict[ReplyKey, Any] = {}
            async with context.db() as session:
                for (size, after), item_ids in groups.items():
                    pages = await feed.first_replies(session, item_ids, size, after)
                    for item_id in item_ids:
                        found[(item_id, size, after)] = pages.get(item_id, [])
            return [found[key] for key in keys]

        return batch_load


ReplyKey = tuple[int, int, int | None]
