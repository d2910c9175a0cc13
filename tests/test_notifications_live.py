"""Live notifications over real websockets against the real ASGI app served by uvicorn
(tests.live_helpers.running_server), on SQLite and on PostgreSQL, with the in-process
`memory://` broadcaster. Mutations go over real HTTP to the same server.

What is pinned: websocket authentication (close codes and reasons), replay-then-live from a
cursor, every notification exactly once and in cursor order under concurrent writes, the
legacy graphql-ws protocol, visibility at the moment of delivery, a slow consumer cut off with a
bounded buffer and resuming from its cursor, a clean close on shutdown, and idle subscriptions
not holding pooled database connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
import websockets

from crmfeed.app import Services, create_app
from crmfeed.ids import Kind, from_global
from crmfeed.live.websocket import LeanWebSocketProtocol
from crmfeed.security import issue_token
from tests.feed_helpers import post
from tests.live_helpers import WsClient, running_server, serving
from tests.processes import HttpApi, change_owner, follow, inbox, reply, seq
from tests.records_helpers import Org, Person, new_org

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from crmfeed.settings import Settings

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]


# -- servers -------------------------------------------------------------------------------------


@dataclass
class Live:
    """A running server: its services, websocket URL and an HTTP client to it."""

    services: Services
    ws_url: str
    api: HttpApi

    async def org(self) -> Org:
        return await new_org(self.api)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def live_server(settings: Settings, **overrides: Any) -> AsyncIterator[Live]:
    """Fresh services (engine, hub) on the module's database, served on a free port."""
    services = Services.create(settings.model_copy(update=overrides))
    async with running_server(services) as ws_url:
        api = HttpApi(ws_url.replace("ws://", "http://"))
        try:
            yield Live(services, ws_url, api)
        finally:
            await api.aclose()


@pytest.fixture
async def live(database: Settings) -> AsyncIterator[Live]:
    async with live_server(database) as running:
        yield running


# -- small helpers -------------------------------------------------------------------------------


async def closed_with(client: WsClient, within: float = 5.0) -> tuple[int, str, list[dict]]:
    """Read until the server closes the socket: (close code, reason, messages before it)."""
    messages: list[dict[str, Any]] = []
    try:
        while True:
            messages.append(await client.receive(within))
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, f"the server did not send a close frame: {closed}"
        return closed.rcvd.code, closed.rcvd.reason, messages


async def receive_many(client: WsClient, count: int, within: float = 10.0) -> list[dict]:
    """The next `count` notifications (each within `within` seconds)."""
    return [await client.next_notification(within) for _ in range(count)]


async def subscribed_after_mention(
    stack: contextlib.AsyncExitStack, ws_url: str, people: list[Person]
) -> list[WsClient]:
    """A subscribed socket for each of `people`, open until `stack` closes, each past the
    @mention it is replayed first (so what comes next is live)."""
    clients = []
    for person in people:
        client = await stack.enter_async_context(WsClient.connect(ws_url, person.token))
        await client.acknowledged()
        await client.subscribe("1")
        [mentioned] = await receive_many(client, 1)  # replayed: now live
        assert mentioned["kind"] == "MENTION"
        clients.append(client)
    return clients


POST = """
mutation($input: PostSalesRecordInput!) { postSalesRecord(input: $input) { id } }"""


async def mention(org: Org, author: Person, record: str, *people: Person, text: str = "") -> str:
    """An item by `author` about `record` that @mentions `people`; its id."""
    given = {
        "content": text or "Met the buyer",
        "relatedTo": [record],
        "mentions": [p.id for p in people],
    }
    data = await org.api.ok(POST, {"input": given}, author.token)
    return data["postSalesRecord"]["id"]


def assert_consecutive(received: list[dict[str, Any]], first: int, last: int) -> None:
    """Exactly the notifications first..last, each once, in cursor order."""
    numbers = [seq(n["cursor"]) for n in received]
    assert numbers == list(range(first, last + 1)), numbers
    assert len({n["id"] for n in received}) == len(received)


# -- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_socket_without_a_token_is_closed_with_4401(live: Live, protocol: str) -> None:
    async with WsClient.connect(live.ws_url, None, protocol) as client:
        code, reason, messages = await closed_with(client)
    assert code == 4401
    assert "Authorization" in reason
    assert "connection_init" in reason
    assert all(m["type"] != "connection_ack" for m in messages)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_bad_or_expired_token_is_closed_with_4403(live: Live, protocol: str) -> None:
    org = await live.org()
    settings = live.services.settings
    admin_number = from_global(Kind.USER, org.admin.id)
    expired = issue_token(settings.model_copy(update={"token_ttl_seconds": -60}), admin_number, 1)
    forged = issue_token(
        settings.model_copy(update={"secret_key": "another-secret-key-0123456789-abcdefgh"}),
        admin_number,
        1,
    )
    for token in ("garbage", org.admin.token + "x", expired, forged):
        async with WsClient.connect(live.ws_url, token, protocol) as client:
            code, reason, messages = await closed_with(client)
        assert code == 4403, token
        assert "log in again" in reason
        assert all(m["type"] != "connection_ack" for m in messages)


async def test_a_token_of_a_user_that_does_not_exist_is_closed_with_4403(live: Live) -> None:
    token = issue_token(live.services.settings, 999_999_999, 1)
    async with WsClient.connect(live.ws_url, token) as client:
        code, reason, _ = await closed_with(client)
    assert code == 4403
    assert "no longer exists" in reason


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_valid_token_is_acknowledged(live: Live, protocol: str) -> None:
    org = await live.org()
    async with WsClient.connect(live.ws_url, org.admin.token, protocol) as client:
        await client.acknowledged()
        await client.subscribe("1")
        assert await client.nothing_within(0.3)


@pytest.mark.parametrize("deflate", [False, True])
async def test_compression_only_when_configured_and_messages_bounded(
    database: Settings, deflate: bool
) -> None:
    """A browser offers permessage-deflate; the server takes it only with
    WS_PER_MESSAGE_DEFLATE (its state costs tens of KiB per open socket), and a message
    larger than MAX_BODY_SIZE closes the socket (1009), as `crmfeed serve` serves them."""
    async with (
        live_server(database, ws_per_message_deflate=deflate, max_body_size=4096) as running,
        websockets.connect(
            running.ws_url, subprotocols=["graphql-transport-ws"], compression="deflate"
        ) as ws,
    ):
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
        assert ("permessage-deflate" in extensions) is deflate
        client = WsClient(ws, "graphql-transport-ws")
        await client.send({"type": "connection_init", "payload": {"pad": "x" * 5000}})
        code, _, _ = await closed_with(client)
    assert code == 1009


async def test_a_message_that_is_not_json_text_is_refused_as_each_protocol_says(
    live: Live,
) -> None:
    """graphql-transport-ws closes the socket (4400) on text that is not JSON and on a binary
    message; legacy graphql-ws ignores the text and closes (1002) on a binary message."""
    org = await live.org()
    for garbage, reason in ((b"\x00\x01", "must be text"), ("{not json", "valid JSON")):
        async with WsClient.connect(live.ws_url, org.admin.token) as client:
            await client.acknowledged()
            await client.ws.send(garbage)
            code, said, messages = await closed_with(client)
        assert (code, messages) == (4400, [])
        assert reason in said
    async with WsClient.connect(live.ws_url, org.admin.token, "graphql-ws") as client:
        await client.acknowledged()
        await client.ws.send("{not json")
        await client.subscribe("1")  # the socket still serves
        assert await client.nothing_within(0.3)
        await client.ws.send(b"\x00\x01")
        code, _, messages = await closed_with(client)
    assert (code, messages) == (1002, [])


async def test_a_subscription_before_connection_init_is_refused(live: Live) -> None:
    async with websockets.connect(live.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        client = WsClient(ws, "graphql-transport-ws")
        await client.subscribe("1")
        code, _, messages = await closed_with(client)
    assert code == 4401
    assert messages == []


# -- replay, then live ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_replay_after_a_cursor_then_live(live: Live, protocol: str) -> None:
    org = await live.org()
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(ann, "ACCOUNT", "Acme")
    items = [await mention(org, ann, account, bob, text=f"Note {n}") for n in range(5)]
    stored = await inbox(live.api, bob)
    assert [n["feedItem"]["id"] for n in stored] == items

    async with WsClient.connect(live.ws_url, bob.token, protocol) as client:
        await client.acknowledged()
        await client.subscribe("1", after=stored[1]["cursor"])
        replayed = await receive_many(client, 3)
        assert [n["id"] for n in replayed] == [n["id"] for n in stored[2:]]
        assert [n["feedItem"]["content"] for n in replayed] == ["Note 2", "Note 3", "Note 4"]

        live_item = await mention(org, ann, account, bob, text="Note 5")
        [pushed] = await receive_many(client, 1)
        assert pushed["feedItem"] == {"id": live_item, "content": "Note 5"}
        assert pushed["kind"] == "MENTION"
        assert pushed["actor"] == {"name": "Ann"}
        assert_consecutive([*replayed, pushed], 3, 6)
        assert await client.nothing_within(0.3)

    # without a cursor: everything from the start.
    async with WsClient.connect(live.ws_url, bob.token, protocol) as client:
        await client.acknowledged()
        await client.subscribe("all")
        assert_consecutive(await receive_many(client, 6), 1, 6)
        assert await client.nothing_within(0.3)


async def test_a_bad_cursor_is_an_error_on_the_subscription(live: Live) -> None:
    org = await live.org()
    async with WsClient.connect(live.ws_url, org.admin.token) as client:
        await client.acknowledged()
        await client.subscribe("1", after="not-a-cursor")
        message = await client.receive()
        # raised when the subscription starts: a result carrying the error, then the end.
        assert message["type"] == "next", message
        assert message["payload"]["data"] is None
        [error] = message["payload"]["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}
        assert "cursor" in error["message"]
        assert await client.receive() == {"id": "1", "type": "complete"}


async def test_only_my_own_notifications_are_pushed(live: Live) -> None:
    org = await live.org()
    other = await live.org()
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    cy = await org.user("Cy")
    account = await org.record(ann, "ACCOUNT", "Acme")
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for person in (bob, cy, other.admin):
            client = await stack.enter_async_context(WsClient.connect(live.ws_url, person.token))
            await client.acknowledged()
            await client.subscribe("1")
            clients[person.id] = client
        await mention(org, ann, account, bob)
        [to_bob] = await receive_many(clients[bob.id], 1)
        assert to_bob["kind"] == "MENTION"
        assert await clients[cy.id].nothing_within(0.3)
        assert await clients[other.admin.id].nothing_within(0.1)


# -- exactly once, in order, under concurrent writes ---------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_concurrent_replies_arrive_exactly_once_in_cursor_order(
    live: Live, protocol: str
) -> None:
    writers = 5
    replies_each = 10
    before = 20
    org = await live.org()
    bob = await org.user("Bob")
    people = [await org.user(f"Writer{n}") for n in range(writers)]
    account = await org.record(bob, "ACCOUNT", "Acme")
    for person in people:
        await org.add_member(bob, account, person, "REGULAR_MEMBER", "READ_WRITE")
    item = await post(org, people[0], "Tender", related=[account])
    await follow(live.api, bob, item["id"])
    for number in range(before):  # already in the inbox when Bob subscribes
        await reply(live.api, people[number % writers], item["id"], f"early {number}")
    assert len(await inbox(live.api, bob)) == before  # each reply notifies Bob, a follower

    async def write(person: Person) -> None:
        for number in range(replies_each):
            await reply(live.api, person, item["id"], f"{person.name} {number}")

    async def subscribe_and_read(after: str | None, count: int) -> list[dict[str, Any]]:
        async with WsClient.connect(live.ws_url, bob.token, protocol) as client:
            await client.acknowledged()
            await client.subscribe("1", after=after)
            received = await receive_many(client, count, within=20)
            assert await client.nothing_within(0.5)  # nothing twice, nothing extra
            return received

    total = before + writers * replies_each
    # two subscribers: one replays everything from the start, one starts in the middle;
    # both subscribe while the replies are being written.
    middle = (await inbox(live.api, bob, first=10))[-1]["cursor"]
    readers = [
        asyncio.create_task(subscribe_and_read(None, total)),
        asyncio.create_task(subscribe_and_read(middle, total - 10)),
    ]
    await asyncio.gather(*(write(person) for person in people))
    from_start, from_middle = await asyncio.gather(*readers)

    assert_consecutive(from_start, 1, total)
    assert_consecutive(from_middle, 11, total)
    stored = []
    after = None
    while True:
        page = await inbox(live.api, bob, first=100, after=after)
        if not page:
            break
        stored += page
        after = page[-1]["cursor"]
    assert [n["id"] for n in from_start] == [n["id"] for n in stored]
    assert all(n["kind"] == "REPLY" for n in from_start)


# -- visibility at delivery ----------------------------------------------------------------------


async def test_a_notification_about_something_i_can_no_longer_see_is_not_pushed(
    live: Live,
) -> None:
    org = await live.org()
    boss = await org.user("Boss")
    bob = await org.user("Bob", superior=boss)
    cy = await org.user("Cy", superior=boss)
    account = await org.record(boss, "ACCOUNT", "Acme")
    other = await org.record(boss, "ACCOUNT", "Other")
    await change_owner(live.api, boss, account, bob.id)
    item = (await post(org, boss, "Kick-off", related=[account]))["id"]
    await follow(live.api, bob, item)

    async with WsClient.connect(live.ws_url, bob.token) as client:
        await client.acknowledged()
        await client.subscribe("1")
        [owned] = await receive_many(client, 1)
        assert owned["kind"] == "OWNER_CHANGED"
        await reply(live.api, boss, item, "visible reply")
        [visible] = await receive_many(client, 1)
        assert (visible["kind"], visible["feedItem"]["id"]) == ("REPLY", item)

        await change_owner(live.api, boss, account, cy.id)  # Bob loses the record and its feed
        await reply(live.api, boss, item, "hidden reply")  # still notifies Bob, a follower
        later = await mention(org, boss, other, bob, text="visible again")
        [next_one] = await receive_many(client, 1)
        assert next_one["feedItem"] == {"id": later, "content": "visible again"}
        assert seq(next_one["cursor"]) == seq(visible["cursor"]) + 2  # one was skipped
        assert await client.nothing_within(0.3)
    # the inbox agrees: what is about Acme is no longer Bob's to see.
    assert [n["id"] for n in await inbox(live.api, bob)] == [next_one["id"]]


# -- idle subscriptions and the connection pool ----------------------------------------------------


async def test_open_subscriptions_do_not_hold_database_connections(database: Settings) -> None:
    """More sockets than the pool has connections, each subscribed and served: HTTP requests
    are still answered at once (the pool's timeout is 30 s; we allow 10)."""
    sockets = 16  # the pool holds at most 12 (PostgreSQL: 2 + 10 overflow) or 15 (SQLite)
    async with live_server(database, db_pool_size=2) as running:
        org = await running.org()
        ann = await org.user("Ann")
        bob = await org.user("Bob")
        account = await org.record(ann, "ACCOUNT", "Acme")
        async with contextlib.AsyncExitStack() as stack:
            clients = []
            for number in range(sockets):
                client = await stack.enter_async_context(
                    WsClient.connect(running.ws_url, bob.token)
                )
                await client.acknowledged()
                await client.subscribe(str(number))
                clients.append(client)
            await mention(org, ann, account, bob)
            for client in clients:
                [received] = await receive_many(client, 1)
                assert received["kind"] == "MENTION"
            answer = await asyncio.wait_for(running.api.ok("{ me { id } }", token=bob.token), 10)
            assert answer["me"]["id"] == bob.id
            await mention(org, ann, account, bob)
            for client in clients:
                await receive_many(client, 1)


# -- batched delivery: a fixed number of statements ------------------------------------------------


class TaskStatements:
    """Counts the statements sent while `active`, by the name of the asyncio task sending them."""

    def __init__(self) -> None:
        self.by_task: list[str] = []
        self.active = False

    def __call__(self, *_: Any) -> None:
        if self.active:
            task = asyncio.current_task()
            self.by_task.append(task.get_name() if task is not None else "?")


async def test_one_reply_to_many_subscribers_costs_a_fixed_number_of_statements(
    database: Settings,
) -> None:
    """A reply that reaches N open subscriptions is read for all of them at once: the process's
    deliverer sends the same 2 statements (the notifications with their actor, item and record,
    checked for visibility to each recipient; the recipients as viewers) whether N is 2 or 9,
    the subscriptions' selections need none, and the mutation's own count does not grow with N.
    """
    from sqlalchemy import event

    # The background pollers (reminders, the mail outbox, import/export jobs) would add their
    # statements at moments of their own: only the request and the deliverer are counted.
    quiet = {"run_reminders": False, "run_mail_sender": False, "run_transfer_jobs": False}
    async with live_server(database, **quiet) as running:
        org = await running.org()
        ann = await org.user("Ann")
        account = await org.record(ann, "ACCOUNT", "Acme")
        counted = TaskStatements()
        event.listen(running.services.engine.sync_engine, "before_cursor_execute", counted)
        totals: dict[int, int] = {}
        for followers in (2, 9):
            people = [await org.user(f"Follower{followers}-{n}") for n in range(followers)]
            for person in people:
                await org.add_member(ann, account, person, "REGULAR_MEMBER", "READ_ONLY")
            item = await mention(org, ann, account, *people, text=f"To {followers}")
            for person in people:
                await follow(running.api, person, item)
            async with contextlib.AsyncExitStack() as stack:
                clients = await subscribed_after_mention(stack, running.ws_url, people)
                counted.by_task, counted.active = [], True
                await reply(running.api, ann, item, f"Reply to {followers}")
                for client in clients:
                    [pushed] = await receive_many(client, 1)
                    assert pushed["kind"] == "REPLY"
                    assert pushed["actor"] == {"name": "Ann"}
                    assert pushed["feedItem"] == {"id": item, "content": f"To {followers}"}
                counted.active = False
                for client in clients:
                    assert await client.nothing_within(0.1)
            delivering = [name for name in counted.by_task if name == "crmfeed-deliverer"]
            assert len(delivering) == 2, counted.by_task
            totals[followers] = len(counted.by_task)
        event.remove(running.services.engine.sync_engine, "before_cursor_execute", counted)
        assert totals[2] == totals[9], totals


async def test_a_large_fan_out_is_read_in_growing_batches(database: Settings) -> None:
    """The deliverer reads a fan-out in batches that start small and double (here from 2
    pairs: 2, 4, then the last 3), so the first subscriptions get their notification while the
    rest is read; each subscriber still gets it exactly once, and each batch costs 2
    statements."""
    from sqlalchemy import event

    quiet = {"run_reminders": False, "run_mail_sender": False, "run_transfer_jobs": False}
    async with live_server(database, **quiet) as running:
        org = await running.org()
        ann = await org.user("Ann")
        account = await org.record(ann, "ACCOUNT", "Acme")
        people = [await org.user(f"Follower-{n}") for n in range(9)]
        for person in people:
            await org.add_member(ann, account, person, "REGULAR_MEMBER", "READ_ONLY")
        item = await mention(org, ann, account, *people, text="To nine")
        for person in people:
            await follow(running.api, person, item)
        async with contextlib.AsyncExitStack() as stack:
            clients = await subscribed_after_mention(stack, running.ws_url, people)
            deliverer = running.services.hub.deliverer
            assert deliverer is not None
            deliverer.first_pairs = 2
            batches = deliverer.batches
            counted = TaskStatements()
            event.listen(running.services.engine.sync_engine, "before_cursor_execute", counted)
            counted.active = True
            await reply(running.api, ann, item, "Reply to nine")
            for client in clients:
                [pushed] = await receive_many(client, 1)
                assert pushed["kind"] == "REPLY"
                assert pushed["feedItem"] == {"id": item, "content": "To nine"}
            for client in clients:
                assert await client.nothing_within(0.1)
            counted.active = False
            event.remove(running.services.engine.sync_engine, "before_cursor_execute", counted)
        assert deliverer.batches - batches == 3
        delivering = [name for name in counted.by_task if name == "crmfeed-deliverer"]
        assert len(delivering) == 6, counted.by_task


async def test_a_failing_read_ends_no_subscription(live: Live, tmp_path: Any) -> None:
    """While the deliverer's reads fail (here: its sessions point at a database that cannot be
    opened), the subscription stays open and its notification waits in the inbox; once reads
    work again it is delivered, once, on the same subscription, with no error sent."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from store.engine import create_session_factory

    org = await live.org()
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(ann, "ACCOUNT", "Acme")
    broken = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db")
    try:
        async with WsClient.connect(live.ws_url, bob.token) as client:
            await client.acknowledged()
            await client.subscribe("1")
            await mention(org, ann, account, bob, text="before")
            [before] = await receive_many(client, 1)
            deliverer = live.services.hub.deliverer
            assert deliverer is not None
            working, failures = deliverer.session_factory, deliverer.failures
            deliverer.session_factory = create_session_factory(broken)
            try:
                await mention(org, ann, account, bob, text="during")
                await wait_until(lambda: deliverer.failures > failures, "a failed read")
                assert await client.nothing_within(0.3)
            finally:
                deliverer.session_factory = working
            [during] = await receive_many(client, 1)
            assert during["feedItem"]["content"] == "during"
            assert_consecutive([before, during], seq(before["cursor"]), seq(during["cursor"]))
            assert await client.nothing_within(0.3)
    finally:
        await broken.dispose()


# -- a slow consumer -------------------------------------------------------------------------------


def noise(size: int) -> str:
    """Text that does not compress: a few notifications this big fill the socket buffers."""
    return "".join(random.choices(string.ascii_letters + string.digits, k=size))


class SmallBuffersProtocol(LeanWebSocketProtocol):
    """The served websocket protocol with the buffers of a slow mobile link: a small kernel
    send buffer and a small asyncio write buffer, so a client that stops reading blocks the
    server's sends after a few notifications instead of a few megabytes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        transport.set_write_buffer_limits(high=16384)  # type: ignore[attr-defined]
        super().connection_made(transport)


@contextlib.asynccontextmanager
async def small_buffer_server(settings: Settings, **overrides: Any) -> AsyncIterator[Live]:
    """Like `live_server`, served by uvicorn with SmallBuffersProtocol for websockets."""
    services = Services.create(settings.model_copy(update=overrides))
    app = create_app(services)
    async with serving(app, lifespan="on", ws=SmallBuffersProtocol) as server:
        url = f"127.0.0.1:{server.config.port}/graphql"
        api = HttpApi(f"http://{url}")
        try:
            yield Live(services, f"ws://{url}", api)
        finally:
            await api.aclose()


@contextlib.asynccontextmanager
async def stalling_client(url: str, token: str) -> AsyncIterator[WsClient]:
    """A graphql-transport-ws client that stops reading from the network as soon as it stops
    calling recv(): a one-frame client queue, a small kernel receive buffer, no compression."""
    port = int(url.split(":")[2].split("/")[0])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    async with websockets.connect(
        url, sock=sock, subprotocols=["graphql-transport-ws"], compression=None, max_queue=1
    ) as ws:
        client = WsClient(ws, "graphql-transport-ws")
        payload = {"Authorization": f"Bearer {token}"}
        await client.send({"type": "connection_init", "payload": payload})
        yield client


async def wait_until(condition: Any, what: str, within: float = 10.0) -> None:
    """Poll `condition` until true; fail after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_slow_consumer_is_cut_off_and_resumes_from_its_cursor(database: Settings) -> None:
    """A client that stops reading costs the server a bounded queue of wake-ups and no database
    connection; once its queue overflows it is cut off (1013, or LIMIT_EXCEEDED) when the
    socket moves again, and its reconnection from the last cursor misses nothing."""
    queue_size = 4
    async with small_buffer_server(database, live_queue_size=queue_size) as running:
        org = await running.org()
        ann = await org.user("Ann")
        bob = await org.user("Bob")
        account = await org.record(ann, "ACCOUNT", "Acme")
        bob_number = from_global(Kind.USER, bob.id)
        hub = running.services.hub
        pool = running.services.engine.pool

        def subscriptions() -> list[Any]:
            return list(hub._subscriptions.get(bob_number, ()))

        async with stalling_client(running.ws_url, bob.token) as client:
            await client.acknowledged()
            await client.subscribe("1")
            await mention(org, ann, account, bob)
            [first] = await receive_many(client, 1)
            # Bob's client stops reading. The server writes until the socket buffers are full,
            # then its sends block, wake-ups pile up in the bounded queue and it overflows.
            written = 1
            while not any(s.overflowed for s in subscriptions()):
                assert written < 200, "the subscription never overflowed"
                await mention(org, ann, account, bob, text=noise(9000))
                written += 1
            overflowed_at = written
            for _ in range(10):  # more notifications: the queue stays bounded
                await mention(org, ann, account, bob, text=noise(9000))
                written += 1
            [stalled] = subscriptions()
            assert stalled.queue.qsize() <= queue_size
            # while its send waits, the stalled subscription holds no database connection.
            await wait_until(lambda: pool.checkedout() == 0, "the pool to be idle")

            code, reason, messages = await closed_with(client, within=10)
        delivered = [first] + [
            m["payload"]["data"]["notifications"]
            for m in messages
            if m["type"] == "next" and m["payload"].get("data")
        ]
        errors = [
            error
            for m in messages
            if m["type"] == "next"
            for error in m["payload"].get("errors") or []
        ]
        print(
            f"overflowed at notification {overflowed_at}; cut off with {code} {reason!r} "
            f"after {len(delivered)} of {written} delivered"
        )
        assert code == 1013 or any(e["extensions"]["code"] == "LIMIT_EXCEEDED" for e in errors)
        if code == 1013:
            assert "cursor" in reason
        assert len(delivered) < written
        assert_consecutive(delivered, 1, len(delivered))
        await wait_until(lambda: subscriptions() == [], "the server to drop the stream")

        # Reconnecting with the last cursor gets everything else, once, in order.
        async with WsClient.connect(running.ws_url, bob.token) as again:
            await again.acknowledged()
            await again.subscribe("1", after=delivered[-1]["cursor"])
            rest = await receive_many(again, written - len(delivered))
            assert_consecutive(rest, len(delivered) + 1, written)
            assert await again.nothing_within(0.3)


# -- shutdown --------------------------------------------------------------------------------------


async def test_stopping_the_server_closes_open_sockets_with_1012(database: Settings) -> None:
    """uvicorn's shutdown closes each open websocket with 1012 (service restart), a code that
    tells clients to reconnect; they resume from their cursor on the next server."""
    async with contextlib.AsyncExitStack() as clients:
        async with live_server(database) as running:
            org = await running.org()
            bob = await org.user("Bob")
            account = await org.record(org.admin, "ACCOUNT", "Acme")
            subscribed = []
            for protocol in PROTOCOLS:
                client = await clients.enter_async_context(
                    WsClient.connect(running.ws_url, bob.token, protocol)
                )
                await client.acknowledged()
                await client.subscribe("1")
                subscribed.append(client)
            await mention(org, org.admin, account, bob)
            for client in subscribed:
                await receive_many(client, 1)
            hub = running.services.hub
            assert hub.subscription_count == 2
        # the server has stopped (running_server waited for it)
        assert hub.subscription_count == 0
        for client in subscribed:
            code, _, messages = await closed_with(client)
            assert code == 1012, code
            assert all(m["type"] in ("ka", "complete", "ping") for m in messages), messages
