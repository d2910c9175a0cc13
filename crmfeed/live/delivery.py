"""Batched delivery: one reader per process fills every woken subscription's queue.

When wake-ups reach many local subscriptions at once (one reply to an item with thousands of
followers), reading each subscription's notifications separately costs a pooled connection, a
visibility check and the loads of its fields per subscription. Here the hub only records what
each `Stream` should read next and hands it to the process's `Deliverer`, which serves all the
woken streams together, on one connection, in a fixed number of statements:

1. the inbox counters of streams that must find out how far their inbox goes (a new
   subscription replaying from its cursor, or a resync after the pipe dropped);
2. the wanted notifications of all streams, by (user, seq), each checked for visibility to its
   recipient and read with its actor, item and record (`notifications.deliverable_pairs`);
3. the recipients as viewers (roles, department), reloaded at every delivery.

A user's seqs are dense and commit in order (`notifications.add`), so a stream whose cursor is C
and whose inbox is known to reach T reads exactly the pairs (user, C+1 .. T): in order, no gap,
no duplicate, whatever order the wake-ups arrive in. The inbox stays the truth: a lost wake-up is
made good by the resync after a reconnect, which looks the counters up again; while the pipe is
down the hub polls the counters (`Deliverer.last_seqs`, one statement for all the process's
streams) and wakes each stream with its user's last seq. Wake-ups only ever raise `known`, and
one batch runs at a time: a batch reads (cursor, end] and moves the cursor only if it is still
where the batch started, so a wake-up (from the pipe, a local publish or a poll) arriving while
a stream is being read makes it come again from its new cursor, never re-read or skip a seq.

Buffers stay bounded: a stream takes no more than its queue has room for. While it replays, it
is paced by its reader (the next chunk is read once the queue has drained); once live, a stream
whose reader leaves more than the queue holds waiting is cut off (`SlowConsumer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from crmfeed import metrics
from crmfeed.live.hub import RESYNC, LocalSubscription, Mailbox
from store import notifications, org

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from crmfeed.live.hub import Hub
    from store.notifications import Delivered
    from store.viewer import Viewer

log = logging.getLogger("crmfeed.live")

CHUNK = 100  # notifications read for one stream per batch, at most
MAX_PAIRS = 4_000  # (user, seq) pairs read in one statement, at most
# The first batch after the deliverer was idle reads this many pairs at most, each next one twice
# as many (up to MAX_PAIRS): the first subscriptions get their notifications while the database
# checks the next batch's, instead of all waiting for one statement over every pair.
FIRST_PAIRS = 125
RETRY_SECONDS = (0.05, 0.2, 1.0, 2.0)  # pauses after failed batches (pool timeout, database down)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notification for one stream, with the recipient as they were at delivery."""

    found: Delivered
    viewer: Viewer


class Ended:
    """Put in a stream's queue when its user no longer exists."""


ENDED = Ended()


@dataclass(eq=False, slots=True)
class Stream(LocalSubscription):
    """A subscription served by the deliverer: its queue holds `Delivery`s (and markers).

    `cursor`: every notification up to it was delivered or found invisible; `known`: the inbox
    reaches at least that seq; `lookup`: the counter must be read first (replay, resync)."""

    polled: ClassVar[bool] = True  # it knows its cursor: an outage poll's seq is a wake-up

    deliverer: Deliverer | None = field(default=None, repr=False)
    cursor: int = 0
    known: int = 0
    lookup: bool = True
    live: bool = False
    closed: bool = False

    def wake(self, seq: int) -> None:
        if self.overflowed or self.closed:
            return
        if seq == RESYNC:  # wake-ups may have been lost: read the counter again
            self.lookup = True
            self.live = False
        elif seq <= self.known:
            return
        else:
            self.known = seq
            if self.live and self.waiting() > self.queue.maxsize:
                self.overflow()
                return
        self.schedule()

    def inbox_reaches(self, last: int) -> None:
        """An outage poll found the inbox reaching `last`: read up to it paced by the reader, as
        after a resync (what piled up between two polls is no reason to cut the client off)."""
        if self.overflowed or self.closed or last <= self.known:
            return
        self.known = last
        self.live = False
        self.schedule()

    def waiting(self) -> int:
        """Notifications known and not yet taken by the reader (some may prove invisible)."""
        return self.known - self.cursor + self.queue.qsize()

    def room(self) -> int:
        return self.queue.maxsize - self.queue.qsize()

    def wants(self) -> bool:
        return not (self.closed or self.overflowed) and (self.lookup or self.known > self.cursor)

    def schedule(self) -> None:
        if self.deliverer is not None and self.wants():
            self.deliverer.schedule(self)

    async def next(self) -> Delivery | Ended:  # type: ignore[override]
        """The next delivery (ENDED once the user is gone); raises SlowConsumer once cut off."""
        item = await LocalSubscription.next(self)  # (a slotted dataclass: no bare super())
        if self.queue.empty():
            self.schedule()  # a replay goes on once the reader has taken what was read
        return item


class Deliverer:
    """Serves the woken streams of one process in batches, one batch at a time."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        chunk: int = CHUNK,
        max_pairs: int = MAX_PAIRS,
        first_pairs: int = FIRST_PAIRS,
    ) -> None:
        self.session_factory = session_factory
        self.chunk = chunk
        self.max_pairs = max_pairs
        self.first_pairs = min(first_pairs, max_pairs)
        self._pending: dict[Stream, None] = {}  # insertion-ordered set
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stopped = asyncio.Event()
        self.batches = 0
        self.failures = 0

    @classmethod
    def of(cls, hub: Hub, session_factory: async_sessionmaker[AsyncSession]) -> Deliverer:
        """The hub's deliverer, made on first use."""
        if hub.deliverer is None:
            hub.deliverer = cls(session_factory)
        return hub.deliverer

    def open(self, hub: Hub, user_id: int, after: int) -> Stream:
        """A stream of the user's notifications after seq `after`: replay, then live."""
        stream = Stream(user_id, Mailbox(hub.queue_size), deliverer=self, cursor=after)
        hub.add(stream)  # wake-ups from now on are seen; the counter covers what came before
        stream.schedule()
        return stream

    def close(self, hub: Hub, stream: Stream) -> None:
        stream.closed = True
        self._pending.pop(stream, None)
        hub.unsubscribe(stream)

    async def last_seqs(self, user_ids: set[int]) -> dict[int, int]:
        """How far each user's inbox goes, in one statement (the hub's polls in an outage)."""
        async with self.session_factory() as session:
            return await notifications.last_seqs(session, user_ids)

    async def ended_sessions(
        self, user_ids: set[int], token_ids: set[str]
    ) -> tuple[set[int], set[str]]:
        """Which of these users were deactivated and tokens revoked (the hub's re-check of
        its open sockets after messages may have been lost)."""
        async with self.session_factory() as session:
            return await org.ended_sessions(session, user_ids, token_ids)

    def schedule(self, stream: Stream) -> None:
        if self._stopping:
            return
        self._pending[stream] = None
        metrics.DELIVERY_BACKLOG.set(len(self._pending))
        if self._task is None or self._task.done():
            # A context of its own: not the request's that happened to start it (its request
            # id in the logs, its statement count in the metrics).
            self._task = asyncio.create_task(
                self._run(), name="crmfeed-deliverer", context=contextvars.Context()
            )
        self._ready.set()

    async def stop(self, grace: float = 5.0) -> None:
        """Let the batch under way finish (a batch cancelled mid-statement could leave its
        connection checked out, inside a transaction), then end the task."""
        self._stopping = True
        self._stopped.set()
        self._ready.set()
        task, self._task = self._task, None
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            await self._ready.wait()
            self._ready.clear()
            limit = self.first_pairs
            while self._pending and not self._stopping:
                batch = self._take(limit)
                limit = min(limit * 2, self.max_pairs)
                metrics.DELIVERY_BACKLOG.set(len(self._pending))
                try:
                    await self.deliver(batch)
                    failures = 0
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # A pool timeout or a database outage ends no subscription: the streams
                    # keep their cursors and are served again after a pause.
                    self.failures += 1
                    log.exception("live push: a delivery batch failed; retrying")
                    for stream in batch:
                        if stream.wants():
                            self._pending.setdefault(stream, None)
                    pause = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                    failures += 1
                    with contextlib.suppress(TimeoutError):  # or until stopped
                        async with asyncio.timeout(pause):
                            await self._stopped.wait()

    def _take(self, limit: int) -> list[Stream]:
        """The next batch: pending streams in wake-up order, up to about `limit` pairs."""
        batch: list[Stream] = []
        pairs = 0
        for stream in list(self._pending):
            del self._pending[stream]
            if not stream.wants():
                continue
            batch.append(stream)
            pairs += min(self.chunk, max(stream.known - stream.cursor, 1))
            if pairs >= limit:
                break
        return batch

    async def deliver(self, batch: list[Stream]) -> None:
        """Read and queue what each stream of the batch should get next."""
        async with self.session_factory() as session:
            lookup = [stream for stream in batch if stream.lookup]
            if lookup:
                for stream in lookup:  # a resync arriving meanwhile sets it again
                    stream.lookup = False
                try:
                    counters = await notifications.last_seqs(
                        session, {stream.user_id for stream in lookup}
                    )
                except BaseException:
                    for stream in lookup:
                        stream.lookup = True
                    raise
                for stream in lookup:
                    stream.known = max(stream.known, counters.get(stream.user_id, 0))
            spans: dict[Stream, tuple[int, int]] = {}
            for stream in batch:
                end = min(stream.known, stream.cursor + min(self.chunk, stream.room()))
                if end > stream.cursor and not stream.closed:
                    spans[stream] = (stream.cursor, end)
            if not spans:
                self._settle(batch)
                return
            wanted = sorted(
                {
                    (stream.user_id, seq)
                    for stream, (start, end) in spans.items()
                    for seq in range(start + 1, end + 1)
                }
            )
            found = await notifications.deliverable_pairs(session, wanted)
            viewers = await notifications.viewers(session, {s.user_id for s in spans})
        self.batches += 1
        for stream, (start, end) in spans.items():
            if stream.closed or stream.overflowed or stream.cursor != start:
                continue
            viewer = viewers.get(stream.user_id)
            if viewer is None:
                stream.cursor = stream.known = end
                stream.put(ENDED)
                continue
            for seq in range(start + 1, end + 1):
                delivered = found.get((stream.user_id, seq))
                if delivered is not None:
                    stream.put(Delivery(delivered, viewer))
                    if stream.live:  # not a replay: how long it took to reach its reader
                        metrics.delivered_live(delivered.row.created_at)
            stream.cursor = end
        self._settle(batch)

    def _settle(self, batch: list[Stream]) -> None:
        """Streams that caught up go live; those with more to read and room come again."""
        for stream in batch:
            if not stream.wants():
                if not stream.lookup:
                    stream.live = True
            elif stream.lookup or stream.room() > 0:
                self._pending.setdefault(stream, None)
        if self._pending:
            self._ready.set()
