"""The inbox and its live stream: replay everything after a cursor, then stream new ones in
order, without gaps or duplicates, each checked for visibility at the moment of delivery."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from crmfeed.live.hub import SlowConsumer
from resolvers.errors import BadUserInput, CrmError, LimitExceeded
from resolvers.paging import decode_cursor
from store import notifications

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from resolvers.context import Context
    from store.notification_tables import Notification

REPLAY_BATCH = 100
SLOW_CONSUMER_CLOSE = 1013


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


async def stream(context: Context, after: str | None) -> AsyncIterator[Notification]:
    """Subscribe first, then replay from the inbox, then wait for wake-ups and read again.

    Every delivery is read from the database after the last seq delivered, so order, no gap
    and no duplicate hold however wake-ups arrive (late, twice, or lost while the pipe was down).
    """
    viewer = await context.viewer()
    last = seq_of(after)
    if context.hub is None:
        raise CrmError("Live notifications are not available on this server.")
    subscription = context.hub.subscribe(viewer.id)
    try:
        while True:
            context.forget_viewer()
            context.reset_loaders()
            current = await context.optional_viewer()
            if current is None:
                return
            # The context's own session (the viewer was just read with it): one pooled
            # connection per stream at a time, so many streams woken at once cannot all hold
            # one connection while waiting for a second (a pool deadlock).
            async with context.db() as session:
                rows = await notifications.page(
                    session, current, after_seq=last, limit=REPLAY_BATCH
                )
            for row in rows:
                last = row.seq
                yield row
            if len(rows) == REPLAY_BATCH:
                continue
            # Release the pooled connection the delivered fields used while we wait: a
            # subscription may wait for hours, and each would otherwise hold one.
            await context.close()
            try:
                await subscription.next()
            except SlowConsumer:
                await _close_slow(context)
                raise LimitExceeded(
                    "Too many notifications waited for this client; reconnect and resume "
                    "with the cursor of the last one received."
                ) from None
            subscription.drain()
    finally:
        context.hub.unsubscribe(subscription)


async def _close_slow(context: Context) -> None:
    websocket = context.request
    close = getattr(websocket, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close(code=SLOW_CONSUMER_CLOSE, reason="slow consumer: resume from your cursor")
