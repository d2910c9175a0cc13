"""One broadcaster subscription per process, fanned out to bounded per-subscription queues.

broadcaster's weak spots are handled here: each local subscription gets a *bounded*
queue (a consumer that falls behind is cut off and resumes from its cursor); the listener is
watched with heartbeats and reconnected with backoff when the pipe drops; after a reconnect
every subscription is told to resync from the inbox, so nothing published meanwhile is lost.
Messages carry only (user, seq) wake-ups; the process's deliverer (crmfeed/live/delivery.py)
reads the notifications for every woken subscription at once and fills their queues. The same
pipe carries "sessions ended" messages (a user deactivated, a token revoked): every process
closes the matching websockets it holds (crmfeed/live/sessions.py).

While the pipe is down (the listener's connection dropped, a heartbeat did not come back, a
publish failed) wake-ups from other processes do not arrive, so the hub polls instead: every
`outage_poll_seconds` one statement reads the inbox counters of all the users with an open
stream on this process, and each stream is woken with its user's last seq, exactly as a
wake-up through the pipe would. A stream knows its cursor, so a poll that finds nothing new
costs nothing more, and one that finds something has it read from the cursor on: no gap, no
duplicate, whichever of a poll, a local wake-up or a resync comes first. Polling stops once the
listener is connected again (it has every stream resync then).

Nothing here waits without a limit on the pipe: a publish, a heartbeat, connecting and the
cleanup after a failure are all bounded, and a failed listener stops counting as connected
before anything else, so publishes fall back to local delivery at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import urlparse

from broadcaster import Broadcast, Event
from broadcaster._backends.base import BroadcastBackend

from crmfeed import metrics
from crmfeed.live.sessions import Ended, Sessions

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterable

    from crmfeed.live.delivery import Deliverer

log = logging.getLogger("crmfeed.live")

RESYNC = -1
HEARTBEAT = "hb"
RESYNC_ALL = "resync"
END = "end"
PIPE_LOST = "\x00crmfeed:pipe-lost"


class RedisPubSubBackend(BroadcastBackend):
    """broadcaster's Redis backend, made watchable.

    broadcaster 0.3.1's own Redis backend never delivers with redis-py 8: its listener task
    wakes when `subscribe` starts, finds redis-py not yet subscribed (channels are recorded
    after the SUBSCRIBE is sent), stops listening and waits for a wake-up that never comes.
    And redis-py silently reconnects a dropped pub/sub connection, losing what was published
    meanwhile without telling anyone. Here the listener starts once the subscription is made,
    the pub/sub connection is not retried, and a dropped connection is announced on every
    subscribed channel as PIPE_LOST, so the hub reconnects and resyncs at once.
    """

    def __init__(self, url: str) -> None:
        from redis import asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._publisher = redis.Redis.from_url(url)
        self._subscriber = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0))
        self._pubsub = self._subscriber.pubsub()
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        await self._pubsub.connect()

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self._pubsub.aclose()
        await self._subscriber.aclose()
        await self._publisher.aclose()

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        self._channels.add(channel)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="crmfeed-redis-pubsub")

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: str) -> None:
        await self._publisher.publish(channel, message)

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _read(self) -> None:
        try:
            async for message in self._pubsub.listen():
                if message["type"] == "message":
                    channel, data = message["channel"], message["data"]
                    await self._queue.put(Event(channel.decode(), data.decode()))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the connection dropped: say so on every channel
            log.warning("live push: the Redis pub/sub connection dropped (%s)", error)
        for channel in self._channels:
            await self._queue.put(Event(channel, PIPE_LOST))


def make_broadcast(url: str) -> Broadcast:
    if urlparse(url).scheme in ("redis", "rediss"):
        return Broadcast(backend=RedisPubSubBackend(url))
    return Broadcast(url)


S = TypeVar("S", bound="LocalSubscription")


class SlowConsumer(Exception):
    """The subscription fell too far behind and was cut off; resume from the last cursor."""


class Mailbox:
    """A subscription's bounded buffer for its one reader, which costs next to nothing while
    empty: the items and the reader's wait exist only while there are some. (An asyncio.Queue
    holds three deques, about 2 KiB, for each of thousands of idle subscriptions.)"""

    __slots__ = ("_items", "_waiter", "maxsize")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items is not None else 0

    def empty(self) -> bool:
        return self._items is None

    def put_nowait(self, item: Any) -> None:
        """Add an item; asyncio.QueueFull when `maxsize` are waiting."""
        if self._items is None:
            self._items = deque()
        elif len(self._items) >= self.maxsize:
            raise asyncio.QueueFull
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> Any:
        """The oldest item; asyncio.QueueEmpty when there is none."""
        if self._items is None:
            raise asyncio.QueueEmpty
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item

    async def get(self) -> Any:
        """The oldest item, once there is one."""
        while self._items is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.get_nowait()


@dataclass(eq=False, slots=True)
class LocalSubscription:
    """One local subscriber's bounded queue: wake-ups (seqs) here, deliveries for the
    deliverer's streams. Once more is waiting than the queue holds, the subscription is cut off:
    the reader gets SlowConsumer and its client resumes from its cursor."""

    user_id: int
    queue: Mailbox = field(repr=False)
    overflowed: bool = False
    # Whether outage polls wake it: a bare subscription does not know which seqs it has seen,
    # so it would be woken again and again with the same last seq.
    polled: ClassVar[bool] = False

    def wake(self, seq: int) -> None:
        self.put(seq)

    def inbox_reaches(self, last: int) -> None:
        """An outage poll found the user's inbox reaching `last` (for `polled` ones only)."""
        self.wake(last)

    def put(self, item: Any) -> None:
        """Queue one item; a full queue cuts the subscription off."""
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflow()

    def overflow(self) -> None:
        self.overflowed = True
        # Make room for one marker so the reader notices at once.
        with contextlib.suppress(asyncio.QueueEmpty):
            self.queue.get_nowait()
        self.queue.put_nowait(RESYNC)

    async def next(self) -> Any:
        """The next item (a seq, or RESYNC); raises SlowConsumer once cut off."""
        item = await self.queue.get()
        if self.overflowed:
            raise SlowConsumer
        return item

    def drain(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()


class Hub:
    def __init__(
        self,
        url: str,
        channel: str = "crmfeed.notifications",
        *,
        queue_size: int = 256,
        heartbeat_seconds: float = 1.0,
        heartbeat_timeout: float = 5.0,
        max_backoff: float = 10.0,
        publish_timeout: float | None = None,
        outage_poll_seconds: float = 1.0,
    ) -> None:
        self.url = url
        self.channel = channel
        self.queue_size = queue_size
        self.heartbeat_seconds = heartbeat_seconds
        self.heartbeat_timeout = heartbeat_timeout
        self.max_backoff = max_backoff
        # A publish that takes longer counts as a failed one (local delivery, resync later).
        self.publish_timeout = publish_timeout or heartbeat_timeout
        self.outage_poll_seconds = outage_poll_seconds
        self.instance = uuid.uuid4().hex
        self._subscriptions: dict[int, set[LocalSubscription]] = {}
        self._broadcast: Broadcast | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._changed = asyncio.Event()  # connected or down since the poller last looked
        self._pipe_failed = False  # a publish failed: the listener must rebuild the pipe
        self._waiting: asyncio.Timeout | None = None  # the listener's wait for a message
        self._poller: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_heartbeat = 0.0
        self._unsent = False  # a wake-up went to local subscribers only
        self.reconnects = 0
        self.outage_polls = 0  # inbox polls made while the pipe was down
        self._worked = False  # the current listener got connected
        self.deliverer: Deliverer | None = None  # created by the first delivery stream
        self.sessions = Sessions()  # this process's open websockets
        self._rechecks: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Started and not stopped since."""
        return self._supervisor is not None and not self._stopping

    async def start(self) -> None:
        self._stopping = False
        self._supervisor = asyncio.create_task(self._supervise(), name="crmfeed-hub")
        try:
            async with asyncio.timeout(self.heartbeat_timeout):
                await self._connected.wait()
        except TimeoutError:
            log.warning("live push: %s not reachable yet; retrying in the background", self.url)
        self._poller = asyncio.create_task(self._poll_while_down(), name="crmfeed-hub-poller")

    async def stop(self, grace: float = 5.0) -> None:
        self._set_down()
        self._stopping = True
        self._changed.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        poller, self._poller = self._poller, None
        if poller is not None:
            # Let a poll under way finish (cancelled mid-statement, it could leave its
            # connection checked out inside a transaction); it ends once it sees _stopping.
            done, _ = await asyncio.wait({poller}, timeout=grace)
            if not done:
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
        if self._rechecks:  # as the poll: let a re-check under way finish its statement
            await asyncio.wait(set(self._rechecks), timeout=grace)
        if self.deliverer is not None:
            await self.deliverer.stop()
            self.deliverer = None  # a restarted hub starts a fresh one
        await self._close_broadcast()

    @property
    def connected(self) -> bool:
        """Whether the pipe works: publishes go through it, and nothing is polled."""
        return self._connected.is_set()

    def _set_connected(self) -> None:
        if not self._connected.is_set():
            self._connected.set()
            self._changed.set()

    def _set_down(self) -> None:
        """Publishes from now on go to local subscribers only, and the poller starts."""
        if self._connected.is_set():
            self._connected.clear()
            self._changed.set()

    # -- local subscriptions ---------------------------------------------------------------------

    def subscribe(self, user_id: int) -> LocalSubscription:
        """A subscription whose queue receives the user's wake-ups (seqs, or RESYNC)."""
        return self.add(LocalSubscription(user_id, Mailbox(self.queue_size)))

    def add(self, subscription: S) -> S:
        """Register a subscription (or a subclass handling its own wake-ups)."""
        subscribers = self._subscriptions.setdefault(subscription.user_id, set())
        if subscription not in subscribers:
            subscribers.add(subscription)
            metrics.SUBSCRIPTIONS.inc()
        return subscription

    def unsubscribe(self, subscription: LocalSubscription) -> None:
        subscribers = self._subscriptions.get(subscription.user_id)
        if subscribers is not None and subscription in subscribers:
            subscribers.discard(subscription)
            metrics.SUBSCRIPTIONS.dec()
            if not subscribers:
                del self._subscriptions[subscription.user_id]

    @property
    def subscription_count(self) -> int:
        return sum(len(s) for s in self._subscriptions.values())

    def _dispatch(self, pairs: Iterable[tuple[int, int]]) -> None:
        for user_id, seq in pairs:
            for subscription in list(self._subscriptions.get(user_id, ())):
                subscription.wake(seq)

    def _resync_all(self) -> None:
        for subscribers in list(self._subscriptions.values()):
            for subscription in list(subscribers):
                subscription.wake(RESYNC)
        # "Sessions ended" messages may have been lost like the wake-ups: ask the database.
        task = asyncio.get_running_loop().create_task(self._recheck_sessions_logged())
        self._rechecks.add(task)
        task.add_done_callback(self._rechecks.discard)

    async def recheck_sessions(self) -> None:
        """Close the open sockets of users deactivated and tokens revoked meanwhile: two
        statements for all of this process's sockets."""
        deliverer, opened = self.deliverer, self.sessions.tokens()
        if deliverer is None or not opened:
            return
        inactive, revoked = await deliverer.ended_sessions(
            {user_id for user_id, _ in opened}, {token_id for _, token_id in opened}
        )
        self.sessions.end_found(inactive, revoked)

    async def _recheck_sessions_logged(self) -> None:
        try:
            await self.recheck_sessions()
        except Exception:  # the database may be away too: the next resync or poll asks again
            log.exception("live push: re-checking the open sessions failed")

    # -- publishing ------------------------------------------------------------------------------

    async def publish(self, pairs: list[tuple[int, int]]) -> None:
        """Announce committed notifications. Best effort: the inbox already holds them."""
        if not pairs:
            return
        broadcast = self._broadcast
        if broadcast is not None and self.connected:
            try:
                await self._bounded(broadcast.publish(self.channel, json.dumps({"n": pairs})))
                return
            except Exception as error:  # the pipe dropped, or is too slow to count on
                log.warning("live push: publish failed (%r); local delivery only", error)
                self._publish_failed(broadcast)
        # Local subscribers now. The other processes may never have lost their own pipe (so
        # they will not resync by themselves): once ours works again, tell them all to.
        self._unsent = True
        self._dispatch(pairs)

    async def end_sessions(self, user_id: int, token_id: str | None, why: Ended) -> None:
        """Have every process close the user's websockets (those of one token, if given).

        Called after the commit that ended them; HTTP requests are refused by the database
        from then on. Should the pipe be down, this process closes its own sockets and, once
        the pipe is back, has every process resync; elsewhere, a deactivated user's
        subscription ends at its next delivery (the deliverer reads active users only)."""
        message = json.dumps({END: [user_id, token_id, why.value]})
        broadcast = self._broadcast
        if broadcast is not None and self.connected:
            try:
                await self._bounded(broadcast.publish(self.channel, message))
                return
            except Exception as error:
                log.warning("live push: publish failed (%r); local sessions only", error)
                self._publish_failed(broadcast)
        self._unsent = True
        self.sessions.end(user_id, token_id, why)

    def _publish_failed(self, broadcast: Broadcast) -> None:
        """A publish through `broadcast` failed: count the pipe as down (poll) at once, and
        have the listener rebuild it, unless it has already been rebuilt meanwhile."""
        if broadcast is self._broadcast:
            self._pipe_failed = True
            self._set_down()
            self._wake_listener()

    def _wake_listener(self) -> None:
        """End the listener's wait for a message now, so it looks at the pipe's state."""
        waiting = self._waiting
        if waiting is not None:
            with contextlib.suppress(RuntimeError):  # the wait ended meanwhile
                waiting.reschedule(asyncio.get_running_loop().time())

    async def _announce_resync(self, broadcast: Broadcast) -> None:
        """If some wake-ups could not go through the pipe, have every process resync."""
        if not self._unsent:
            return
        self._unsent = False
        try:
            await self._bounded(
                broadcast.publish(self.channel, json.dumps({RESYNC_ALL: self.instance}))
            )
        except Exception:
            self._unsent = True
            raise

    # -- the watched listener --------------------------------------------------------------------

    async def _bounded(self, step: Awaitable[Any], seconds: float | None = None) -> Any:
        """Await one network step of the pipe, at most `seconds` (default: publish_timeout).

        `asyncio.timeout`, not `wait_for`, here and wherever the hub waits: on Python 3.11,
        `wait_for` returns the result of a step that ends just as the task is cancelled and
        swallows the cancellation (the listener then never stopped)."""
        async with asyncio.timeout(seconds or self.publish_timeout):
            return await step

    async def _supervise(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # reconnect on any failure of the pipe
                log.warning("live push: listener stopped (%r); reconnecting", error)
            self._set_down()
            if self._worked:
                backoff = 0.2  # it worked until now: this outage starts a fresh backoff
            await self._close_broadcast()
            self.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _listen(self) -> None:
        """Connect, subscribe and dispatch until the pipe fails (it raises then)."""
        self._worked = False
        self._pipe_failed = False
        broadcast = make_broadcast(self.url)
        self._broadcast = broadcast
        await self._bounded(broadcast.connect(), self.heartbeat_timeout)
        subscribing = broadcast.subscribe(self.channel)
        subscriber = await self._bounded(subscribing.__aenter__(), self.heartbeat_timeout)
        stopped = asyncio.Event()
        heartbeat = asyncio.create_task(self._beat(broadcast, stopped), name="crmfeed-hub-beat")

        def beat_ended(_: asyncio.Task[None]) -> None:
            if not stopped.is_set():  # the beat failed: the listener notices at once
                self._wake_listener()

        heartbeat.add_done_callback(beat_ended)
        try:
            loop = asyncio.get_running_loop()
            self._last_heartbeat = loop.time()
            self._set_connected()  # publishes go through the pipe again; polling stops
            self._worked = True
            self._resync_all()  # anything published while we were away is in the inbox
            await self._announce_resync(broadcast)
            while True:
                remaining = self._last_heartbeat + self.heartbeat_timeout - loop.time()
                if remaining <= 0 or heartbeat.done():
                    raise ConnectionError("no heartbeat through the pipe")
                if self._pipe_failed:
                    raise ConnectionError("a publish through the pipe failed")
                try:
                    async with asyncio.timeout(remaining) as self._waiting:
                        event = await subscriber.get()
                except TimeoutError:
                    continue
                finally:
                    self._waiting = None
                self._receive(event.message)
        finally:
            # First of all: publishes from now on go to local subscribers (and set _unsent).
            self._set_down()
            stopped.set()
            heartbeat.cancel()
            # Never wait for the heartbeat (or the unsubscribe) without a limit: a cancelled
            # task stuck in a Redis call, or one whose cancellation was swallowed, must not
            # keep the listener from reconnecting.
            await asyncio.wait({heartbeat}, timeout=1.0)
            with contextlib.suppress(Exception):
                await self._bounded(subscribing.__aexit__(None, None, None), 1.0)

    def _receive(self, message: str) -> None:
        if message == PIPE_LOST:
            raise ConnectionError("the pub/sub connection dropped")
        try:
            body = json.loads(message)
        except (TypeError, ValueError):
            return
        if body.get(HEARTBEAT) == self.instance:
            self._last_heartbeat = asyncio.get_running_loop().time()
            return
        if RESYNC_ALL in body:
            self._resync_all()
            return
        ended = body.get(END)
        if isinstance(ended, list) and len(ended) == 3:
            user, token_id, why = ended
            with contextlib.suppress(TypeError, ValueError):
                self.sessions.end(int(user), token_id, Ended(why))
            return
        pairs = body.get("n")
        if isinstance(pairs, list):
            self._dispatch((int(user), int(seq)) for user, seq in pairs)

    async def _beat(self, broadcast: Broadcast, stopped: asyncio.Event) -> None:
        beat = json.dumps({HEARTBEAT: self.instance})
        # Also ends by itself once the listener stopped, should a cancellation get lost.
        while not stopped.is_set():
            await self._bounded(broadcast.publish(self.channel, beat), self.heartbeat_timeout)
            await self._announce_resync(broadcast)
            await asyncio.sleep(self.heartbeat_seconds)

    # -- polling while the pipe is down -----------------------------------------------------------

    async def _poll_while_down(self) -> None:
        """While the pipe is down, poll the inboxes every `outage_poll_seconds` (the first time
        as soon as the outage is noticed); sleep while it works."""
        outage_from: int | None = None  # outage_polls when this outage was noticed
        while not self._stopping:
            self._changed.clear()
            if self.connected:
                if outage_from is not None:
                    log.warning(
                        "live push: %s is reachable again; stopped polling the inbox "
                        "after %d polls",
                        self.url,
                        self.outage_polls - outage_from,
                    )
                    outage_from = None
                await self._changed.wait()
                continue
            if outage_from is None:
                outage_from = self.outage_polls
                log.warning(
                    "live push: %s is unreachable; polling the inbox every %s s",
                    self.url,
                    self.outage_poll_seconds,
                )
            try:
                await self.poll_inboxes()
                await self.recheck_sessions()
            except Exception:  # the database may be down too: try again at the next turn
                log.exception("live push: an outage poll of the inbox failed")
            with contextlib.suppress(TimeoutError):  # or until the pipe is back, or stop()
                async with asyncio.timeout(self.outage_poll_seconds):
                    await self._changed.wait()

    async def poll_inboxes(self) -> None:
        """Read, in one statement, how far the inbox of each user with a polled subscription
        goes, and wake those subscriptions with it (each reads from its own cursor on)."""
        deliverer = self.deliverer
        users = {
            user_id
            for user_id, subscribers in self._subscriptions.items()
            if any(subscription.polled for subscription in subscribers)
        }
        if deliverer is None or not users:
            return
        self.outage_polls += 1
        counters = await deliverer.last_seqs(users)
        for user_id, last in counters.items():
            for subscription in list(self._subscriptions.get(user_id, ())):
                if subscription.polled:
                    subscription.inbox_reaches(last)

    async def _close_broadcast(self) -> None:
        broadcast, self._broadcast = self._broadcast, None
        if broadcast is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await broadcast.disconnect()
