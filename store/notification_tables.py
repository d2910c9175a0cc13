"""The durable inbox: every notification is a row, numbered per recipient."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, _enterprise_fk
from store.types import Id, UTCDateTime, utcnow


class InboxCounter(Base):
    """The last sequence number given to a user's notifications; its row lock orders commits."""

    __tablename__ = "inbox_counters"

    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(Id, default=0)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "seq"),
        Index("ix_notifications_unread", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Id)
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(Id, ForeignKey("users.id", ondelete="SET NULL"))
    item_id: Mapped[int | None] = mapped_column(Id, ForeignKey("feed_items.id", ondelete="CASCADE"))
    record_id: Mapped[int | None] = mapped_column(Id, ForeignKey("records.id", ondelete="CASCADE"))
    forward_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("forwards.id", ondelete="CASCADE")
    )
    message: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
