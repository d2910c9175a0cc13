"""Tasks, calendar events, reminders and forwards made from records and feed items.

A task or calendar event made from a record or an item also appears as a TASK / CALENDAR item
in the feeds of the records involved (seed 000, 002 §9).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmfeed.ids import Kind
from crmfeed.registry.actions import Action
from crmfeed.registry.feed import FeedItemType
from resolvers import checker, notify
from resolvers.errors import BadUserInput
from resolvers.feed import (
    can_see,
    check_time,
    clean_content,
    existing_users,
    visible_or_not_found,
)
from resolvers.inputs import clean_text, parse_id, parse_ids
from resolvers.paging import decode_cursor, decode_timed_cursor, encode_timed_cursor
from resolvers.records import readable_or_not_found
from resolvers.system_items import system_item
from store import feed, org, records, tasks

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.context import Context
    from store.feed_tables import CalendarEvent, FeedItem, Forward, Reminder, Task
    from store.viewer import Viewer

MAX_RECIPIENTS = 50
EXCERPT = 200


def excerpt(content: str) -> str:
    return content if len(content) <= EXCERPT else content[: EXCERPT - 1] + "…"


async def _source_records(session: AsyncSession, viewer: Viewer, item: FeedItem) -> list[int]:
    """The source item's related records that the viewer may read (nothing hidden leaks)."""
    related = await feed.related_records_by_item(session, viewer, [item.id])
    return [record.id for record in related.get(item.id, [])]


async def convert_to_task(
    context: Context, item_id: str, assignee_id: str, due_at: datetime | None
) -> Task:
    viewer = await context.viewer()
    assignee = parse_id(assignee_id, Kind.USER, "assigneeId")
    check_time(due_at, "dueAt")
    async with context.db() as session:
        item = await visible_or_not_found(session, viewer, item_id)
        users = await existing_users(session, viewer, [assignee], "assigneeId")
        if not await can_see(session, viewer, assignee, item.id):
            raise BadUserInput(
                f"assigneeId: {users[assignee].name} cannot see this item, so it cannot be "
                "their task; @mention or cc them first.",
                field="assigneeId",
            )
        title = excerpt(item.content)
        record_ids = await _source_records(session, viewer, item)
        task_item = await system_item(
            session,
            viewer,
            FeedItemType.TASK,
            f"Task for {users[assignee].name}: {title}",
            record_ids,
            [assignee],
        )
        task = await tasks.insert_task(
            session,
            enterprise_id=viewer.enterprise_id,
            title=title,
            assignee_id=assignee,
            created_by_id=viewer.id,
            due_at=due_at,
            source_item_id=item.id,
            record_id=record_ids[0] if record_ids else None,
            feed_item_id=task_item.id,
        )
        sent = await notify.task_assigned(
            session, viewer, await _name(session, viewer), assignee, title, task_item.id, None
        )
        await session.commit()
    await context.publish(sent)
    return task


async def create_task(
    context: Context, record_id: str, title: str, assignee_id: str, due_at: datetime | None
) -> Task:
    """A task about a record; the assignee must be able to read the record."""
    viewer = await context.viewer()
    title = clean_text(title, "title", max_length=500)
    assignee = parse_id(assignee_id, Kind.USER, "assigneeId")
    check_time(due_at, "dueAt")
    async with context.db() as session:
        record = await readable_or_not_found(session, viewer, record_id)
        users = await existing_users(session, viewer, [assignee], "assigneeId")
        await _require_readers(session, viewer, record.id, [assignee], "assigneeId")
        task_item = await system_item(
            session,
            viewer,
            FeedItemType.TASK,
            f"Task for {users[assignee].name}: {title}",
            [record.id],
            [assignee],
        )
        task = await tasks.insert_task(
            session,
            enterprise_id=viewer.enterprise_id,
            title=title,
            assignee_id=assignee,
            created_by_id=viewer.id,
            due_at=due_at,
            source_item_id=None,
            record_id=record.id,
            feed_item_id=task_item.id,
        )
        sent = await notify.task_assigned(
            session, viewer, await _name(session, viewer), assignee, title, task_item.id, record.id
        )
        await session.commit()
    await context.publish(sent)
    return task


async def _name(session: AsyncSession, viewer: Viewer) -> str:
    user = await org.get_user(session, viewer.enterprise_id, viewer.id)
    return user.name if user is not None else "Someone"


async def _require_readers(
    session: AsyncSession, viewer: Viewer, record_id: int, user_ids: Sequence[int], field: str
) -> None:
    for user_id in user_ids:
        other = await org.load_viewer(session, viewer.enterprise_id, user_id)
        if other is None or await records.readable_record(session, other, record_id) is None:
            raise BadUserInput(f"{field}: usr_{user_id} may not read this record.", field=field)


async def create_calendar_event(
    context: Context,
    *,
    title: str,
    starts_at: datetime,
    ends_at: datetime | None,
    record_id: str | None,
    item_id: str | None,
    participant_ids: list[str] | None,
) -> tuple[CalendarEvent, list[int]]:
    """A schedule for a record or an item; participants see it whatever their record access
    (whether they can open the record is decided by the CRM's data permissions)."""
    viewer = await context.viewer()
    title = clean_text(title, "title", max_length=500)
    check_time(starts_at, "startsAt")
    check_time(ends_at, "endsAt")
    if ends_at is not None and ends_at < starts_at:
        raise BadUserInput("endsAt must not be before startsAt.", field="endsAt")
    if (record_id is None) == (item_id is None):
        raise BadUserInput("give exactly one of recordId and itemId.", field="recordId")
    people = parse_ids(participant_ids or [], Kind.USER, "participantIds")
    async with context.db() as session:
        await existing_users(session, viewer, people, "participantIds")
        source_item_id = None
        if record_id is not None:
            record_ids = [(await readable_or_not_found(session, viewer, record_id)).id]
        else:
            item = await visible_or_not_found(session, viewer, item_id or "")
            source_item_id = item.id
            record_ids = await _source_records(session, viewer, item)
        event_item = await system_item(
            session,
            viewer,
            FeedItemType.CALENDAR,
            f"Calendar: {title} ({starts_at.isoformat()})",
            record_ids,
            people,
        )
        event = await tasks.insert_calendar_event(
            session,
            enterprise_id=viewer.enterprise_id,
            title=title,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by_id=viewer.id,
            record_id=record_ids[0] if record_ids else None,
            source_item_id=source_item_id,
            feed_item_id=event_item.id,
            participant_ids=people,
        )
        await session.commit()
    return event, people


async def add_reminder(
    context: Context,
    *,
    item_id: str | None,
    record_id: str | None,
    remind_at: datetime,
    user_ids: list[str] | None,
    note: str | None,
) -> tuple[Reminder, list[int]]:
    """Remind people (default: me) of an item or a record at a time in the future."""
    viewer = await context.viewer()
    check_time(remind_at, "remindAt", future=True)
    people = parse_ids(user_ids, Kind.USER, "userIds") if user_ids else [viewer.id]
    if len(people) > MAX_RECIPIENTS:
        raise BadUserInput(f"userIds: at most {MAX_RECIPIENTS} people.", field="userIds")
    if note is not None:
        note = clean_content(note, "note")[:500]
    async with context.db() as session:
        await existing_users(session, viewer, people, "userIds")
        item_number = record_number = None
        if item_id is not None:
            item_number = (await visible_or_not_found(session, viewer, item_id)).id
            for person in people:
                if person != viewer.id and not await can_see(session, viewer, person, item_number):
                    raise BadUserInput(
                        f"userIds: usr_{person} cannot see this item.", field="userIds"
                    )
        else:
            record = await readable_or_not_found(session, viewer, record_id or "")
            await checker.require(session, viewer, record, Action.FORWARD)
            record_number = record.id
            await _require_readers(session, viewer, record_number, people, "userIds")
        reminder = await tasks.insert_reminder(
            session,
            enterprise_id=viewer.enterprise_id,
            item_id=item_number,
            record_id=record_number,
            remind_at=remind_at,
            note=note,
            created_by_id=viewer.id,
            user_ids=people,
        )
        await session.commit()
    return reminder, people


async def forward(
    context: Context,
    *,
    item_id: str | None,
    record_id: str | None,
    to_user_ids: list[str],
    message: str | None,
) -> list[Forward]:
    """Send an item or record card; recipients who may not open it still get the card."""
    viewer = await context.viewer()
    people = parse_ids(to_user_ids, Kind.USER, "toUserIds")
    if not people:
        raise BadUserInput("toUserIds: give at least one recipient.", field="toUserIds")
    if len(people) > MAX_RECIPIENTS:
        raise BadUserInput(f"toUserIds: at most {MAX_RECIPIENTS} recipients.", field="toUserIds")
    if message is not None:
        message = clean_content(message, "message")[:2000]
    async with context.db() as session:
        await existing_users(session, viewer, people, "toUserIds")
        item_number = record_number = None
        if item_id is not None:
            item_number = (await visible_or_not_found(session, viewer, item_id)).id
        else:
            record = await readable_or_not_found(session, viewer, record_id or "")
            await checker.require(session, viewer, record, Action.FORWARD)
            record_number = record.id
        sent = await tasks.insert_forwards(
            session,
            enterprise_id=viewer.enterprise_id,
            item_id=item_number,
            record_id=record_number,
            from_user_id=viewer.id,
            to_user_ids=people,
            message=message,
        )
        pushed = await notify.forwarded(session, viewer, await _name(session, viewer), sent)
        await session.commit()
    await context.publish(pushed)
    return sent


def task_cursor(task: Task) -> str:
    return encode_timed_cursor(*tasks.task_key(task))


async def my_tasks(
    context: Context, done: bool | None, first: int | None, after: str | None
) -> tuple[list[Task], bool]:
    """Tasks assigned to me, by due time (see `store.tasks.page_tasks`)."""
    viewer = await context.viewer()
    size = context.page_size(first)
    async with context.db() as session:
        rows = await tasks.page_tasks(
            session, viewer, done=done, after=decode_timed_cursor(after), limit=size + 1
        )
    return rows[:size], len(rows) > size


def reminder_cursor(reminder: Reminder) -> str:
    return encode_timed_cursor(*tasks.reminder_key(reminder))


async def my_reminders(
    context: Context, first: int | None, after: str | None
) -> tuple[list[tuple[Reminder, list[int]]], bool]:
    """Reminders still to fire that I set or that remind me, soonest first, with their users."""
    viewer = await context.viewer()
    size = context.page_size(first)
    cursor = decode_timed_cursor(after)
    key: tasks.ReminderKey | None = None
    if cursor is not None:
        at, number = cursor
        if at is None:  # a cursor of another list (a task without a due time)
            raise BadUserInput(
                f"after: '{after}' is not a cursor from this list; pass a cursor or "
                "pageInfo.endCursor it returned.",
                field="after",
            )
        key = at, number
    async with context.db() as session:
        rows = await tasks.page_pending_reminders(session, viewer, after=key, limit=size + 1)
        users = await tasks.reminder_users(session, [row.id for row in rows[:size]])
    return [(row, users.get(row.id, [])) for row in rows[:size]], len(rows) > size


async def forwarded_to_me(
    context: Context, first: int | None, after: str | None
) -> tuple[list[Forward], bool]:
    viewer = await context.viewer()
    size = context.page_size(first)
    async with context.db() as session:
        rows = await tasks.page_forwards_to(
            session, viewer, before_id=decode_cursor(after), limit=size + 1
        )
    return rows[:size], len(rows) > size
