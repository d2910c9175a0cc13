"""Mail goes out in the background. `sendMail` / `sendBatchMail` only write the outbox (one
row per recipient, in the request's transaction); each process polls it, leases due rows
(`store.mail.claim_due`), sends them over the sender's bound mailbox, and records each
outcome: sent (and a sales record on its record), retried later when the failure may pass
(`MAIL_RETRY_SECONDS`), or failed with the reason, the draft kept for `resendMail` and the
sender notified (MAIL_FAILED).

Delivery is at least once: a process that dies between the server's acceptance and the
recording of it leaves the lease to run out, and the mail is sent again."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING

from crmfeed import secrets_box, smtp
from crmfeed.live.poller import Poller
from crmfeed.registry.feed import MAX_CONTENT
from crmfeed.registry.record_page import (
    ACTIVITY_TYPE,
    MAIL_LEASE_SECONDS,
    MAIL_RETRY_SECONDS,
    MailSecurity,
    MailStatus,
)
from resolvers.errors import BadUserInput
from resolvers.feed import post_in
from resolvers.notify import NotificationKind, mail_failed
from store import mail, org
from store.notifications import NewNotification
from store.types import utcnow

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from crmfeed.live.hub import Hub
    from crmfeed.settings import Settings
    from store.record_page_tables import Mailbox, MailMessage

log = logging.getLogger("crmfeed.mail")


def activity_text(message: MailMessage) -> str:
    text = f"Mail to {message.to_address}: {message.subject}\n\n{message.body}"
    return text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 1] + "…"


class MailRunner(Poller):
    name = "crmfeed-mail"

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        hub: Hub,
        settings: Settings,
        *,
        batch: int = 100,
    ) -> None:
        self.session_factory = session_factory
        self.hub = hub
        self.settings = settings
        self.batch = batch
        super().__init__()

    @property
    def interval(self) -> float:
        return self.settings.mail_poll_seconds

    async def poll(self) -> bool:
        await self.run_once()  # unsent rows stay in the outbox
        return False

    def _mailbox(self, row: Mailbox) -> smtp.Mailbox:
        return smtp.Mailbox(
            host=row.smtp_host,
            port=row.port,
            security=MailSecurity(row.security),
            username=row.username,
            password=secrets_box.unseal(self.settings, row.password_encrypted),
            from_address=row.from_address,
        )

    async def _send(
        self, claimed: list[MailMessage], boxes: dict[int, Mailbox]
    ) -> dict[int, smtp.Failure | None]:
        by_sender: dict[int, list[MailMessage]] = defaultdict(list)
        for message in claimed:
            by_sender[message.sender_id].append(message)
        results: dict[int, smtp.Failure | None] = {}
        for sender_id, messages in by_sender.items():
            row = boxes.get(sender_id)
            try:
                if row is None:
                    raise smtp.MailboxRefused("the sender has no bound mailbox; bind one")
                box = self._mailbox(row)
            except secrets_box.Undecryptable:
                failure = smtp.Failure(
                    "the mailbox's password cannot be read; bind it again", False
                )
                results.update(dict.fromkeys((m.id for m in messages), failure))
                continue
            except smtp.MailboxRefused as refused:
                failure = smtp.Failure(str(refused), transient=False)
                results.update(dict.fromkeys((m.id for m in messages), failure))
                continue
            outgoing = [smtp.Outgoing(m.id, m.to_address, m.subject, m.body) for m in messages]
            results.update(
                await smtp.send_all(
                    box,
                    outgoing,
                    self.settings.smtp_timeout_seconds,
                    allow_private=self.settings.smtp_allow_private_hosts,
                )
            )
        return results

    async def _activity(
        self, session: AsyncSession, message: MailMessage
    ) -> tuple[int | None, list[tuple[int, int]]]:
        """The sent mail as a sales record on its record, in the sender's name."""
        if message.record_id is None:
            return None, []
        viewer = await org.load_viewer(session, message.enterprise_id, message.sender_id)
        if viewer is None:
            return None, []
        try:
            item, sent = await post_in(
                session,
                viewer,
                ACTIVITY_TYPE,
                activity_text(message),
                [message.record_id],
                None,
                [],
                [],
            )
        except BadUserInput:  # the record is gone, invalid, or no longer readable to the sender
            return None, []
        return item.id, sent

    async def run_once(self, now: datetime | None = None) -> int:
        """Attempt every mail due at `now`; returns how many this process attempted."""
        now = now or utcnow()
        attempted = 0
        while True:
            async with self.session_factory() as session:
                claimed = await mail.claim_due(session, now, MAIL_LEASE_SECONDS, self.batch)
                boxes = await mail.mailboxes_of(session, [m.sender_id for m in claimed])
                await session.commit()
            if not claimed:
                return attempted
            results = await self._send(claimed, boxes)
            published: list[tuple[int, int]] = []
            async with self.session_factory() as session:
                for message in claimed:
                    published += await self._record(session, message, results[message.id], now)
                await session.commit()
            await self.hub.publish(published)
            attempted += len(claimed)
            if len(claimed) < self.batch:
                return attempted

    async def _record(
        self,
        session: AsyncSession,
        message: MailMessage,
        failure: smtp.Failure | None,
        now: datetime,
    ) -> list[tuple[int, int]]:
        attempts = message.attempts + 1
        if failure is None:
            item_id, sent = await self._activity(session, message)
            await mail.finish(
                session,
                message.id,
                status=MailStatus.SENT,
                attempts=attempts,
                error=None,
                feed_item_id=item_id,
            )
            return sent
        if failure.transient and attempts <= len(MAIL_RETRY_SECONDS):
            wait = timedelta(seconds=MAIL_RETRY_SECONDS[attempts - 1])
            await mail.finish(
                session,
                message.id,
                status=MailStatus.PENDING,
                attempts=attempts,
                error=failure.message,
                next_attempt_at=now + wait,
            )
            return []
        reason = failure.message
        if failure.transient:
            reason = f"gave up after {attempts} attempts: {reason}"
        await mail.finish(
            session, message.id, status=MailStatus.FAILED, attempts=attempts, error=reason
        )
        told = NewNotification(
            message.sender_id,
            NotificationKind.MAIL_FAILED,
            f"Mail to {message.to_address} failed: {reason}"[:1000],
            record_id=message.record_id,
        )
        return await mail_failed(session, message.enterprise_id, [told])
