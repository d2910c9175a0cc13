"""Scale-out for real: two uvicorn processes on one PostgreSQL schema and one
Redis channel. A reply made through process A reaches a websocket subscriber of process B; a
Redis pub/sub outage loses no notification and live push resumes after it.

Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379; when either is down the test
fails with the command that starts it.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from tests.live_helpers import WsClient
from tests.processes import (
    FreezableProxy,
    HttpApi,
    fresh_postgres_schema,
    kill_pubsub_connections,
    postgres_env,
    reply,
    require_redis,
    seq,
    server_processes,
    stop_process,
    thread,
)
from tests.records_helpers import new_org

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


pytestmark = pytest.mark.postgres


def env_for(schema: str) -> dict[str, str]:
    """Both processes' environment. The heartbeat watchdog's timeout and the polling interval
    during outages are set far above the bounded waits below, so only the live pipe (and the
    hub's resync after a reconnect it noticed at once) can deliver in time, not a periodic
    reconnect of a broken listener nor the polls (tests/test_broker_outage.py pins those)."""
    return postgres_env(schema, LIVE_HEARTBEAT_TIMEOUT="30", LIVE_OUTAGE_POLL_SECONDS="60")


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL schema (Redis checked first)."""
    await require_redis()
    async with fresh_postgres_schema() as name:
        yield name


async def test_a_reply_through_one_process_reaches_a_subscriber_of_the_other(
    schema: str, tmp_path: Path
) -> None:
    env = env_for(schema)
    async with server_processes(tmp_path, {"A": env, "B": env}) as (a, b):
        api_a, api_b = HttpApi(a.http_url), HttpApi(b.http_url)
        try:
            org = await new_org(api_a)  # type: ignore[arg-type]
            ann = await org.user("Ann")
            bob = await org.user("Bob")
            item = await thread(org, ann, bob)
            async with (
                WsClient.connect(b.ws_url, bob.token) as on_b,
                WsClient.connect(a.ws_url, ann.token, "graphql-ws") as on_a,
            ):
                await on_b.acknowledged()
                await on_b.subscribe("1")
                await on_a.acknowledged()
                await on_a.subscribe("1")
                assert await on_b.nothing_within(0.3)

                loop = asyncio.get_running_loop()
                started = loop.time()
                await reply(api_a, ann, item, "Through A")
                pushed = await on_b.next_notification(timeout=10)
                took = loop.time() - started
                assert pushed["kind"] == "REPLY"
                assert pushed["message"] == "Ann replied: Through A"
                assert pushed["feedItem"]["id"] == item

                # and the other way: a reply made through B reaches Ann's socket on A.
                await reply(api_b, bob, item, "Through B")
                back = await on_a.next_notification(timeout=10)
                assert (back["kind"], back["message"]) == ("REPLY", "Bob replied: Through B")
                print(f"A -> B push took {took * 1000:.0f} ms (reply round trip included)")
        finally:
            await api_a.aclose()
            await api_b.aclose()


@pytest.mark.parametrize("victims", ["A and B", "A", "B"])
async def test_a_redis_outage_loses_no_notification(
    schema: str, tmp_path: Path, victims: str
) -> None:
    """Kill the Redis pub/sub connections of A (the writer), B (the subscriber's process) or
    both, again and again for 3 s, posting replies through A meanwhile: B's subscriber gets
    every one, once, in order, and a reply after the outage arrives promptly."""
    env = env_for(schema)
    async with server_processes(tmp_path, {"A": env, "B": env}) as (a, b):
        targets = {"A and B": (a, b), "A": (a,), "B": (b,)}[victims]
        api_a = HttpApi(a.http_url)
        try:
            org = await new_org(api_a)  # type: ignore[arg-type]
            ann = await org.user("Ann")
            bob = await org.user("Bob")
            item = await thread(org, ann, bob)
            received: list[dict[str, Any]] = []
            async with WsClient.connect(b.ws_url, bob.token) as client:
                await client.acknowledged()
                await client.subscribe("1")
                await reply(api_a, ann, item, "before")
                received.append(await client.next_notification(timeout=10))

                loop = asyncio.get_running_loop()
                outage_ends = loop.time() + 3.0
                killed = 0
                during = 0
                while loop.time() < outage_ends:
                    killed += await kill_pubsub_connections(*targets)
                    await reply(api_a, ann, item, f"during {during}")
                    during += 1
                assert killed >= 2, f"no pub/sub connection of {victims} was found to kill"

                # the replies written during the outage arrive (resync after the reconnect)
                for _ in range(during):
                    received.append(await client.next_notification(timeout=10))
                recovered_at = loop.time()
                started = loop.time()
                await reply(api_a, ann, item, "after")
                received.append(await client.next_notification(timeout=10))
                prompt = loop.time() - started
                assert await client.nothing_within(0.5)

            assert [seq(n["cursor"]) for n in received] == list(range(1, during + 3))
            assert [n["message"] for n in received] == [
                "Ann replied: before",
                *(f"Ann replied: during {n}" for n in range(during)),
                "Ann replied: after",
            ]
            recovery = recovered_at - outage_ends
            print(
                f"killed {killed} pub/sub connections of {victims} over 3 s while {during} "
                f"replies were posted; all delivered {recovery:.2f} s after the outage; "
                f"the next reply took {prompt * 1000:.0f} ms"
            )
        finally:
            await api_a.aclose()


async def test_a_client_of_a_stopped_process_resumes_on_the_other(
    schema: str, tmp_path: Path
) -> None:
    """Stopping B (SIGTERM, as in a rolling restart) closes its sockets with 1012; the client
    reconnects to A with its last cursor and gets what was written meanwhile, then live."""
    import websockets

    env = env_for(schema)
    async with server_processes(tmp_path, {"A": env, "B": env}) as (a, b):
        api_a = HttpApi(a.http_url)
        try:
            org = await new_org(api_a)  # type: ignore[arg-type]
            ann = await org.user("Ann")
            bob = await org.user("Bob")
            item = await thread(org, ann, bob)
            async with WsClient.connect(b.ws_url, bob.token) as client:
                await client.acknowledged()
                await client.subscribe("1")
                await reply(api_a, ann, item, "one")
                first = await client.next_notification(timeout=10)
                # uvicorn shuts down gracefully, then re-raises the signal it caught
                assert await stop_process(b) in (0, -signal.SIGTERM)
                assert "Application shutdown complete." in b.log()
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await client.receive(timeout=10)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1012
            await reply(api_a, ann, item, "two")
            await reply(api_a, ann, item, "three")
            async with WsClient.connect(a.ws_url, bob.token) as client:
                await client.acknowledged()
                await client.subscribe("1", after=first["cursor"])
                missed = [await client.next_notification(timeout=10) for _ in range(2)]
                await reply(api_a, ann, item, "four")
                live = await client.next_notification(timeout=10)
                assert await client.nothing_within(0.3)
            assert [n["message"] for n in (first, *missed, live)] == [
                f"Ann replied: {word}" for word in ("one", "two", "three", "four")
            ]
            assert [seq(n["cursor"]) for n in (first, *missed, live)] == [1, 2, 3, 4]
        finally:
            await api_a.aclose()


# -- a silent pipe ---------------------------------------------------------------------------------


async def test_a_pipe_that_goes_silent_is_rebuilt_by_the_heartbeat_watchdog() -> None:
    """B's Redis connections stop answering without an error: B notices that its heartbeats no
    longer come back, rebuilds its subscription and resyncs its subscribers."""
    from urllib.parse import urlparse

    from crmfeed.live.hub import RESYNC, Hub
    from tests.processes import REDIS_URL

    await require_redis()
    redis_port = urlparse(REDIS_URL).port or 6379
    proxy = FreezableProxy(redis_port)
    port = await proxy.start()
    channel = f"crmfeed.test.silent.{uuid.uuid4().hex[:8]}"
    a = Hub(REDIS_URL, channel, heartbeat_seconds=0.1, heartbeat_timeout=1.0)
    b = Hub(f"redis://127.0.0.1:{port}", channel, heartbeat_seconds=0.1, heartbeat_timeout=1.0)
    await a.start()
    await b.start()
    try:
        assert a.connected and b.connected
        subscription = b.subscribe(7)
        await a.publish([(7, 1)])
        assert await asyncio.wait_for(subscription.next(), 5) == 1

        proxy.freeze()
        await a.publish([(7, 2)])  # lost on B's frozen connection
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await asyncio.wait_for(subscription.next(), 10) == RESYNC
        noticed = loop.time() - started
        assert b.reconnects >= 1
        await a.publish([(7, 3)])
        while (woken := await asyncio.wait_for(subscription.next(), 5)) == RESYNC:
            pass
        assert woken == 3
        print(f"a silent pipe was rebuilt and resynced {noticed:.2f} s after it froze")
    finally:
        await b.stop()
        await a.stop()
        await proxy.close()


async def within(seconds: float, step: Any, what: str) -> Any:
    """Await `step` for at most `seconds` and fail otherwise, without waiting for a step that
    will not end to finish being cancelled."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    assert done, f"{what} did not finish within {seconds} s"
    return task.result()


async def test_a_saturated_loop_while_the_watchdog_fires_does_not_stop_live_push() -> None:
    """B's event loop is saturated (thousands of concurrent publishes) and blocked past its
    heartbeat timeout, so its watchdog fires while Redis calls are in flight. B must rebuild its
    listener with bounded waits and go on dispatching: its own publishes wake its subscriber at
    once, and once reconnected, a publish by A reaches that subscriber through Redis. Each step
    is bounded, so a hub that hangs fails here instead of hanging the test."""
    from crmfeed.live.hub import Hub
    from tests.processes import REDIS_URL

    await require_redis()
    channel = f"crmfeed.test.saturated.{uuid.uuid4().hex[:8]}"
    a = Hub(REDIS_URL, channel, heartbeat_seconds=0.05, heartbeat_timeout=0.5)
    b = Hub(REDIS_URL, channel, queue_size=100_000, heartbeat_seconds=0.05, heartbeat_timeout=0.5)
    await within(10, a.start(), "starting A")
    await within(10, b.start(), "starting B")
    loop = asyncio.get_running_loop()

    async def woken_with(subscription: Any, seq: int, seconds: float) -> None:
        deadline = loop.time() + seconds
        while True:
            left = deadline - loop.time()
            assert left > 0, f"seq {seq} never woke the subscriber"
            if await within(left, subscription.next(), f"waiting for seq {seq}") == seq:
                return

    try:
        subscription = b.subscribe(7)
        await within(10, a.publish([(7, 1)]), "A's first publish")
        await woken_with(subscription, 1, 5)
        for round_number in range(3):
            reconnects = b.reconnects
            base = 10_000 * (round_number + 1)
            publishes = [asyncio.create_task(b.publish([(7, base + n)])) for n in range(2_000)]
            await asyncio.sleep(0)  # they are all on their way to Redis ...
            time.sleep(1.0)  # noqa: ASYNC251 ... when the loop stalls past the heartbeat timeout
            await within(30, asyncio.gather(*publishes), "B's 2,000 publishes")
            deadline = loop.time() + 15
            while b.reconnects == reconnects:
                assert loop.time() < deadline, "B's watchdog never fired"
                await asyncio.sleep(0.05)
            # B's own publishes wake its subscriber at once, connected or not ...
            await within(10, b.publish([(7, base + 5_000)]), "B's publish after the stall")
            await woken_with(subscription, base + 5_000, 10)
            # ... and once both are connected again, A's publishes reach B through Redis.
            deadline = loop.time() + 15
            while not (a.connected and b.connected):
                assert loop.time() < deadline, "the hubs never reconnected"
                await asyncio.sleep(0.05)
            await within(10, a.publish([(7, base + 5_001)]), "A's publish after the stall")
            await woken_with(subscription, base + 5_001, 10)
    finally:
        await within(10, b.stop(), "stopping B")
        await within(10, a.stop(), "stopping A")
