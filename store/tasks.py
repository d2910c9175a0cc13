"""Tasks, calendar events, reminders and forwards made from records and feed items."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import insert, select

from store.feed_tables import (
    CalendarEvent,
    CalendarParticipant,
    Forward,
    Reminder,
    ReminderUser,
    Task,
)
from store.types import utcnow

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from store.viewer import Viewer


async def insert_task(
    session: AsyncSession,
    *,
    enterprise_id: int,
    title: str,
    assignee_id: int,
    created_by_id: int,
    due_at: datetime | None,
    source_item_id: int | None,
    record_id: int | None,
    feed_item_id: int | None,
) -> Task:
    task = Task(
        enterprise_id=enterprise_id,
        title=title,
        assignee_id=assignee_id,
        created_by_id=created_by_id,
        due_at=due_at,
        source_item_id=source_item_id,
        record_id=record_id,
        feed_item_id=feed_item_id,
        done=False,
        created_at=utcnow(),
    )
    session.add(task)
    await session.flush()
    return task


async def page_tasks(
    session: AsyncSession, viewer: Viewer, *, before_id: int | None, limit: int
) -> list[Task]:
    """Tasks assigned to the viewer, newest first."""
    query = select(Task).where(
        Task.enterprise_id == viewer.enterprise_id, Task.assignee_id == viewer.id
    )
    if before_id is not None:
        query = query.where(Task.id < before_id)
    return list(await session.scalars(query.order_by(Task.id.desc()).limit(limit)))


async def insert_calendar_event(
    session: AsyncSession,
    *,
    enterprise_id: int,
    title: str,
    starts_at: datetime,
    ends_at: datetime | None,
    created_by_id: int,
    record_id: int | None,
    source_item_id: int | None,
    feed_item_id: int | None,
    participant_ids: Sequence[int],
) -> CalendarEvent:
    event = CalendarEvent(
        enterprise_id=enterprise_id,
        title=title,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by_id=created_by_id,
        record_id=record_id,
        source_item_id=source_item_id,
        feed_item_id=feed_item_id,
        created_at=utcnow(),
    )
    session.add(event)
    await session.flush()
    rows = [
        {"enterprise_id": enterprise_id, "event_id": event.id, "user_id": user_id}
        for user_id in dict.fromkeys(participant_ids)
    ]
    if rows:
        await session.execute(insert(CalendarParticipant), rows)
    return event


async def participants(session: AsyncSession, event_ids: Sequence[int]) -> dict[int, list[int]]:
    rows = await session.execute(
        select(CalendarParticipant.event_id, CalendarParticipant.user_id)
        .where(CalendarParticipant.event_id.in_(set(event_ids)))
        .order_by(CalendarParticipant.event_id, CalendarParticipant.user_id)
    )
    found: dict[int, list[int]] = {}
    for event_id, user_id in rows:
        found.setdefault(event_id, []).append(user_id)
    return found


async def insert_reminder(
    session: AsyncSession,
    *,
    enterprise_id: int,
    item_id: int | None,
    record_id: int | None,
    remind_at: datetime,
    note: str | None,
    created_by_id: int,
    user_ids: Sequence[int],
) -> Reminder:
    reminder = Reminder(
        enterprise_id=enterprise_id,
        item_id=item_id,
        record_id=record_id,
        remind_at=remind_at,
        note=note,
        created_by_id=created_by_id,
        created_at=utcnow(),
    )
    session.add(reminder)
    await session.flush()
    await session.execute(
        insert(ReminderUser),
        [
            {"enterprise_id": enterprise_id, "reminder_id": reminder.id, "user_id": user_id}
            for user_id in dict.fromkeys(user_ids)
        ],
    )
    return reminder


async def reminder_users(
    session: AsyncSession, reminder_ids: Sequence[int]
) -> dict[int, list[int]]:
    rows = await session.execute(
        select(ReminderUser.reminder_id, ReminderUser.user_id)
        .where(ReminderUser.reminder_id.in_(set(reminder_ids)))
        .order_by(ReminderUser.reminder_id, ReminderUser.user_id)
    )
    found: dict[int, list[int]] = {}
    for reminder_id, user_id in rows:
        found.setdefault(reminder_id, []).append(user_id)
    return found


async def insert_forwards(
    session: AsyncSession,
    *,
    enterprise_id: int,
    item_id: int | None,
    record_id: int | None,
    from_user_id: int,
    to_user_ids: Sequence[int],
    message: str | None,
) -> list[Forward]:
    forwards = [
        Forward(
            enterprise_id=enterprise_id,
            item_id=item_id,
            record_id=record_id,
            from_user_id=from_user_id,
            to_user_id=to_user_id,
            message=message,
            created_at=utcnow(),
        )
        for to_user_id in dict.fromkeys(to_user_ids)
    ]
    session.add_all(forwards)
    await session.flush()
    return forwards


async def page_forwards_to(
    session: AsyncSession, viewer: Viewer, *, before_id: int | None, limit: int
) -> list[Forward]:
    """Cards forwarded to the viewer, newest first (shown whether or not they can open them)."""
    query = select(Forward).where(
        Forward.enterprise_id == viewer.enterprise_id, Forward.to_user_id == viewer.id
    )
    if before_id is not None:
        query = query.where(Forward.id < before_id)
    return list(await session.scalars(query.order_by(Forward.id.desc()).limit(limit)))
