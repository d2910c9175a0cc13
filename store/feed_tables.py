"""Tables of the follow-up activity: feed items, their links, replies and social actions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, _enterprise_fk
from store.types import Id, UTCDateTime, utcnow


def _user_fk(nullable: bool = False) -> Mapped[int]:
    return mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=nullable)


def _item_fk(primary_key: bool = False) -> Mapped[int]:
    return mapped_column(
        Id, ForeignKey("feed_items.id", ondelete="CASCADE"), primary_key=primary_key
    )


class FeedItem(Base):
    __tablename__ = "feed_items"
    __table_args__ = (
        Index("ix_feed_items_enterprise", "enterprise_id", "id"),
        Index("ix_feed_items_author", "author_id", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    type: Mapped[str] = mapped_column(String(32))
    author_id: Mapped[int] = _user_fk()
    content: Mapped[str] = mapped_column(Text)
    account_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("records.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FeedItemRecord(Base):
    """An item's related-to link to one business record."""

    __tablename__ = "feed_item_records"
    __table_args__ = (Index("ix_feed_item_records_record", "record_id", "item_id"),)

    enterprise_id: Mapped[int] = _enterprise_fk()
    item_id: Mapped[int] = _item_fk(primary_key=True)
    record_id: Mapped[int] = mapped_column(
        Id, ForeignKey("records.id", ondelete="CASCADE"), primary_key=True
    )


class FeedItemUser(Base):
    """A user named on an item: MENTION, CC, or REPLY_MENTION (mentioned in one of its replies)."""

    __tablename__ = "feed_item_users"
    __table_args__ = (Index("ix_feed_item_users_user", "user_id", "item_id"),)

    enterprise_id: Mapped[int] = _enterprise_fk()
    item_id: Mapped[int] = _item_fk(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)


class FeedReply(Base):
    __tablename__ = "feed_replies"
    __table_args__ = (Index("ix_feed_replies_item", "item_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    item_id: Mapped[int] = _item_fk()
    author_id: Mapped[int] = _user_fk()
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FeedReplyMention(Base):
    __tablename__ = "feed_reply_mentions"

    enterprise_id: Mapped[int] = _enterprise_fk()
    reply_id: Mapped[int] = mapped_column(
        Id, ForeignKey("feed_replies.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class _UserItemMark:
    """Shape shared by likes, favorites and follows: one row per (item, user)."""

    enterprise_id: Mapped[int] = _enterprise_fk()
    item_id: Mapped[int] = _item_fk(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FeedLike(_UserItemMark, Base):
    __tablename__ = "feed_likes"


class FeedFavorite(_UserItemMark, Base):
    __tablename__ = "feed_favorites"
    __table_args__ = (Index("ix_feed_favorites_user", "user_id", "item_id"),)


class FeedFollow(_UserItemMark, Base):
    __tablename__ = "feed_follows"
    __table_args__ = (Index("ix_feed_follows_user", "user_id", "item_id"),)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_assignee", "assignee_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    title: Mapped[str] = mapped_column(String(500))
    assignee_id: Mapped[int] = _user_fk()
    created_by_id: Mapped[int] = _user_fk()
    source_item_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("feed_items.id", ondelete="SET NULL")
    )
    record_id: Mapped[int | None] = mapped_column(Id, ForeignKey("records.id", ondelete="SET NULL"))
    feed_item_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("feed_items.id", ondelete="SET NULL")
    )
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarEvent(Base):
    __tablename__ = "calendar_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    title: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int] = _user_fk()
    record_id: Mapped[int | None] = mapped_column(Id, ForeignKey("records.id", ondelete="SET NULL"))
    source_item_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("feed_items.id", ondelete="SET NULL")
    )
    feed_item_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("feed_items.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarParticipant(Base):
    __tablename__ = "calendar_participants"

    enterprise_id: Mapped[int] = _enterprise_fk()
    event_id: Mapped[int] = mapped_column(
        Id, ForeignKey("calendar_events.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class Reminder(Base):
    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_due", "fired_at", "remind_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    item_id: Mapped[int | None] = mapped_column(Id, ForeignKey("feed_items.id", ondelete="CASCADE"))
    record_id: Mapped[int | None] = mapped_column(Id, ForeignKey("records.id", ondelete="CASCADE"))
    remind_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int] = _user_fk()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReminderUser(Base):
    __tablename__ = "reminder_users"

    enterprise_id: Mapped[int] = _enterprise_fk()
    reminder_id: Mapped[int] = mapped_column(
        Id, ForeignKey("reminders.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class Forward(Base):
    """An item or a record card sent to a user; the card shows even if they cannot open it."""

    __tablename__ = "forwards"
    __table_args__ = (Index("ix_forwards_to_user", "to_user_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    item_id: Mapped[int | None] = mapped_column(Id, ForeignKey("feed_items.id", ondelete="CASCADE"))
    record_id: Mapped[int | None] = mapped_column(Id, ForeignKey("records.id", ondelete="CASCADE"))
    from_user_id: Mapped[int] = _user_fk()
    to_user_id: Mapped[int] = _user_fk()
    message: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
