"""The durable inbox: writing notifications (numbered per user, in commit order), reading them
through the visibility engine, and claiming due reminders exactly once."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased

from store import visibility
from store.feed_tables import FeedItem, Reminder, ReminderUser
from store.models import Enterprise, Record, User, UserRole
from store.notification_tables import (
    InboxCounter,
    InboxEntry,
    Notification,
    NotificationEvent,
)
from store.types import Id, in_id_list, utcnow
from store.viewer import Viewer, split_roles

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence
    from datetime import datetime

    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class NewNotification:
    user_id: int
    kind: str
    message: str
    actor_id: int | None = None
    item_id: int | None = None
    record_id: int | None = None
    forward_id: int | None = None
    reply_id: int | None = None


# What every recipient of one event shares: kind, message, actor, item, record, forward, reply.
Event = tuple[str, str, int | None, int | None, int | None, int | None, int | None]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One notification for each of many users: what they all get."""

    kind: str
    message: str
    actor_id: int | None = None
    item_id: int | None = None
    record_id: int | None = None
    forward_id: int | None = None
    reply_id: int | None = None

    def shared(self) -> Event:
        return (
            self.kind,
            self.message[:1000],
            self.actor_id,
            self.item_id,
            self.record_id,
            self.forward_id,
            self.reply_id,
        )


def _event_of(entry: NewNotification) -> Event:
    return (
        entry.kind,
        entry.message[:1000],
        entry.actor_id,
        entry.item_id,
        entry.record_id,
        entry.forward_id,
        entry.reply_id,
    )


async def add(
    session: AsyncSession, enterprise_id: int, entries: Sequence[NewNotification]
) -> list[tuple[int, int]]:
    """Store the notifications; returns (user id, seq) of each. Each distinct event is one
    row, each recipient's entry another. Sequence numbers come from each recipient's counter
    row, locked until commit, so a user's notifications commit in sequence order: a reader
    who has seen seq N never later finds a new row below N."""
    if not entries:
        return []
    shared = [_event_of(entry) for entry in entries]
    stored = await _store_events(session, enterprise_id, list(dict.fromkeys(shared)))
    event_ids = [stored[event] for event in shared]  # each entry's event, in entry order
    per_user = Counter(entry.user_id for entry in entries)
    if max(per_user.values()) > 1:
        return await _add_numbered(session, entries, event_ids, per_user)
    return await _add_one_each(session, entries, event_ids)


async def add_events(
    session: AsyncSession, enterprise_id: int, events: Sequence[tuple[NewEvent, Sequence[int]]]
) -> list[tuple[int, int]]:
    """Store each event for each of its users (no user listed twice, in one event or across
    events); returns (user id, seq) of each notification. The same statements as `add` for
    one notification per user, without an object per recipient: a reply to an item with
    10,000 followers is one event and a list of 10,000 ids."""
    events = [(event, users) for event, users in events if users]
    if not events:
        return []
    shared = list(dict.fromkeys(event.shared() for event, _ in events))
    stored = await _store_events(session, enterprise_id, shared)
    return await _number_and_insert(
        session, [(stored[event.shared()], users) for event, users in events]
    )


_INSERT_EVENTS = insert(NotificationEvent.__table__).returning(
    NotificationEvent.__table__.c.id, sort_by_parameter_order=True
)


async def _store_events(
    session: AsyncSession, enterprise_id: int, events: list[Event]
) -> dict[Event, int]:
    """One row per event, in one statement; returns each event's id."""
    now = utcnow()
    rows = await session.execute(
        _INSERT_EVENTS,
        [
            {
                "enterprise_id": enterprise_id,
                "kind": kind,
                "message": message,
                "actor_id": actor_id,
                "item_id": item_id,
                "record_id": record_id,
                "forward_id": forward_id,
                "reply_id": reply_id,
                "created_at": now,
            }
            for kind, message, actor_id, item_id, record_id, forward_id, reply_id in events
        ],
    )
    return dict(zip(events, rows.scalars(), strict=True))


# One entry for each of many users (an event's recipients): the database numbers and writes
# them from the user ids alone, in one statement whatever their number.
_INSERT_NEW_ENTRIES = insert(InboxEntry.__table__).from_select(
    ["user_id", "seq", "event_id"],
    select(InboxCounter.user_id, InboxCounter.last_seq, bindparam("event_id", type_=Id))
    .where(in_id_list(InboxCounter.user_id, "users"))
    .order_by(InboxCounter.user_id),
)
# Existing counters move by one. Two replies notify overlapping followers, so their
# transactions lock some of the same counters: always in user id order, or each may hold what
# the other waits for. An UPDATE locks rows in whatever order its plan visits them (a bitmap
# scan: the heap's order, which updates keep shuffling), so the rows are locked first by a
# sorted SELECT ... FOR UPDATE (PostgreSQL; SQLite has one writer and no row locks).
_LOCKED_IN_ORDER = (
    select(InboxCounter.user_id)
    .where(in_id_list(InboxCounter.user_id, "users"))
    .order_by(InboxCounter.user_id)
    .with_for_update()
)
_BUMP_EXISTING = (
    update(InboxCounter.__table__)
    .where(InboxCounter.user_id.in_(_LOCKED_IN_ORDER.scalar_subquery()))
    .values(last_seq=InboxCounter.last_seq + 1)
    .returning(InboxCounter.user_id, InboxCounter.last_seq)
)
_BUMPS: dict[str, Any] = {}


def _bump(dialect: str) -> Any:
    """Add 1 to each listed user's counter (creating it at 1), in user id order (the order
    concurrent writers lock them in); returns (user id, new last seq)."""
    if dialect not in _BUMPS:
        dialect_insert = (postgresql if dialect == "postgresql" else sqlite).insert
        insert_counter = dialect_insert(InboxCounter.__table__)
        recipients = (
            select(User.id, literal(1, Id)).where(in_id_list(User.id, "users")).order_by(User.id)
        )
        _BUMPS[dialect] = (
            insert_counter.from_select(["user_id", "last_seq"], recipients)
            .on_conflict_do_update(
                index_elements=[InboxCounter.user_id],
                set_={"last_seq": InboxCounter.last_seq + 1},
            )
            .returning(InboxCounter.user_id, InboxCounter.last_seq)
        )
    return _BUMPS[dialect]


async def _add_one_each(
    session: AsyncSession, entries: Sequence[NewNotification], event_ids: Sequence[int]
) -> list[tuple[int, int]]:
    """One notification per user: grouped by event for `_number_and_insert`."""
    recipients: dict[int, list[int]] = {}
    for entry, event_id in zip(entries, event_ids, strict=True):
        recipients.setdefault(event_id, []).append(entry.user_id)
    sent = dict(await _number_and_insert(session, list(recipients.items())))
    return [(entry.user_id, sent[entry.user_id]) for entry in entries if entry.user_id in sent]


async def _number_and_insert(
    session: AsyncSession, recipients: Sequence[tuple[int, Sequence[int]]]
) -> list[tuple[int, int]]:
    """Each listed user's counter moves by one (every user in one event only); the entries are
    copied from the counters, one INSERT ... SELECT per event. Returns (user id, seq) pairs,
    by user id (users that do not exist are left out)."""
    users = sorted(user for _, members in recipients for user in members)
    rows = await session.execute(_BUMP_EXISTING, {"users": users})
    seqs = {user: seq for user, seq in rows}
    if len(seqs) < len(users):  # users without a counter yet
        first_ones = [user for user in users if user not in seqs]
        rows = await session.execute(_bump(session.get_bind().dialect.name), {"users": first_ones})
        seqs.update((user, seq) for user, seq in rows)
    for event_id, members in recipients:
        await session.execute(_INSERT_NEW_ENTRIES, {"users": members, "event_id": event_id})
    return sorted(seqs.items())


async def _add_numbered(
    session: AsyncSession,
    entries: Sequence[NewNotification],
    event_ids: Sequence[int],
    per_user: Counter[int],
) -> list[tuple[int, int]]:
    """Several notifications for some user (a batch of due reminders): seqs numbered here."""
    dialect = session.get_bind().dialect.name
    insert_counter = (postgresql if dialect == "postgresql" else sqlite).insert(InboxCounter)
    statement = insert_counter.on_conflict_do_update(
        index_elements=[InboxCounter.user_id],
        set_={"last_seq": InboxCounter.last_seq + insert_counter.excluded.last_seq},
    ).returning(InboxCounter.user_id, InboxCounter.last_seq)
    rows = await session.execute(
        statement, [{"user_id": user, "last_seq": n} for user, n in sorted(per_user.items())]
    )
    next_seq = {user: last - per_user[user] + 1 for user, last in rows}
    values = []
    sent: list[tuple[int, int]] = []
    for entry, event_id in zip(entries, event_ids, strict=True):
        seq = next_seq[entry.user_id]
        next_seq[entry.user_id] = seq + 1
        sent.append((entry.user_id, seq))
        values.append({"user_id": entry.user_id, "seq": seq, "event_id": event_id})
    await session.execute(insert(InboxEntry.__table__), values)
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
    marked = select(Notification.id).where(
        deliverable(viewer),  # nothing the viewer may no longer see is marked or counted
        Notification.seq <= up_to_seq,
        Notification.read_at.is_(None),
    )
    result = await session.execute(
        update(InboxEntry).where(InboxEntry.id.in_(marked)).values(read_at=utcnow())
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


# -- live delivery: many recipients at once ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivered:
    """A notification its recipient may see, with its actor, item and record (those the
    recipient may see: the same statement proved it)."""

    row: Notification
    actor: User | None
    item: FeedItem | None
    record: Record | None


_ACTOR = aliased(User, name="actor")
_ITEM = aliased(FeedItem, name="about_item")
_RECORD = aliased(Record, name="about_record")
_DELIVERABLE: dict[str, Any] = {}


def _wanted_pairs(dialect: str) -> tuple[Any, ColumnElement[int], ColumnElement[int]]:
    """The (user, seq) pairs as a table driving index probes into notifications, from one
    parameter: two arrays on PostgreSQL (`unnest`), a JSON array of pairs on SQLite
    (`json_each`). (A row-value IN list makes SQLite scan the whole table.)"""
    if dialect == "postgresql":
        arrays = (
            func.unnest(
                bindparam("users", type_=postgresql.ARRAY(BigInteger)),
                bindparam("seqs", type_=postgresql.ARRAY(BigInteger)),
            )
            .table_valued("user_id", "seq")
            .render_derived(name="wanted")
        )
        return arrays, arrays.c.user_id, arrays.c.seq
    pairs = func.json_each(bindparam("pairs", type_=String)).table_valued("value", name="wanted")
    return (
        pairs,
        func.json_extract(pairs.c.value, "$[0]"),
        func.json_extract(pairs.c.value, "$[1]"),
    )


def _deliverable_pairs(dialect: str) -> Any:
    """Built once per dialect: executing a reused statement skips rebuilding (and re-keying)
    the visibility expression."""
    if dialect not in _DELIVERABLE:
        wanted, user_id, seq = _wanted_pairs(dialect)
        _DELIVERABLE[dialect] = (
            select(Notification, _ACTOR, _ITEM, _RECORD)
            .select_from(wanted)
            .join(Notification, and_(Notification.user_id == user_id, Notification.seq == seq))
            .outerjoin(
                _ACTOR,
                and_(
                    _ACTOR.id == Notification.actor_id,
                    _ACTOR.enterprise_id == Notification.enterprise_id,
                ),
            )
            .outerjoin(_ITEM, _ITEM.id == Notification.item_id)
            .outerjoin(_RECORD, _RECORD.id == Notification.record_id)
            .where(
                or_(
                    Notification.item_id.is_(None),
                    visibility.item_visible_to(Notification.user_id, _ITEM),
                ),
                or_(
                    Notification.record_id.is_(None),
                    visibility.readable_to(Notification.user_id, _RECORD),
                ),
            )
        )
    return _DELIVERABLE[dialect]


_LAST_SEQS = select(InboxCounter.user_id, InboxCounter.last_seq).where(
    in_id_list(InboxCounter.user_id, "users")
)
_VIEWERS = (
    select(
        User.id,
        User.enterprise_id,
        User.department_id,
        Enterprise.sharing_opens_follow_up,
        UserRole.role,
    )
    .join(Enterprise, Enterprise.id == User.enterprise_id)
    .outerjoin(UserRole, UserRole.user_id == User.id)
    .where(in_id_list(User.id, "users"), User.active.is_(True))
)
PAIRS_PER_STATEMENT = 5_000


async def last_seqs(session: AsyncSession, user_ids: Collection[int]) -> dict[int, int]:
    """How far each user's inbox goes (users without a notification yet are left out)."""
    rows = await session.execute(_LAST_SEQS, {"users": sorted(user_ids)})
    return {user: last for user, last in rows}


async def deliverable_pairs(
    session: AsyncSession, pairs: Collection[tuple[int, int]]
) -> dict[tuple[int, int], Delivered]:
    """The notifications (user, seq) that exist and that their recipient may see now, each with
    what it is about: one statement per PAIRS_PER_STATEMENT pairs, whatever the recipients."""
    wanted = sorted(pairs)
    dialect = session.get_bind().dialect.name
    statement = _deliverable_pairs(dialect)
    found: dict[tuple[int, int], Delivered] = {}
    for start in range(0, len(wanted), PAIRS_PER_STATEMENT):
        chunk = wanted[start : start + PAIRS_PER_STATEMENT]
        if dialect == "postgresql":
            given: dict[str, Any] = {
                "users": [user for user, _ in chunk],
                "seqs": [seq for _, seq in chunk],
            }
        else:
            given = {"pairs": json.dumps(chunk)}
        for row, actor, item, record in await session.execute(statement, given):
            found[row.user_id, row.seq] = Delivered(row, actor, item, record)
    return found


async def viewers(session: AsyncSession, user_ids: Collection[int]) -> dict[int, Viewer]:
    """The users as viewers (roles, department, enterprise flag); missing and deactivated
    users are left out (their streams end)."""
    facts: dict[int, tuple[int, int | None, bool]] = {}
    roles: dict[int, set[str]] = {}
    for user_id, enterprise_id, department_id, opens, role in await session.execute(
        _VIEWERS, {"users": sorted(user_ids)}
    ):
        facts[user_id] = (enterprise_id, department_id, opens)
        found = roles.setdefault(user_id, set())
        if role is not None:
            found.add(role)
    return {
        user_id: Viewer(
            id=user_id,
            enterprise_id=enterprise_id,
            department_id=department_id,
            roles=split_roles(roles[user_id])[0],
            sharing_opens_follow_up=opens,
            custom_roles=split_roles(roles[user_id])[1],
        )
        for user_id, (enterprise_id, department_id, opens) in facts.items()
    }


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
