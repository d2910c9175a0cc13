"""Live push while the broker is down, with a Redis server that each test starts on its own
port, kills (SIGKILL) and starts again.

While Redis is unreachable each process polls the inbox counters of its connected users every
LIVE_OUTAGE_POLL_SECONDS, so a reply made through A still reaches a subscriber of B; once Redis
is back the processes reconnect, push through it again and stop polling (their /healthz counts
the polls). Pinned here: two uvicorn processes on PostgreSQL; two servers in this process on
SQLite and on PostgreSQL, where each poll is counted as one statement whatever the number of
subscribers; and a failed publish that starts polling and rebuilds the pipe at once. Needs the
`redis-server` binary (and PostgreSQL on 127.0.0.1:5432 for its tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import event

from crmfeed.app import Services
from crmfeed.live.hub import RESYNC, Hub
from crmfeed.live.sessions import CLOSES, Ended
from tests.live_helpers import WsClient, closed_with, running_server, subscribed
from tests.processes import (
    FreezableProxy,
    HttpApi,
    ServerProcess,
    follow,
    fresh_postgres_schema,
    own_redis,
    postgres_env,
    reply,
    seq,
    server_processes,
    thread,
)
from tests.records_helpers import new_org

LOGOUT = "mutation { logout }"
DEACTIVATE = "mutation($id: ID!) { deactivateUser(id: $id) { id } }"

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from crmfeed.settings import Settings
    from tests.processes import RedisServer


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_postgres_schema() as name:
        yield name


async def live_health(server: ServerProcess) -> dict[str, Any]:
    """The `live` part of the process's /healthz: broker state and outage polls so far."""
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(server.health_url)
    assert response.status_code == 200, response.text
    return response.json()["live"]


async def until_broker(state: str, *servers: ServerProcess, within: float = 30.0) -> None:
    """Wait (at most `within` seconds) until every server's /healthz reports `state`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    for server in servers:
        while (await live_health(server))["broker"] != state:
            assert loop.time() < deadline, f"{server.name} never reported the broker {state}"
            await asyncio.sleep(0.1)


@pytest.mark.postgres
async def test_replies_reach_a_subscriber_of_another_process_while_redis_is_down(
    schema: str, tmp_path: Path
) -> None:
    async with own_redis(tmp_path) as redis:
        env = postgres_env(schema, BROADCAST_URL=redis.url)
        async with server_processes(tmp_path, {"A": env, "B": env}) as (a, b):
            api_a, api_b = HttpApi(a.http_url), HttpApi(b.http_url)
            try:
                org = await new_org(api_a)  # type: ignore[arg-type]
                ann = await org.user("Ann")
                bob = await org.user("Bob")
                cid = await org.user("Cid")
                item = await thread(org, ann, bob, cid)
                received: list[dict[str, Any]] = []
                async with WsClient.connect(b.ws_url, bob.token) as client:
                    await client.acknowledged()
                    await client.subscribe("1")
                    await reply(api_a, ann, item, "before")
                    received.append(await client.next_notification(timeout=10))
                    assert (await live_health(b))["broker"] == "connected"

                    await redis.kill()
                    # Through A (B learns of it only by polling), and through B (its own
                    # subscriber is woken at once, and its polls then find nothing new).
                    writers = [(api_a, ann), (api_b, cid)] * 3
                    loop = asyncio.get_running_loop()
                    took: list[float] = []
                    for number, (api, who) in enumerate(writers):
                        started = loop.time()
                        await reply(api, who, item, f"during {number}")
                        received.append(await client.next_notification(timeout=5))
                        took.append(loop.time() - started)
                    during = await live_health(b)
                    assert during["broker"] == "unreachable"
                    assert during["outage_polls"] > 0

                    await redis.start()
                    await until_broker("connected", a, b)
                    await reply(api_a, ann, item, "after")
                    received.append(await client.next_notification(timeout=5))
                    polls = (await live_health(b))["outage_polls"]
                    assert await client.nothing_within(3.0)
                    # Polling stopped once Redis was back: the count did not move since.
                    assert (await live_health(b))["outage_polls"] == polls
            finally:
                await api_a.aclose()
                await api_b.aclose()

    print(
        "during the outage, replies reached B's subscriber after "
        + ", ".join(f"{seconds:.2f}" for seconds in took)
        + " s (through A, through B, ...)"
    )
    names = {ann.id: "Ann", cid.id: "Cid"}
    expected = ["before", *(f"during {n}" for n in range(len(writers))), "after"]
    assert [n["message"].split(": ", 1)[1] for n in received] == expected
    assert [n["message"].split(" ", 1)[0] for n in received] == [
        "Ann",
        *(names[who.id] for _, who in writers),
        "Ann",
    ]
    assert [seq(n["cursor"]) for n in received] == list(range(1, len(expected) + 1))
    assert len({n["id"] for n in received}) == len(received)


# -- two servers in this process, on SQLite and on PostgreSQL -----------------------------------


class PollerStatements:
    """The statements the hub's poller sends (counted by the name of the sending task)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name() == "crmfeed-hub-poller":
            self.statements.append(statement)


def two_servers_on(database: Settings, redis: RedisServer) -> tuple[Services, Services]:
    """Services of two servers on the module's database, sharing the test's own Redis on a
    channel of their own, polling the inbox every 0.2 s while it is down."""
    settings = database.model_copy(
        update={
            "broadcast_url": redis.url,
            "broadcast_channel": f"crmfeed.test.{uuid.uuid4().hex[:12]}",
            "live_outage_poll_seconds": 0.2,
        }
    )
    return Services.create(settings), Services.create(settings)


async def test_each_outage_poll_is_two_statements_for_all_subscribers(
    database: Settings, tmp_path: Path
) -> None:
    """Four subscriptions of three users on B; Redis dies; replies through A reach all four, in
    order, once; every poll B made was one statement on the inbox counters and one on the
    sockets' sessions, whatever the number of subscribers; once Redis is back, B stops
    polling."""
    async with own_redis(tmp_path) as redis:
        services_a, services_b = two_servers_on(database, redis)
        polls = PollerStatements()
        event.listen(services_b.engine.sync_engine, "before_cursor_execute", polls)
        async with (
            running_server(services_a) as ws_a,
            running_server(services_b) as ws_b,
            contextlib.AsyncExitStack() as stack,
        ):
            api_a = HttpApi(ws_a.replace("ws://", "http://"))
            stack.push_async_callback(api_a.aclose)
            org = await new_org(api_a)  # type: ignore[arg-type]
            ann = await org.user("Ann")
            followers = [await org.user(name) for name in ("Bob", "Cid", "Dan")]
            item = await thread(org, ann, *followers)
            for person in followers[1:]:
                await follow(api_a, person, item)
            clients = []
            for number, person in enumerate([*followers, followers[0]]):
                client = await stack.enter_async_context(WsClient.connect(ws_b, person.token))
                await client.acknowledged()
                await client.subscribe(str(number))
                clients.append(client)
            received: list[list[dict[str, Any]]] = [[] for _ in clients]

            async def everyone_receives() -> None:
                for client, got in zip(clients, received, strict=True):
                    got.append(await client.next_notification(timeout=5))

            await reply(api_a, ann, item, "before")
            await everyone_receives()
            # 0 on a calm machine; on a loaded one a heartbeat that comes late counts as an
            # outage (rightly) and makes a poll of its own.
            healthy_polls = services_b.hub.outage_polls

            await redis.kill()
            for number in range(3):
                await reply(api_a, ann, item, f"during {number}")
                await everyone_receives()
            assert services_b.hub.outage_polls > healthy_polls

            await redis.start()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while not (services_a.hub.connected and services_b.hub.connected):
                assert loop.time() < deadline, "the servers never reconnected to Redis"
                await asyncio.sleep(0.05)
            await reply(api_a, ann, item, "after")
            await everyone_receives()
            made = services_b.hub.outage_polls
            for client in clients:
                assert await client.nothing_within(0.5)
            assert services_b.hub.outage_polls == made  # no poll since Redis came back

        event.remove(services_b.engine.sync_engine, "before_cursor_execute", polls)
    expected = ["before", "during 0", "during 1", "during 2", "after"]
    for got in received:
        assert [n["message"] for n in got] == [f"Ann replied: {text}" for text in expected]
        assert [seq(n["cursor"]) for n in got] == list(range(1, 6))
    assert len(polls.statements) == 2 * made
    assert all("inbox_counters" in statement for statement in polls.statements[::2])
    assert all("revoked_tokens" in statement for statement in polls.statements[1::2])


async def test_a_logout_and_a_deactivation_during_an_outage_close_sockets_on_the_other_process(
    database: Settings, tmp_path: Path
) -> None:
    """The "sessions ended" messages cannot cross while Redis is down: B's outage polls ask
    the database instead, and close the logged-out token's socket and the deactivated user's
    (who has no notification coming that would end it otherwise)."""
    async with own_redis(tmp_path) as redis:
        services_a, services_b = two_servers_on(database, redis)
        async with (
            running_server(services_a) as ws_a,
            running_server(services_b) as ws_b,
            contextlib.AsyncExitStack() as stack,
        ):
            api_a = HttpApi(ws_a.replace("ws://", "http://"))
            stack.push_async_callback(api_a.aclose)
            org = await new_org(api_a)  # type: ignore[arg-type]
            bob, carol, dan = [await org.user(name) for name in ("Bob", "Carol", "Dan")]
            bobs = await stack.enter_async_context(subscribed(ws_b, bob.token))
            carols = await stack.enter_async_context(subscribed(ws_b, carol.token))
            dans = await stack.enter_async_context(subscribed(ws_b, dan.token))

            await redis.kill()
            await api_a.ok(LOGOUT, token=bob.token)
            await api_a.ok(DEACTIVATE, {"id": carol.id}, org.admin.token)
            assert await closed_with(bobs, within=10) == (4403, CLOSES[Ended.REVOKED][1])
            assert await closed_with(carols, within=10) == (4403, CLOSES[Ended.DEACTIVATED][1])
            assert await dans.nothing_within(0.5)
            assert services_b.hub.outage_polls > 0


# -- a failed publish ----------------------------------------------------------------------------


async def test_a_failed_publish_starts_polling_and_rebuilds_the_pipe_at_once(
    tmp_path: Path,
) -> None:
    """The hub's Redis connections go silent (a partition: no error). Its next publish times
    out: from then on the hub counts the pipe as down (it delivers locally and polls) and its
    listener rebuilds the pipe at once, without waiting for the heartbeat watchdog (30 s here);
    its subscriber is told to resync then."""
    async with own_redis(tmp_path) as redis:
        proxy = FreezableProxy(redis.port)
        port = await proxy.start()
        hub = Hub(
            f"redis://127.0.0.1:{port}",
            f"crmfeed.test.publish.{uuid.uuid4().hex[:8]}",
            heartbeat_seconds=60,  # the heartbeat's connection stays idle: the publish gets it
            heartbeat_timeout=30,
            publish_timeout=0.5,
        )
        await hub.start()
        try:
            assert hub.connected
            subscription = hub.subscribe(7)
            await hub.publish([(7, 1)])
            assert await asyncio.wait_for(subscription.next(), 5) == 1
            reconnects = hub.reconnects

            proxy.freeze()
            await hub.publish([(7, 2)])  # times out on the silent connection
            assert not hub.connected
            assert await asyncio.wait_for(subscription.next(), 5) == 2  # delivered locally
            # Rebuilt (new connections pass) well before the 30 s heartbeat timeout.
            assert await asyncio.wait_for(subscription.next(), 10) == RESYNC
            assert hub.connected
            assert hub.reconnects == reconnects + 1
        finally:
            await hub.stop()
            await proxy.close()
