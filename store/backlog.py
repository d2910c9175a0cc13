"""Operators' figures read from the database (every enterprise's together): the reminders
waiting to fire. Read by /metrics at each scrape."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import func, select

from store.feed_tables import Reminder

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession


async def reminder_backlog(session: AsyncSession, now: datetime) -> tuple[int, int]:
    """(due, scheduled): reminders due at `now` and not fired yet (a backlog the runner has
    still to claim), and all not fired yet. One statement, on the (fired_at, remind_at) index."""
    row = (
        await session.execute(
            select(
                func.count().filter(Reminder.remind_at <= now),
                func.count(),
            ).where(Reminder.fired_at.is_(None))
        )
    ).one()
    return int(row[0]), int(row[1])
