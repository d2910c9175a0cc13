"""Tasks, calendar events, reminders and forwards made from records and feed items."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, insert, or_, select, update

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

    from sqlalchemy import ColumnElement
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


TaskKey = tuple[datetime | None, int]
"""Where a task sits in `page_tasks`' order: its due time (None: none) and its id."""


def task_key(task: Task) -> TaskKey:
    return task.due_at, task.id


def _after_task(key: TaskKey) -> ColumnElement[bool]:
    """Tasks after `key` in the order (due first, undated last; newest first among equals)."""
    due, number = key
    if due is None:
        return and_(Task.due_at.is_(None), Task.id < number)
    later = or_(Task.due_at > due, and_(Task.due_at == due, Task.id < number))
    return or_(and_(Task.due_at.is_not(None), later), Task.due_at.is_(None))


async def page_tasks(
    session: AsyncSession,
    viewer: Viewer,
    *,
    done: bool | None,
    after: TaskKey | None,
    limit: int,
) -> list[Task]:
    """Tasks assigned to the viewer (only done or only open ones when `done` is given), by
    due time, soonest first, then those without one; newest first among equals."""
    query = select(Task).where(
        Task.enterprise_id == viewer.enterprise_id, Task.assignee_id == viewer.id
    )
    if done is not None:
        query = query.where(Task.done.is_(done))
    if after is not None:
        query = query.where(_after_task(after))
    order = (Task.due_at.is_(None), Task.due_at, Task.id.desc())
    return list(await session.scalars(query.order_by(*order).limit(limit)))


async def task_of(session: AsyncSession, viewer: Viewer, task_id: int) -> Task | None:
    """The task, if the viewer is its assignee or its creator (to anyone else a task is not
    shown: `myTasks` lists the assignee's, the creating mutation answers the creator)."""
    return await session.scalar(
        select(Task).where(
            Task.id == task_id,
            Task.enterprise_id == viewer.enterprise_id,
            or_(Task.assignee_id == viewer.id, Task.created_by_id == viewer.id),
        )
    )


async def set_task_done(session: AsyncSession, task: Task, done: bool, by_id: int) -> bool:
    """Mark the task done (by whom, when) or open again; False when it already was. The
    UPDATE's condition decides, so of two at once only one changes it."""
    result = await session.execute(
        update(Task)
        .where(Task.id == task.id, Task.done.is_(not done))
        .values(
            done=done,
            completed_at=utcnow() if done else None,
            completed_by_id=by_id if done else None,
        )
        .returning(Task.id)
        .execution_options(synchronize_session=False)
    )
    changed = result.first() is not None
    await session.refresh(task)
    return changed


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


ReminderKey = tuple[datetime, int]


def reminder_key(reminder: Reminder) -> ReminderKey:
    return reminder.remind_at, reminder.id


def _concerning(viewer: Viewer) -> ColumnElement[bool]:
    """Reminders the viewer set or that remind them."""
    reminded = select(ReminderUser.reminder_id).where(ReminderUser.user_id == viewer.id)
    return and_(
        Reminder.enterprise_id == viewer.enterprise_id,
        or_(Reminder.created_by_id == viewer.id, Reminder.id.in_(reminded)),
    )


async def reminder_of(session: AsyncSession, viewer: Viewer, reminder_id: int) -> Reminder | None:
    """The reminder, if the viewer set it or is reminded by it."""
    return await session.scalar(
        select(Reminder).where(Reminder.id == reminder_id, _concerning(viewer))
    )


async def page_pending_reminders(
    session: AsyncSession, viewer: Viewer, *, after: ReminderKey | None, limit: int
) -> list[Reminder]:
    """Reminders not fired yet that the viewer set or that remind them, soonest first."""
    query = select(Reminder).where(_concerning(viewer), Reminder.fired_at.is_(None))
    if after is not None:
        at, number = after
        query = query.where(
            or_(Reminder.remind_at > at, and_(Reminder.remind_at == at, Reminder.id > number))
        )
    order = (Reminder.remind_at, Reminder.id)
    return list(await session.scalars(query.order_by(*order).limit(limit)))


async def delete_pending_reminder(session: AsyncSession, reminder_id: int) -> bool:
    """Delete the reminder unless it has fired (or is being claimed); False when it has. The
    runner claims with `fired_at IS NULL` too, so exactly one of the two wins."""
    deleted = await session.execute(
        delete(Reminder)
        .where(Reminder.id == reminder_id, Reminder.fired_at.is_(None))
        .returning(Reminder.id)
        .execution_options(synchronize_session=False)
    )
    return deleted.first() is not None


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
