"""Per-request DataLoaders: one batched statement per relation a list resolves per row."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
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


class Loaders:
    """`<Target>By<Key>` loaders, scoped to the viewer's enterprise; keys are internal ids."""

    def __init__(self, context: Context) -> None:
        def in_enterprise(fetch):  # type: ignore[no-untyped-def]
            return lambda session, viewer, keys: fetch(session, viewer.enterprise_id, keys)

        self.user_by_id: DataLoader[int, User | None] = _loader(
            context, in_enterprise(org.users_by_ids), None
        )
        self.department_by_id: DataLoader[int, Department | None] = _loader(
            context, in_enterprise(org.departments_by_ids), None
        )
        self.roles_by_user_id: DataLoader[int, list[FunctionRole]] = _loader(
            context, in_enterprise(org.roles_by_user_ids), []
        )
        self.custom_roles_by_user_id: DataLoader[int, list[CustomRole]] = _loader(
            context, in_enterprise(org.custom_roles_by_user_ids), []
        )
        self.team_by_record_id: DataLoader[int, list[TeamMember]] = _loader(
            context, in_enterprise(records.team_by_record_ids), []
        )
        self.confirmation_nodes_by_record_id: DataLoader[int, list[ConfirmationNode]] = _loader(
            context, in_enterprise(confirmation.latest_rounds), []
        )
        self.sharing_rule_by_id: DataLoader[int, SharingRule | None] = _loader(
            context, in_enterprise(sharing.rules_by_ids), None
        )
        self.readable_record_by_id: DataLoader[int, Record | None] = _loader(
            context, records.readable_records, None
        )

        self.related_records_by_item_id: DataLoader[int, list[Record]] = _loader(
            context, feed.related_records_by_item, []
        )
        self.named_users_by_item_id: DataLoader[int, list[tuple[str, User]]] = _loader(
            context, in_enterprise(feed.named_users_by_item), []
        )
        self.stats_by_item_id: DataLoader[int, ItemStats] = _loader(
            context,
            lambda session, viewer, keys: feed.item_stats(session, viewer.id, keys),
            feed.ItemStats(),
        )
        self.visible_item_by_id: DataLoader[int, FeedItem | None] = _loader(
            context, feed.visible_items_by_ids, None
        )
        self.mentions_by_reply_id: DataLoader[int, list[int]] = _loader(
            context, lambda session, viewer, keys: feed.reply_mentions(session, keys), []
        )
        self.replies_by_item_page: DataLoader[ReplyKey, list[tuple[FeedReply, User]]] = DataLoader(
            load_fn=self._replies(context)
        )
        self.access_facts_by_record: DataLoader[Record, AccessFacts] = DataLoader(
            load_fn=self._access_facts(context)
        )

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
