"""Login throttling: failed logins are counted per account (email) and per client address;
and the tries of `bindMailbox`, each a login on a mail server, per user.

Each failed login is a hit in moving windows (the `limits` library's moving-window strategy)
for its email and for the client's address. A login whose email or address has a full window
is refused before any password is checked, with the seconds until the window lets one more in:

- growing delays: after `LOGIN_DELAY_AFTER_FAILURES` failures of one email in quick
  succession it waits `LOGIN_DELAY_SECONDS`, after one more twice that, and so on (windows of
  "n failures per d seconds", "n + 1 per 2d", ...);
- a lock: `LOGIN_MAX_FAILURES` failures of one email within `LOGIN_LOCK_SECONDS` refuse every
  login to it (the right password too) until the oldest of them is that old;
  `LOGIN_ADDRESS_MAX_FAILURES` failures from one address, whatever the emails, the same.

Unknown emails are counted like known ones, so the answers tell nothing about which exist. A
successful login clears its email's windows (not its address's: a client cannot wash away its
guesses with an account of its own). The windows live in Redis when BROADCAST_URL is a redis
URL, so every process sees every failure; in the process's memory otherwise. While Redis does
not answer, each process counts in its own memory (and logs it) rather than stop all logins.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

if TYPE_CHECKING:
    from limits import RateLimitItem

    from crmfeed.settings import Settings

log = logging.getLogger(__name__)

REDIS_SCHEMES = ("redis://", "rediss://")
# After Redis failed to answer, count in memory this long before asking it again (a Redis that
# is gone would otherwise cost each login a connection attempt per window).
REDIS_RETRY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a login is refused now: `by` is "account" or "address"; retry after `seconds`."""

    by: str
    seconds: int


def account_windows(settings: Settings) -> list[RateLimitItem]:
    """The growing delays, then the lock, for one email's failures."""
    windows: list[RateLimitItem] = []
    failures = max(1, settings.login_delay_after_failures)
    delay = settings.login_delay_seconds
    while 0 < delay < settings.login_lock_seconds and failures < settings.login_max_failures:
        windows.append(RateLimitItemPerSecond(failures, delay))
        failures += 1
        delay *= 2
    windows.append(RateLimitItemPerSecond(settings.login_max_failures, settings.login_lock_seconds))
    return windows


def address_windows(settings: Settings) -> list[RateLimitItem]:
    return [
        RateLimitItemPerSecond(settings.login_address_max_failures, settings.login_lock_seconds)
    ]


class LoginThrottle:
    """One app's login throttle; `close()` releases its Redis connections."""

    def __init__(self, settings: Settings) -> None:
        self.windows = {
            "account": account_windows(settings),
            "address": address_windows(settings),
            "mailbox": [
                RateLimitItemPerSecond(
                    settings.mailbox_bind_max_attempts, settings.mailbox_bind_window_seconds
                )
            ],
        }
        self.memory = MovingWindowRateLimiter(MemoryStorage())
        self.shared: MovingWindowRateLimiter | None = None
        self._pool: ConnectionPool | None = None
        self._redis_down = False
        self._redis_retry_at = 0.0
        if settings.broadcast_url.startswith(REDIS_SCHEMES):
            self._pool = ConnectionPool.from_url(
                settings.broadcast_url,
                socket_connect_timeout=2,
                socket_timeout=2,
                retry=Retry(NoBackoff(), 1),  # one reconnect at once, then the memory fallback
            )
            storage = RedisStorage(
                f"async+{settings.broadcast_url}",
                wrap_exceptions=True,
                implementation="redispy",
                # Deployments sharing a Redis keep apart, as their notifications do.
                key_prefix=f"{settings.broadcast_channel}.login",
                connection_pool=self._pool,
            )
            self.shared = MovingWindowRateLimiter(storage)

    async def refusal(self, email: str, address: str) -> Refusal | None:
        """Whether a login for `email` from `address` must wait, and how long."""
        waits = [await self._wait(by, key) for by, key in self._keys(email, address)]
        return max(filter(None, waits), key=lambda refusal: refusal.seconds, default=None)

    async def mailbox_try(self, user_id: int) -> Refusal | None:
        """Count a mailbox binding try of the user's, unless their window is full: then the
        refusal, and nothing counted."""
        key = str(user_id)
        refused = await self._wait("mailbox", key)
        if refused is None:
            for window in self.windows["mailbox"]:
                await self._call("hit", window, "mailbox", key)
        return refused

    async def _wait(self, by: str, key: str) -> Refusal | None:
        seconds = 0.0
        for window in self.windows[by]:
            if not await self._call("test", window, by, key):
                reset, _ = await self._call("get_window_stats", window, by, key)
                seconds = max(seconds, reset - time.time())
        return Refusal(by, max(1, math.ceil(seconds))) if seconds > 0 else None

    async def failed(self, email: str, address: str) -> None:
        """Count a failed login against its email and its address."""
        for by, key in self._keys(email, address):
            for window in self.windows[by]:
                await self._call("hit", window, by, key)

    async def succeeded(self, email: str) -> None:
        """A successful login forgets its email's failures."""
        key = _email_key(email)
        for window in self.windows["account"]:
            await self._call("clear", window, "account", key)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    @staticmethod
    def _keys(email: str, address: str) -> list[tuple[str, str]]:
        return [("account", _email_key(email)), ("address", address)]

    async def _call(self, method: str, window: RateLimitItem, by: str, key: str) -> object:
        if self.shared is not None and time.monotonic() >= self._redis_retry_at:
            try:
                answer = await getattr(self.shared, method)(window, by, key)
            except StorageError as error:
                if not self._redis_down:
                    log.warning(
                        "Login throttle: Redis does not answer (%s); counting failed logins "
                        "in this process until it does.",
                        error.storage_error,
                    )
                self._redis_down = True
                self._redis_retry_at = time.monotonic() + REDIS_RETRY_SECONDS
            else:
                if self._redis_down:
                    log.warning("Login throttle: Redis answers again.")
                self._redis_down = False
                return answer
        return await getattr(self.memory, method)(window, by, key)


def _email_key(email: str) -> str:
    """A fixed-size key: the email as typed may be anything, and needn't be stored in clear."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()
