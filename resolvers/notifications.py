"""The inbox and its live stream: replay everything after a cursor, then stream new ones in
order, without gaps or duplicates, each checked for visibility at the moment of delivery."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from crmfeed.live.delivery import Deliverer, Delivery
from crmfeed.live.hub import SlowConsumer
from resolvers.errors import BadUserInput, CrmError, LimitExceeded
from resolvers.paging import decode_cursor
from store import notifications

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from resolvers.context import Context
    from store.notification_tables import Notification
    from store.notifications import Delivered

SLOW_CONSUMER_CLOSE = 1013
ENDED_CLOSE = (4403, "Forbidden: this account no longer exists or was deactivated")


def seq_of(cursor: str | None, field: str = "after") -> int:
    if cursor is None:
        return 0
    try:
        return decode_cursor(cursor) or 0
    except BadUserInput:
        raise BadUserInput(
            f"{field}: '{cursor}' is not a notification cursor.", field=field
        ) from None


async def page(
    context: Context, after: str | None, first: int | None, unread_only: bool
) -> tuple[list[Notification], bool]:
    viewer = await context.viewer()
    size = context.page_size(first)
    async with context.db() as session:
        rows = await notifications.page(
            session, viewer, after_seq=seq_of(after), limit=size + 1, unread_only=unread_only
        )
    return rows[:size], len(rows) > size


async def unread_count(context: Context) -> int:
    viewer = await context.viewer()
    async with context.db() as session:
        return await notifications.unread_count(session, viewer)


async def mark_read(context: Context, up_to: str) -> int:
    viewer = await context.viewer()
    seq = seq_of(up_to, "upTo")
    async with context.db() as session:
        count = await notifications.mark_read(session, viewer, seq)
        await session.commit()
    return count


async def stream(context: Context, after: str | None) -> AsyncIterator[Delivered]:
    """Every notification after `after`, then new ones as they come, in seq order.

    The process's deliverer reads them (crmfeed/live/delivery.py): for all woken subscriptions
    at once, checked for visibility at delivery, with their actor, item and record attached, so
    a client's usual selection needs no further SQL. The stream holds no pooled connection.
    """
    viewer = await context.viewer()
    last = seq_of(after)
    hub = context.hub
    if hub is None:
        raise CrmError("Live notifications are not available on this server.")
    await context.close()
    deliverer = Deliverer.of(hub, context.session_factory)
    subscription = deliverer.open(hub, viewer.id, last)
    try:
        while True:
            if subscription.queue.empty():
                # Release the pooled connection other fields may have used while we wait:
                # a subscription may wait for hours, and each would otherwise hold one.
                await context.close()
            try:
                delivery = await subscription.next()
            except SlowConsumer:
                await _close(context, SLOW_CONSUMER_CLOSE, "slow consumer: resume from your cursor")
                raise LimitExceeded(
                    "Too many notifications waited for this client; reconnect and resume "
                    "with the cursor of the last one received."
                ) from None
            if not isinstance(delivery, Delivery):
                # The user no longer exists or was deactivated (the hub's message closes their
                # sockets too; this covers one lost while the pipe was down).
                await _close(context, *ENDED_CLOSE)
                return
            context.use_viewer(delivery.viewer)
            context.reset_loaders()
            yield delivery.found
            del delivery  # an idle stream keeps no notification (its rows) while it waits
    finally:
        deliverer.close(hub, subscription)


async def _close(context: Context, code: int, reason: str) -> None:
    websocket = context.request
    close = getattr(websocket, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close(code=code, reason=reason)
