"""The loop every background poller of a process shares (reminders, the mail outbox, import
and export jobs): poll, sleep, poll again; a failed poll is logged and the next one comes as
usual (what it claimed stays claimed until its lease ends).

Stopping lets a poll under way finish (for up to `grace` seconds) before it is cancelled: a
poll cancelled mid-statement would drop its session inside a transaction."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging

log = logging.getLogger("crmfeed.pollers")


class Poller(abc.ABC):
    """Subclasses name their task and implement `poll` and `interval`."""

    name = "crmfeed-poller"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    @abc.abstractmethod
    def interval(self) -> float:
        """Seconds between polls that found nothing more to do."""

    @abc.abstractmethod
    async def poll(self) -> bool:
        """One round of work; True when more is waiting (the next round starts at once)."""

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start polling in the background (a running poller goes on as it is)."""
        if self.running:
            return
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self, grace: float = 5.0) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                more = await self.poll()
            except Exception:  # keep polling
                log.exception("%s: a poll failed", self.name)
                more = False
            if more:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._stopping.wait()
