"""Login abuse (issue 15 item 3): throttling per account and per client address with growing
delays and a lock, one answer for unknown emails and wrong passwords, password hashing bounded
per process, and weak passwords refused.

Each throttling test builds its own app on the session's database (its own settings, throttle
and password hashing, the shared engine), so its small limits touch no other test; the clients
of one app may come from different addresses. The lock and the delays are waited out by
sleeping the `retryAfter` the API answered, never by measuring time. The last test runs two
real processes sharing Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from argon2 import PasswordHasher

from crmfeed.app import create_app
from crmfeed.security import Passwords
from crmfeed.throttle import LoginThrottle
from tests.conftest import Api, unique_email
from tests.helpers import CREATE_USER, LOGIN, PASSWORD, REGISTER, register
from tests.live_helpers import free_port
from tests.processes import (
    HttpApi,
    fresh_postgres_schema,
    postgres_env,
    require_redis,
    server_processes,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from crmfeed.app import Services

WRONG = "not-the-password-at-all"
THROTTLED = "TOO_MANY_ATTEMPTS"


class Site:
    """One app on the session's database with its own settings; `client(address)` talks to it
    as a client connecting from `address`."""

    def __init__(self, services: Services, **overrides: Any) -> None:
        settings = services.settings.model_copy(update=overrides)
        self.services = dataclasses.replace(
            services,
            settings=settings,
            passwords=Passwords(settings),
            throttle=LoginThrottle(settings),
        )
        self.app = create_app(self.services)

    @contextlib.asynccontextmanager
    async def client(self, address: str = "203.0.113.1") -> AsyncIterator[Api]:
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, self.services)


@contextlib.asynccontextmanager
async def site_client(services: Services, **overrides: Any) -> AsyncIterator[Api]:
    site = Site(services, **overrides)
    try:
        async with site.client() as api:
            yield api
    finally:
        await site.services.throttle.close()


async def attempt(api: Any, email: str, password: str) -> dict[str, Any]:
    """The whole answer to a login."""
    return await api.raw(LOGIN, {"email": email, "password": password})


def code(answer: dict[str, Any]) -> str | None:
    errors = answer.get("errors")
    return errors[0]["extensions"]["code"] if errors else None


def retry_after(answer: dict[str, Any]) -> int:
    error = answer["errors"][0]
    assert error["extensions"]["code"] == THROTTLED, answer
    seconds = error["extensions"]["retryAfter"]
    assert isinstance(seconds, int)
    assert seconds >= 1
    assert f"try again in {seconds} seconds" in error["message"]
    return seconds


async def account(api: Api) -> str:
    """A new enterprise's admin; their email (password `PASSWORD`)."""
    email = unique_email("victim")
    await register(api, email=email)
    return email


# -- per account ---------------------------------------------------------------------------------


async def test_wrong_passwords_lock_the_account_even_for_the_right_one_until_the_lock_ends(
    services: Services,
) -> None:
    limits = {"login_max_failures": 3, "login_lock_seconds": 2, "login_delay_seconds": 0}
    async with site_client(services, **limits) as api:
        email = await account(api)
        for _ in range(3):
            assert code(await attempt(api, email, WRONG)) == "UNAUTHENTICATED"

        locked = await attempt(api, email, PASSWORD)
        seconds = retry_after(locked)
        assert seconds <= 2
        assert "this account" in locked["errors"][0]["message"]
        assert locked["data"] is None
        # Still locked for a wrong one, and those refusals do not make the lock longer.
        assert code(await attempt(api, email, WRONG)) == THROTTLED

        await asyncio.sleep(seconds)
        answer = await attempt(api, email, PASSWORD)
        assert code(answer) is None, answer
        assert answer["data"]["login"]["token"]


async def test_a_successful_login_clears_the_accounts_failures(services: Services) -> None:
    limits = {"login_max_failures": 3, "login_lock_seconds": 600, "login_delay_seconds": 0}
    async with site_client(services, **limits) as api:
        email = await account(api)
        for _ in range(2):
            for _ in range(2):
                assert code(await attempt(api, email, WRONG)) == "UNAUTHENTICATED"
            assert code(await attempt(api, email, PASSWORD)) is None
        # Four failures in all, none since the last success: three more before the lock.
        for _ in range(3):
            assert code(await attempt(api, email, WRONG)) == "UNAUTHENTICATED"
        assert code(await attempt(api, email, PASSWORD)) == THROTTLED


async def test_the_delays_grow_with_each_failure_before_the_lock(services: Services) -> None:
    limits = {
        "login_max_failures": 6,
        "login_lock_seconds": 600,
        "login_delay_after_failures": 1,
        "login_delay_seconds": 1,
    }
    async with site_client(services, **limits) as api:
        email = await account(api)
        waits = []
        for _ in range(4):
            assert code(await attempt(api, email, WRONG)) == "UNAUTHENTICATED"
            seconds = retry_after(await attempt(api, email, PASSWORD))
            waits.append(seconds)
            await asyncio.sleep(seconds)
        # Windows of 1 failure per second, 2 per 2 s, 3 per 4 s, 4 per 8 s: 1, 1, 2, 4 s.
        assert waits[-1] > waits[0], waits
        assert waits == sorted(waits), waits


async def test_the_lock_counts_unknown_emails_like_known_ones(services: Services) -> None:
    limits = {"login_max_failures": 2, "login_lock_seconds": 600, "login_delay_seconds": 0}
    async with site_client(services, **limits) as api:
        known, unknown = await account(api), unique_email("nobody")
        answers: dict[str, list[str | None]] = {}
        for email in (known, unknown):
            answers[email] = [code(await attempt(api, email, WRONG)) for _ in range(3)]
        assert answers[known] == answers[unknown] == ["UNAUTHENTICATED"] * 2 + [THROTTLED]


# -- per address ---------------------------------------------------------------------------------


async def test_failures_from_one_address_across_emails_lock_that_address_only(
    services: Services,
) -> None:
    site = Site(services, login_address_max_failures=3, login_lock_seconds=600)
    try:
        async with site.client("198.51.100.7") as attacker, site.client("198.51.100.8") as other:
            victim = await account(other)
            for _ in range(3):
                answer = await attempt(attacker, unique_email("sprayed"), WRONG)
                assert code(answer) == "UNAUTHENTICATED"

            refused = await attempt(attacker, victim, PASSWORD)
            retry_after(refused)
            assert "this address" in refused["errors"][0]["message"]
            # A forwarded-for header does not make the address another one.
            spoofed = await attacker.client.post(
                "/graphql",
                json={"query": LOGIN, "variables": {"email": victim, "password": PASSWORD}},
                headers={"X-Forwarded-For": "192.0.2.99"},
            )
            assert code(spoofed.json()) == THROTTLED

            # Another address, and the victim's account, are untouched.
            assert code(await attempt(other, victim, PASSWORD)) is None
    finally:
        await site.services.throttle.close()


# -- unknown emails ------------------------------------------------------------------------------


@contextlib.contextmanager
def counted_verifications() -> Iterator[list[str]]:
    """Each argon2 verification made meanwhile (any hasher), by the hash it checked against."""
    calls: list[str] = []
    original = PasswordHasher.verify

    def verify(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        calls.append(hash if isinstance(hash, str) else hash.decode())
        return original(self, hash, password)

    PasswordHasher.verify = verify  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        PasswordHasher.verify = original  # type: ignore[method-assign]


async def test_an_unknown_email_gets_the_wrong_password_answer_after_the_same_work(
    api: Api,
) -> None:
    email = unique_email("known")
    await register(api, email=email)
    with counted_verifications() as calls:
        wrong = await attempt(api, email, WRONG)
        unknown = await attempt(api, unique_email("nobody"), WRONG)
    assert wrong == unknown
    assert code(wrong) == "UNAUTHENTICATED"
    assert wrong["errors"][0]["message"] == "The email or the password is wrong."
    # One argon2 verification each, against hashes made with the same parameters.
    assert len(calls) == 2
    params = [hash.rsplit("$", 2)[0] for hash in calls]
    assert params[0] == params[1]


# -- hashing off the event loop, bounded --------------------------------------------------------


async def test_at_most_the_configured_number_of_hashes_run_at_once(services: Services) -> None:
    running = 0
    peak = 0
    count = 0
    lock = threading.Lock()
    original = PasswordHasher.verify

    def verify(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        nonlocal running, peak, count
        with lock:
            running += 1
            count += 1
            peak = max(peak, running)
        try:
            time.sleep(0.05)  # hold the thread so that unbounded hashing would overlap
            return original(self, hash, password)
        finally:
            with lock:
                running -= 1

    site = Site(services, password_hash_concurrency=2, login_address_max_failures=1000)
    try:
        async with site.client() as api:
            emails = [unique_email("flood") for _ in range(12)]
            PasswordHasher.verify = verify  # type: ignore[method-assign]
            try:
                answers = await asyncio.gather(*(attempt(api, email, WRONG) for email in emails))
            finally:
                PasswordHasher.verify = original  # type: ignore[method-assign]
            assert [code(answer) for answer in answers] == ["UNAUTHENTICATED"] * 12
            assert count == 12
            assert 1 <= peak <= 2, peak
            # Nothing is left holding a slot: a login goes through afterwards.
            email = await account(api)
            assert code(await attempt(api, email, PASSWORD)) is None
    finally:
        await site.services.throttle.close()


async def test_logins_waiting_to_hash_hold_no_database_connection(services: Services) -> None:
    """A flood of logins queues for the hashing slots; while it waits it must not keep pooled
    connections, or every other request waits for one (and times out)."""
    entered = threading.Semaphore(0)
    release = threading.Event()
    original = PasswordHasher.verify

    def verify(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        entered.release()
        release.wait(30)
        return original(self, hash, password)

    site = Site(services, password_hash_concurrency=1, login_address_max_failures=1000)
    pool = services.engine.pool
    try:
        async with site.client() as api:
            emails = [unique_email("queue") for _ in range(6)]
            PasswordHasher.verify = verify  # type: ignore[method-assign]
            try:
                logins = asyncio.gather(*(attempt(api, email, WRONG) for email in emails))
                # One login hashes (held), five wait for the slot.
                assert await asyncio.to_thread(entered.acquire, True, 30)
                await asyncio.sleep(0.3)
                assert pool.checkedout() == 0  # type: ignore[attr-defined]
                release.set()
                answers = await logins
            finally:
                release.set()
                PasswordHasher.verify = original  # type: ignore[method-assign]
            assert [code(answer) for answer in answers] == ["UNAUTHENTICATED"] * 6
    finally:
        await site.services.throttle.close()


# -- the password policy -------------------------------------------------------------------------


def register_input(email: str, password: str) -> dict[str, Any]:
    return {
        "input": {
            "enterpriseName": "Lovelace Ltd",
            "adminName": "Ada Lovelace",
            "email": email,
            "password": password,
        }
    }


@pytest.mark.parametrize(
    "password",
    ["password1", "12345678", "qwertyuiop", "iloveyou", "Password123!", "aaaaaaaaaaaa", "abcdefgh"],
)
async def test_register_refuses_a_weak_password_and_creates_nothing(
    api: Api, password: str
) -> None:
    email = unique_email("weak")
    error = await api.error(REGISTER, register_input(email, password))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "password"
    assert error["message"].startswith("password is too easy to guess: ")
    assert code(await attempt(api, email, password)) == "UNAUTHENTICATED"


async def test_a_password_made_of_the_accounts_own_names_is_weak(api: Api) -> None:
    email = unique_email("lovelace")
    error = await api.error(REGISTER, register_input(email, "lovelace-ltd"))
    assert error["extensions"]["field"] == "password"
    assert "too easy to guess" in error["message"]


async def test_create_user_refuses_a_weak_password(api: Api) -> None:
    token, _ = await register(api)
    email = unique_email("weak")
    given = {"name": "Sam", "email": email, "password": "password123"}
    error = await api.error(CREATE_USER, {"input": given}, token=token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "password"
    assert code(await attempt(api, email, "password123")) == "UNAUTHENTICATED"


@pytest.mark.parametrize("password", ["demo-pass-123", "change-me-123", PASSWORD])
async def test_the_documented_passwords_are_strong_enough(api: Api, password: str) -> None:
    email = unique_email("documented")
    await api.ok(REGISTER, register_input(email, password))
    assert code(await attempt(api, email, password)) is None


# -- several processes share the throttle through Redis -----------------------------------------


@pytest.mark.postgres
async def test_two_processes_sharing_redis_count_the_same_failures(tmp_path: Path) -> None:
    await require_redis()
    async with fresh_postgres_schema() as schema:
        env = postgres_env(
            schema, LOGIN_MAX_FAILURES="4", LOGIN_LOCK_SECONDS="600", LOGIN_DELAY_SECONDS="0"
        )
        async with server_processes(tmp_path, {"A": env, "B": env}) as (a, b):
            api_a, api_b = HttpApi(a.http_url), HttpApi(b.http_url)
            try:
                email = await account(api_a)  # type: ignore[arg-type]
                for api in (api_a, api_b, api_a, api_b):
                    assert code(await attempt(api, email, WRONG)) == "UNAUTHENTICATED"
                # Two failures on each process, four in all: locked on both.
                for api in (api_a, api_b):
                    retry_after(await attempt(api, email, PASSWORD))
            finally:
                await api_a.aclose()
                await api_b.aclose()


async def test_without_redis_each_process_still_throttles_in_memory(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}"
    limits = {"login_max_failures": 2, "login_lock_seconds": 600, "login_delay_seconds": 0}
    async with site_client(services, broadcast_url=nowhere, **limits) as api:
        email = await account(api)
        assert code(await attempt(api, email, WRONG)) == "UNAUTHENTICATED"
        assert code(await attempt(api, email, WRONG)) == "UNAUTHENTICATED"
        assert code(await attempt(api, email, PASSWORD)) == THROTTLED
    assert "Redis does not answer" in caplog.text
