"""The durable inbox: writing notifications (numbered per user, in commit order), reading them
through the visibility engine, and claiming due reminders exactly once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from store import visibility
from store.feed_tables import FeedItem, Reminder, ReminderUser
from store.models import Record
from store.notification_tables import InboxCounter, Notification
from store.types import utcnow

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession

    from store.viewer import Viewer


@dataclass(frozen=True, slots=True)
class NewNotification:
    user_id: int
    kind: str
    message: str
    actor_id: int | None = None
    item_id: int | None = None
    record_id: int | None = None
    forward_id: int | None = None


async def add(
    session: AsyncSession, enterprise_id: int, entries: Sequence[NewNotification]
) -> list[tuple[int, int]]:
    """Store the notifications; returns (user id, seq) of each. Sequence numbers come from
    each recipient's counter row, locked until commit, so a user's notifications commit in
    sequence order: a reader who has seen seq N never later finds a new row below N."""
    if not entries:
        return []
    per_user = Counter(entry.user_id for entry in entries)
    dialect = session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(InboxCounter)
    statement = insert.on_conflict_do_update(
        index_elements=[InboxCounter.user_id],
        set_={"last_seq": InboxCounter.last_seq + insert.excluded.last_seq},
    ).returning(InboxCounter.user_id, InboxCounter.last_seq)
    rows = await session.execute(
        statement, [{"user_id": user, "last_seq": n} for user, n in sorted(per_user.items())]
    )
    next_seq = {user: last - per_user[user] + 1 for user, last in rows}
    now = utcnow()
    values = []
    sent: list[tuple[int, int]] = []
    for entry in entries:
        seq = next_seq[entry.user_id]
        next_seq[entry.user_id] = seq + 1
        sent.append((entry.user_id, seq))
        values.append(
            {
                "enterprise_id": enterprise_id,
                "user_id": entry.user_id,
                "seq": seq,
                "kind": entry.kind,
                "actor_id": entry.actor_id,
                "item_id": entry.item_id,
                "record_id": entry.record_id,
                "forward_id": entry.forward_id,
                "message": entry.message[:1000],
                "created_at": now,
            }
        )
    await session.execute(Notification.__table__.insert(), values)
    return sent


def deliverable(viewer: Viewer) -> ColumnElement[bool]:
    """The viewer's own notifications about things they may still see (checked at read time)."""
    item_visible = (
        select(FeedItem.id)
        .where(FeedItem.id == Notification.item_id, visibility.visible_items(viewer))
        .exists()
    )
    record_readable = (
        select(Record.id)
        .where(Record.id == Notification.record_id, visibility.readable(viewer))
        .exists()
    )
    return and_(
        Notification.user_id == viewer.id,
        or_(Notification.item_id.is_(None), item_visible),
        or_(Notification.record_id.is_(None), record_readable),
    )


async def page(
    session: AsyncSession,
    viewer: Viewer,
    *,
    after_seq: int,
    limit: int,
    unread_only: bool = False,
) -> list[Notification]:
    """Oldest first after the cursor."""
    conditions = [deliverable(viewer), Notification.seq > after_seq]
    if unread_only:
        conditions.append(Notification.read_at.is_(None))
    return list(
        await session.scalars(
            select(Notification).where(*conditions).order_by(Notification.seq).limit(limit)
        )
    )


async def unread_count(session: AsyncSession, viewer: Viewer) -> int:
    total = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(deliverable(viewer), Notification.read_at.is_(None))
    )
    return total or 0


async def mark_read(session: AsyncSession, viewer: Viewer, up_to_seq: int) -> int:
    result = await session.execute(
        update(Notification)
        .where(
            deliverable(viewer),  # nothing the viewer may no longer see is marked or counted
            Notification.seq <= up_to_seq,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def claim_due_reminders(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[Reminder, list[int]]]:
    """Mark due reminders fired and return them with their users. The UPDATE ... WHERE
    fired_at IS NULL claims each row once, whatever the number of processes polling."""
    due = select(Reminder.id).where(Reminder.fired_at.is_(None), Reminder.remind_at <= now)
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = list(
        await session.scalars(
            update(Reminder)
            .where(
                Reminder.id.in_(due.order_by(Reminder.remind_at).limit(limit)),
                Reminder.fired_at.is_(None),
            )
            .values(fired_at=now)
            .returning(Reminder)
        )
    )
    if not claimed:
        return []
    users = await session.execute(
        select(ReminderUser.reminder_id, ReminderUser.user_id)
        .where(ReminderUser.reminder_id.in_([r.id for r in claimed]))
        .order_by(ReminderUser.reminder_id, ReminderUser.user_id)
    )
    by_reminder: dict[int, list[int]] = {}
    for reminder_id, user_id in users:
        by_reminder.setdefault(reminder_id, []).append(user_id)
    return [(reminder, by_reminder.get(reminder.id, [])) for reminder in claimed]
