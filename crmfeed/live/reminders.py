"""Due reminders fire exactly once: each process polls, and claims due rows in the database
(the claim and the notifications commit together), so two processes or a restart never fire a
reminder twice nor lose one. No in-memory timer is the truth."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from crmfeed.live.poller import Poller
from resolvers.notify import NotificationKind, reminders_due
from store import notifications
from store.notifications import NewNotification
from store.types import utcnow

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from crmfeed.live.hub import Hub


class ReminderRunner(Poller):
    name = "crmfeed-reminders"

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        hub: Hub,
        *,
        poll_seconds: float = 1.0,
        batch: int = 200,
    ) -> None:
        self.session_factory = session_factory
        self.hub = hub
        self.poll_seconds = poll_seconds
        self.batch = batch
        super().__init__()

    @property
    def interval(self) -> float:
        return self.poll_seconds

    async def poll(self) -> bool:
        await self.run_once()
        return False

    async def run_once(self, now: datetime | None = None) -> int:
        """Fire every reminder due at `now`; returns how many this process claimed."""
        now = now or utcnow()
        fired = 0
        while True:
            async with self.session_factory() as session:
                claimed = await notifications.claim_due_reminders(session, now, self.batch)
                by_enterprise: dict[int, list[NewNotification]] = defaultdict(list)
                for reminder, users in claimed:
                    message = "Reminder" + (f": {reminder.note}" if reminder.note else ".")
                    by_enterprise[reminder.enterprise_id].extend(
                        NewNotification(
                            user,
                            NotificationKind.REMINDER,
                            message,
                            reminder.created_by_id,
                            item_id=reminder.item_id,
                            record_id=reminder.record_id,
                        )
                        for user in users
                    )
                sent: list[tuple[int, int]] = []
                for enterprise_id, entries in by_enterprise.items():
                    sent += await reminders_due(session, enterprise_id, entries)
                await session.commit()
            await self.hub.publish(sent)
            fired += len(claimed)
            if len(claimed) < self.batch:
                return fired
