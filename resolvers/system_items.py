"""Feed items the system writes: a sales stage change, a task or calendar event (seed 000)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmfeed.registry.enums import ObjectType
from crmfeed.registry.feed import FeedItemType
from resolvers import notify
from store import feed, org

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from store.feed_tables import FeedItem
    from store.models import Record
    from store.viewer import Viewer

STAGE_FIELD = "salesStage"


async def system_item(
    session: AsyncSession,
    viewer: Viewer,
    type: FeedItemType,
    content: str,
    record_ids: Sequence[int],
    cc: Sequence[int] = (),
) -> FeedItem:
    """An item authored by the user whose action caused it, in the records' feeds."""
    return await feed.insert_item(
        session,
        enterprise_id=viewer.enterprise_id,
        type=type.value,
        author_id=viewer.id,
        content=content,
        account_id=None,
        record_ids=record_ids,
        cc=[user for user in cc if user != viewer.id],
    )


def option_label(option: str) -> str:
    """A select option as words: NEEDS_ANALYSIS -> Needs analysis."""
    return option.replace("_", " ").capitalize()


async def after_record_update(
    session: AsyncSession, viewer: Viewer, record: Record, before: Mapping[str, Any]
) -> list[tuple[int, int]]:
    """An opportunity whose sales stage changed gets a SALES_PROCESS item in its feed
    ("Stage: Proposal → Negotiation"), and its owner is told when someone else changed it.
    Returns the notifications written."""
    if record.object_type != ObjectType.OPPORTUNITY:
        return []
    old, new = before.get(STAGE_FIELD), (record.values or {}).get(STAGE_FIELD)
    if old == new or new is None:
        return []
    change = f"{option_label(old)} → {option_label(new)}" if old else option_label(new)
    me = await org.get_user(session, viewer.enterprise_id, viewer.id)
    author = me.name if me else "Someone"
    item = await system_item(
        session,
        viewer,
        FeedItemType.SALES_PROCESS,
        f"Stage: {change} (by {author}).",
        [record.id],
    )
    return await notify.record_moved(session, viewer, author, record, item, record.owner_id)
