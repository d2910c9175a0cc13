"""The durable inbox: every notification is a row, numbered per recipient, pointing to the
event it tells of (stored once, whatever the number of recipients)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, join
from sqlalchemy.orm import Mapped, column_property, mapped_column

from store.models import Base, _enterprise_fk
from store.types import Id, UTCDateTime, utcnow


class InboxCounter(Base):
    """The last sequence number given to a user's notifications; its row lock orders commits.
    Pages are kept half empty on PostgreSQL (migration 0014) so that moving a counter is a
    heap-only update: a 10,000-follower reply moves 10,000 of them."""

    __tablename__ = "inbox_counters"
    __table_args__ = {"postgresql_with": {"fillfactor": 50}}

    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(Id, default=0)


class NotificationEvent(Base):
    """What happened and who did it, once per event: a reply to an item with 10,000 followers
    is one event and 10,000 inbox entries. It goes, inbox entries and all, with the item,
    record, forward or reply it is about (a deleted sales record or reply is told of no more)."""

    __tablename__ = "notification_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(Id, ForeignKey("users.id", ondelete="SET NULL"))
    item_id: Mapped[int | None] = mapped_column(Id, ForeignKey("feed_items.id", ondelete="CASCADE"))
    record_id: Mapped[int | None] = mapped_column(Id, ForeignKey("records.id", ondelete="CASCADE"))
    forward_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("forwards.id", ondelete="CASCADE")
    )
    reply_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("feed_replies.id", ondelete="CASCADE")
    )
    message: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboxEntry(Base):
    """One recipient's notification of an event: numbered per user, read or not. `user_id` has
    no foreign key (migration 0014: its per-row check was the costliest part of a large
    fan-out); every entry is written for a user with an `inbox_counters` row, which has one,
    and users are never deleted (they are deactivated)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "seq"),
        Index("ix_notifications_unread", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Id)
    seq: Mapped[int] = mapped_column(Id)
    event_id: Mapped[int] = mapped_column(
        Id, ForeignKey("notification_events.id", ondelete="CASCADE")
    )
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


_entry = InboxEntry.__table__
_event = NotificationEvent.__table__


class Notification(Base):
    """A notification as it is read: an inbox entry with its event (read-only mapping; rows
    are written through `InboxEntry` and `NotificationEvent`)."""

    __table__ = join(_entry, _event, _entry.c.event_id == _event.c.id)
    __mapper_args__ = {"primary_key": [_entry.c.id]}

    id: Mapped[int] = column_property(_entry.c.id)
    user_id: Mapped[int] = column_property(_entry.c.user_id)
    seq: Mapped[int] = column_property(_entry.c.seq)
    read_at: Mapped[datetime | None] = column_property(_entry.c.read_at)
    event_id: Mapped[int] = column_property(_entry.c.event_id, _event.c.id)
    enterprise_id: Mapped[int] = column_property(_event.c.enterprise_id)
    kind: Mapped[str] = column_property(_event.c.kind)
    actor_id: Mapped[int | None] = column_property(_event.c.actor_id)
    item_id: Mapped[int | None] = column_property(_event.c.item_id)
    record_id: Mapped[int | None] = column_property(_event.c.record_id)
    forward_id: Mapped[int | None] = column_property(_event.c.forward_id)
    reply_id: Mapped[int | None] = column_property(_event.c.reply_id)
    message: Mapped[str] = column_property(_event.c.message)
    created_at: Mapped[datetime] = column_property(_event.c.created_at)
