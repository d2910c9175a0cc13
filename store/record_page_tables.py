"""Tables of the record page actions: print and mail templates, bound mailboxes, the mail
outbox (one row per recipient, kept whatever happens to it) and calendar feed tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models import Base, _enterprise_fk
from store.types import Id, UTCDateTime, utcnow


def _user_fk() -> Mapped[int]:
    return mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


class PrintTemplate(Base):
    """A Jinja2 template (sandboxed) rendered to HTML, then to PDF, for one object type."""

    __tablename__ = "print_templates"
    __table_args__ = (UniqueConstraint("enterprise_id", "object_type", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    object_type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    updated_by_id: Mapped[int] = _user_fk()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailTemplate(Base):
    """A mail's subject and body as Jinja2 templates (sandboxed) over a record's fields."""

    __tablename__ = "mail_templates"
    __table_args__ = (UniqueConstraint("enterprise_id", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(1000))
    body: Mapped[str] = mapped_column(Text)
    updated_by_id: Mapped[int] = _user_fk()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mailbox(Base):
    """A user's bound SMTP mailbox; the password is Fernet-encrypted (crmfeed/secrets_box.py)."""

    __tablename__ = "mailboxes"

    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    enterprise_id: Mapped[int] = _enterprise_fk()
    smtp_host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    security: Mapped[str] = mapped_column(String(16))
    username: Mapped[str] = mapped_column(String(320))
    password_encrypted: Mapped[str] = mapped_column(Text)
    from_address: Mapped[str] = mapped_column(String(320))
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MailMessage(Base):
    """One mail to one recipient about one record: the draft until it is sent, then its
    history. The sender process claims it with a lease (`leased_until`), so a process that dies
    mid-send leaves it to another one; a failure that may pass is retried later."""

    __tablename__ = "mail_messages"
    __table_args__ = (
        Index("ix_mail_messages_due", "status", "next_attempt_at"),
        Index("ix_mail_messages_sender", "sender_id", "id"),
        Index("ix_mail_messages_batch", "batch_id", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    enterprise_id: Mapped[int] = _enterprise_fk()
    batch_id: Mapped[str] = mapped_column(String(36))
    sender_id: Mapped[int] = _user_fk()
    record_id: Mapped[int | None] = mapped_column(Id, ForeignKey("records.id", ondelete="SET NULL"))
    template_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("mail_templates.id", ondelete="SET NULL")
    )
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(1000))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    leased_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feed_item_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("feed_items.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CalendarFeedToken(Base):
    """A user's calendar subscription secret, stored as its SHA-256 (the URL holds the secret)."""

    __tablename__ = "calendar_feed_tokens"

    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    enterprise_id: Mapped[int] = _enterprise_fk()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
