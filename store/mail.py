"""SQL of mail: bound mailboxes, the outbox (one row per recipient) and its claims."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, insert, or_, select, update

from crmfeed.registry.record_page import MailStatus
from store.record_page_tables import Mailbox, MailMessage
from store.types import utcnow

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession


async def mailbox_of(session: AsyncSession, user_id: int) -> Mailbox | None:
    return await session.get(Mailbox, user_id)


async def mailboxes_of(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, Mailbox]:
    rows = await session.scalars(select(Mailbox).where(Mailbox.user_id.in_(set(user_ids))))
    return {row.user_id: row for row in rows}


async def put_mailbox(session: AsyncSession, values: dict[str, Any]) -> Mailbox:
    """Bind (or bind again) the user's one mailbox."""
    await session.execute(delete(Mailbox).where(Mailbox.user_id == values["user_id"]))
    row = Mailbox(**values, verified_at=utcnow())
    session.add(row)
    await session.flush()
    return row


async def delete_mailbox(session: AsyncSession, user_id: int) -> bool:
    deleted = await session.execute(
        delete(Mailbox).where(Mailbox.user_id == user_id).returning(Mailbox.user_id)
    )
    return deleted.first() is not None


async def queue(session: AsyncSession, rows: list[dict[str, Any]]) -> list[MailMessage]:
    """Put mails in the outbox, due now."""
    now = utcnow()
    for row in rows:
        row.update(status=MailStatus.PENDING.value, attempts=0, next_attempt_at=now, created_at=now)
    if not rows:
        return []
    created = await session.scalars(insert(MailMessage).returning(MailMessage), rows)
    return sorted(created, key=lambda m: m.id)


async def claim_due(
    session: AsyncSession, now: datetime, lease_seconds: float, limit: int
) -> list[MailMessage]:
    """Lease due mails to this process: PENDING, due, and not leased to a live sender. The
    UPDATE re-checks the lease, so two processes never claim one mail at once; a sender that
    dies leaves its mails to be claimed again when the lease ends."""
    free = or_(MailMessage.leased_until.is_(None), MailMessage.leased_until < now)
    due = select(MailMessage.id).where(
        MailMessage.status == MailStatus.PENDING.value, MailMessage.next_attempt_at <= now, free
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = await session.scalars(
        update(MailMessage)
        .where(MailMessage.id.in_(due.order_by(MailMessage.id).limit(limit)), free)
        .values(leased_until=now + timedelta(seconds=lease_seconds))
        .returning(MailMessage)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed, key=lambda m: m.id)


async def finish(
    session: AsyncSession,
    message_id: int,
    *,
    status: MailStatus,
    attempts: int,
    error: str | None,
    next_attempt_at: datetime | None = None,
    feed_item_id: int | None = None,
) -> None:
    """Record an attempt's outcome and give the lease back."""
    values: dict[str, Any] = {
        "status": status.value,
        "attempts": attempts,
        "last_error": None if error is None else error[:1000],
        "leased_until": None,
    }
    if status is MailStatus.SENT:
        values.update(sent_at=utcnow(), feed_item_id=feed_item_id)
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    await session.execute(
        update(MailMessage)
        .where(MailMessage.id == message_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def page_messages(
    session: AsyncSession,
    enterprise_id: int,
    sender_id: int,
    *,
    batch_id: str | None,
    status: str | None,
    before_id: int | None,
    limit: int,
) -> list[MailMessage]:
    """The sender's mails, newest first."""
    conditions = [MailMessage.enterprise_id == enterprise_id, MailMessage.sender_id == sender_id]
    if batch_id is not None:
        conditions.append(MailMessage.batch_id == batch_id)
    if status is not None:
        conditions.append(MailMessage.status == status)
    if before_id is not None:
        conditions.append(MailMessage.id < before_id)
    rows = await session.scalars(
        select(MailMessage).where(and_(*conditions)).order_by(MailMessage.id.desc()).limit(limit)
    )
    return list(rows)


async def requeue_failed(
    session: AsyncSession, enterprise_id: int, sender_id: int, ids: Sequence[int]
) -> list[MailMessage]:
    """Send the sender's failed mails again (their drafts were kept); others are left alone."""
    rows = await session.scalars(
        update(MailMessage)
        .where(
            MailMessage.id.in_(set(ids)),
            MailMessage.enterprise_id == enterprise_id,
            MailMessage.sender_id == sender_id,
            MailMessage.status == MailStatus.FAILED.value,
        )
        .values(status=MailStatus.PENDING.value, attempts=0, next_attempt_at=utcnow())
        .returning(MailMessage)
        .execution_options(synchronize_session=False)
    )
    return sorted(rows, key=lambda m: m.id)
