"""SQL of the calendar files: an event the viewer may see, a user's events and reminders for
their feed, and the feed's secret token (stored as its SHA-256)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, or_, select

from store import visibility
from store.feed_tables import (
    CalendarEvent,
    CalendarParticipant,
    FeedItem,
    Reminder,
    ReminderUser,
)
from store.models import User
from store.record_page_tables import CalendarFeedToken
from store.types import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from store.viewer import Viewer

FEED_LIMIT = 1000  # newest events and reminders a feed carries


def _involves(user_id: int) -> object:
    participant = select(CalendarParticipant.event_id).where(CalendarParticipant.user_id == user_id)
    return or_(CalendarEvent.created_by_id == user_id, CalendarEvent.id.in_(participant))


async def visible_event(
    session: AsyncSession, viewer: Viewer, event_id: int
) -> CalendarEvent | None:
    """The event if the viewer made it, takes part in it, or may see its calendar feed item."""
    item_seen = (
        select(FeedItem.id)
        .where(FeedItem.id == CalendarEvent.feed_item_id, visibility.visible_items(viewer))
        .exists()
    )
    return await session.scalar(
        select(CalendarEvent).where(
            CalendarEvent.id == event_id,
            CalendarEvent.enterprise_id == viewer.enterprise_id,
            or_(_involves(viewer.id), item_seen),  # type: ignore[arg-type]
        )
    )


async def events_of(session: AsyncSession, viewer: Viewer) -> list[CalendarEvent]:
    """The events the user made or takes part in, newest start first."""
    rows = await session.scalars(
        select(CalendarEvent)
        .where(CalendarEvent.enterprise_id == viewer.enterprise_id, _involves(viewer.id))  # type: ignore[arg-type]
        .order_by(CalendarEvent.starts_at.desc(), CalendarEvent.id.desc())
        .limit(FEED_LIMIT)
    )
    return list(rows)


async def reminders_of(session: AsyncSession, viewer: Viewer) -> list[Reminder]:
    """The reminders that remind the user, newest first."""
    reminded = select(ReminderUser.reminder_id).where(ReminderUser.user_id == viewer.id)
    rows = await session.scalars(
        select(Reminder)
        .where(Reminder.enterprise_id == viewer.enterprise_id, Reminder.id.in_(reminded))
        .order_by(Reminder.remind_at.desc(), Reminder.id.desc())
        .limit(FEED_LIMIT)
    )
    return list(rows)


async def put_feed_token(
    session: AsyncSession, enterprise_id: int, user_id: int, token_hash: str
) -> CalendarFeedToken:
    """The user's one feed token: a new one replaces (and so revokes) the old."""
    await session.execute(delete(CalendarFeedToken).where(CalendarFeedToken.user_id == user_id))
    row = CalendarFeedToken(
        user_id=user_id, enterprise_id=enterprise_id, token_hash=token_hash, created_at=utcnow()
    )
    session.add(row)
    await session.flush()
    return row


async def feed_token_of(session: AsyncSession, user_id: int) -> CalendarFeedToken | None:
    return await session.get(CalendarFeedToken, user_id)


async def delete_feed_token(session: AsyncSession, user_id: int) -> bool:
    deleted = await session.execute(
        delete(CalendarFeedToken)
        .where(CalendarFeedToken.user_id == user_id)
        .returning(CalendarFeedToken.user_id)
    )
    return deleted.first() is not None


async def feed_owner(session: AsyncSession, token_hash: str) -> tuple[int, int] | None:
    """(enterprise, user) whose feed token this is, if the user is active."""
    row = (
        await session.execute(
            select(User.enterprise_id, User.id)
            .join(CalendarFeedToken, CalendarFeedToken.user_id == User.id)
            .where(CalendarFeedToken.token_hash == token_hash, User.active.is_(True))
        )
    ).first()
    return None if row is None else (row[0], row[1])
