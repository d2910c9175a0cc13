"""Real server processes for the scale-out and reminder tests, and what talks to them.

    async with fresh_postgres_schema() as schema:
        env = postgres_env(schema)
        async with server_processes(tmp_path, {"A": env, "B": env}) as (a, b):
            api = HttpApi(a.http_url)
            ...
            await kill_pubsub_connections(b)

Each process is `python -m uvicorn crmfeed.app:create_app --factory --host 127.0.0.1 --port N`
with the given environment variables (nothing inherited from the shell's crmfeed settings),
started in its own working directory (no `.env` file, no stray SQLite file in the repository).
`server_processes` waits until every `/healthz` answers 200, always stops the processes
(SIGTERM, then SIGKILL), and when the block fails prints each process's log, which pytest shows
with the failure. Also here: `HttpApi` (tests.conftest.Api over real HTTP), the inbox queries
shared by the notification tests, killing one process's Redis pub/sub connections, a Redis
server of the test's own (`own_redis`: started on a free port, killed, started again) and a
proxy to Redis that can go silent (`FreezableProxy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import POSTGRES_URL, GraphQLError, test_settings
from tests.live_helpers import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from pathlib import Path

    from tests.records_helpers import Org, Person

REDIS_URL = os.environ.get("CRMFEED_TEST_REDIS_URL", "redis://127.0.0.1:6379")
REDIS_HINT = (
    "Redis is not reachable at {url} ({error}). Start it with "
    '\'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" '
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log', "
    "or point CRMFEED_TEST_REDIS_URL at one."
)
POSTGRES_HINT = (
    "PostgreSQL is not reachable at {url} ({error}). Start it with "
    "'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' "
    "(trust auth, database 'test'), or point CRMFEED_TEST_POSTGRES_URL at one."
)
SECRET_KEY = "test-secret-key-for-crmfeed-process-tests-0123456789"


# -- what the processes need ----------------------------------------------------------------------


async def require_redis() -> None:
    """Fail (not skip) with the command that starts Redis when it does not answer."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        await client.ping()
    except (OSError, redis.RedisError) as error:
        pytest.fail(REDIS_HINT.format(url=REDIS_URL, error=error), pytrace=False)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def fresh_postgres_schema() -> AsyncIterator[str]:
    """A new PostgreSQL schema, migrated to the newest revision; dropped afterwards."""
    from store.engine import create_engine
    from store.migrate import upgrade

    schema = f"crmfeed_proc_{uuid.uuid4().hex[:12]}"
    settings = test_settings(POSTGRES_URL)
    admin = create_engine(settings)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # asyncpg raises several kinds when the server is down
        await admin.dispose()
        pytest.fail(POSTGRES_HINT.format(url=POSTGRES_URL, error=error), pytrace=False)
    engine = create_engine(settings, schema=schema)
    try:
        await upgrade(engine)
        yield schema
    finally:
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


def postgres_env(schema: str, **extra: str) -> dict[str, str]:
    """The environment of a server process on PostgreSQL + Redis (one test's channel)."""
    env = {
        "DATABASE_URL": POSTGRES_URL,
        "DATABASE_SCHEMA": schema,
        "BROADCAST_URL": REDIS_URL,
        "BROADCAST_CHANNEL": f"crmfeed.test.{uuid.uuid4().hex[:12]}",
        "SECRET_KEY": SECRET_KEY,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "64",
        "RUN_REMINDERS": "false",
    }
    env.update(extra)
    return env


# -- the processes --------------------------------------------------------------------------------


@dataclass
class ServerProcess:
    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def start_process(name: str, env: Mapping[str, str], workdir: Path) -> ServerProcess:
    """Spawn one uvicorn process (not yet waited for); its output goes to `<workdir>/<name>.log`."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(name=name, port=free_port(), log_path=workdir / f"{name}.log")
    server.env = dict(env)
    launch(server, workdir)
    return server


def launch(server: ServerProcess, workdir: Path) -> None:
    """(Re)start `server`'s process on its port, appending to its log."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in _SETTINGS_VARIABLES and not key.startswith("CRMFEED_")
    }
    environment.update(server.env)
    environment["PYTHONUNBUFFERED"] = "1"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "crmfeed.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(server.port),
        "--log-level",
        "info",
    ]
    with server.log_path.open("ab") as log:
        log.write(f"\n==== {' '.join(command)}\n".encode())
        log.flush()
        server.process = subprocess.Popen(
            command,
            cwd=workdir,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


# Variables crmfeed's Settings read: never inherit them from the developer's shell.
_SETTINGS_VARIABLES = {
    "DATABASE_URL",
    "DATABASE_SCHEMA",
    "BROADCAST_URL",
    "BROADCAST_CHANNEL",
    "LIVE_QUEUE_SIZE",
    "LIVE_HEARTBEAT_SECONDS",
    "LIVE_HEARTBEAT_TIMEOUT",
    "LIVE_OUTAGE_POLL_SECONDS",
    "RUN_REMINDERS",
    "REMINDER_POLL_SECONDS",
    "SECRET_KEY",
    "ARGON2_TIME_COST",
    "ARGON2_MEMORY_COST_KIB",
    "PASSWORD_HASH_CONCURRENCY",
    "PASSWORD_MIN_STRENGTH",
    "LOGIN_MAX_FAILURES",
    "LOGIN_LOCK_SECONDS",
    "LOGIN_DELAY_AFTER_FAILURES",
    "LOGIN_DELAY_SECONDS",
    "LOGIN_ADDRESS_MAX_FAILURES",
    "DB_POOL_SIZE",
    "IDEMPOTENCY_TTL_SECONDS",
    "ECHO_SQL",
}


async def wait_healthy(server: ServerProcess, within: float = 30.0) -> None:
    """Poll /healthz until 200; fail with the process's log if it dies or never gets there."""
    deadline = asyncio.get_running_loop().time() + within
    last = "no answer yet"
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if not server.running():
                code = server.process.returncode if server.process else None
                raise AssertionError(
                    f"server {server.name} exited with {code} before it was healthy:\n"
                    f"{server.log()}"
                )
            try:
                response = await client.get(server.health_url)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text}"
            except httpx.HTTPError as error:
                last = repr(error)
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"server {server.name} not healthy within {within}s ({last}):\n{server.log()}"
                )
            await asyncio.sleep(0.1)


async def stop_process(server: ServerProcess, grace: float = 10.0) -> int | None:
    """SIGTERM (uvicorn's graceful shutdown), then SIGKILL after `grace` seconds; returns the
    exit code."""
    process = server.process
    if process is None:
        return None
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await asyncio.to_thread(process.wait, 5)
    return process.returncode


@contextlib.asynccontextmanager
async def server_processes(
    workdir: Path, envs: Mapping[str, Mapping[str, str]]
) -> AsyncIterator[list[ServerProcess]]:
    """Start one process per name, wait until all are healthy, yield them, always stop them.

    When the block raises, each process's log is printed (pytest shows it with the failure).
    """
    servers: list[ServerProcess] = []
    failed = True
    try:
        for name, env in envs.items():
            servers.append(start_process(name, env, workdir))
        await asyncio.gather(*(wait_healthy(server) for server in servers))
        yield servers
        failed = False
    finally:
        for server in servers:
            await stop_process(server)
        if failed:
            for server in servers:
                print(f"\n======== log of server {server.name} (port {server.port}) ========")
                print(server.log())


# -- GraphQL over real HTTP -----------------------------------------------------------------------


class HttpApi:
    """The same calls as `tests.conftest.Api`, against a server listening on a real port."""

    def __init__(self, url: str, client: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.client = client or httpx.AsyncClient(timeout=30)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            self.url, json={"query": query, "variables": variables or {}}, headers=headers
        )
        return response.json()

    async def ok(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        body = await self.raw(query, variables, token)
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        return body["data"]

    async def error(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        body = await self.raw(query, variables, token)
        assert body.get("errors"), f"expected an error, got {body}"
        return body["errors"][0]


# -- the inbox over GraphQL (shared by the notification tests) ------------------------------------

NOTIFICATION_FIELDS = """
  id cursor kind message read createdAt
  actor { id name }
  feedItem { id type content }
  record { id name }
  forward { kind canOpen feedItem { id } record { id } }
"""

INBOX = f"""
query($after: String, $first: Int, $unreadOnly: Boolean) {{
  notifications(after: $after, first: $first, unreadOnly: $unreadOnly) {{
    edges {{ cursor node {{ {NOTIFICATION_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
  unreadNotificationCount
}}"""

FOLLOW = "mutation($id: ID!) { follow(itemId: $id) { id followedByMe } }"
REPLY = """
mutation($id: ID!, $content: String!, $mentions: [ID!]) {
  reply(itemId: $id, content: $content, mentions: $mentions) { id }
}"""
CHANGE_OWNER = """
mutation($id: ID!, $owner: ID!) { changeOwner(id: $id, newOwnerId: $owner) { id owner { id } } }"""


class _Caller(Protocol):
    """Who makes a call: anything with a `token` (tests.records_helpers.Person)."""

    @property
    def token(self) -> str: ...


async def inbox_page(
    api: Any,
    who: _Caller,
    *,
    after: str | None = None,
    first: int | None = 100,
    unread_only: bool | None = None,
) -> dict[str, Any]:
    """One page of `who`'s inbox plus `unreadCount` (the NotificationConnection)."""
    variables = {"after": after, "first": first, "unreadOnly": unread_only}
    data = await api.ok(INBOX, variables, who.token)
    return {**data["notifications"], "unreadCount": data["unreadNotificationCount"]}


async def inbox(api: Any, who: _Caller, **options: Any) -> list[dict[str, Any]]:
    """The notifications on `who`'s first inbox page, oldest first."""
    page = await inbox_page(api, who, **options)
    return [edge["node"] for edge in page["edges"]]


async def unread_count(api: Any, who: _Caller) -> int:
    data = await api.ok("{ unreadNotificationCount }", token=who.token)
    return data["unreadNotificationCount"]


async def follow(api: Any, who: _Caller, item_id: str) -> None:
    data = await api.ok(FOLLOW, {"id": item_id}, who.token)
    assert data["follow"]["followedByMe"] is True


async def reply(
    api: Any,
    who: _Caller,
    item_id: str,
    content: str = "Thanks, noted.",
    mentions: list[str] | None = None,
) -> str:
    data = await api.ok(REPLY, {"id": item_id, "content": content, "mentions": mentions}, who.token)
    return data["reply"]["id"]


POST_ITEM = """
mutation($input: PostSalesRecordInput!) { postSalesRecord(input: $input) { id } }"""


async def thread(org: Org, author: Person, follower: Person, *members: Person) -> str:
    """An item by `author` on their account, followed by `follower`; `members` may reply."""
    account = await org.record(author, "ACCOUNT", "Acme")
    for member in (follower, *members):
        await org.add_member(author, account, member, "REGULAR_MEMBER", "READ_WRITE")
    data = await org.api.ok(
        POST_ITEM, {"input": {"content": "Tender", "relatedTo": [account]}}, author.token
    )
    item = data["postSalesRecord"]["id"]
    await org.api.ok(
        "mutation($id: ID!) { follow(itemId: $id) { id } }", {"id": item}, follower.token
    )
    return item


async def change_owner(api: Any, who: _Caller, record_id: str, new_owner_id: str) -> None:
    data = await api.ok(CHANGE_OWNER, {"id": record_id, "owner": new_owner_id}, who.token)
    assert data["changeOwner"]["owner"] == {"id": new_owner_id}


def seq(cursor: str) -> int:
    """The position behind a notification cursor (cursors are per-user sequence numbers)."""
    from resolvers.paging import decode_cursor

    number = decode_cursor(cursor)
    assert number is not None
    return number


# -- Redis connections of a process ---------------------------------------------------------------


def local_tcp_ports(pid: int) -> set[int]:
    """The local ports of the TCP sockets process `pid` holds (Linux /proc)."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            target = os.readlink(f"{fd_dir}/{name}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def kill_pubsub_connections(*servers: ServerProcess) -> int:
    """CLIENT KILL the Redis pub/sub connections of these processes (only theirs: other
    users of the same Redis are left alone); returns how many were killed."""
    import redis.asyncio as redis

    ports = set()
    for server in servers:
        assert server.process is not None
        ports |= local_tcp_ports(server.process.pid)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        killed = 0
        for entry in await client.client_list(_type="pubsub"):
            port = int(entry["addr"].rsplit(":", 1)[1])
            if port in ports:
                killed += await client.client_kill_filter(_id=entry["id"])
        return killed
    finally:
        await client.aclose()


# -- a Redis server of the test's own -------------------------------------------------------------


@dataclass
class RedisServer:
    """A `redis-server` the test starts on a free port, kills (SIGKILL: an outage, not a
    shutdown) and starts again on the same port; nothing else uses it."""

    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def spawn(self) -> None:
        """Start the process (not yet waited for); its output goes to `log_path`."""
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    async def start(self, within: float = 10.0) -> None:
        """Start it and wait until it answers PING."""
        import redis.asyncio as redis

        self.spawn()
        assert self.process is not None
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = asyncio.get_running_loop().time() + within
        try:
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(f"redis-server exited:\n{self.log_path.read_text()}")
                try:
                    await client.ping()
                    return
                except (OSError, redis.RedisError):
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def kill(self) -> None:
        """SIGKILL it and wait until it is gone (its port is free again)."""
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            await asyncio.to_thread(process.wait, 10)


@contextlib.asynccontextmanager
async def own_redis(workdir: Path) -> AsyncIterator[RedisServer]:
    """A running `redis-server` on a free port (needs the binary), always killed afterwards;
    its log is `<workdir>/redis.log` (the directory must exist)."""
    import shutil

    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)", pytrace=False)
    server = RedisServer(port=free_port(), log_path=workdir / "redis.log")
    await server.start()
    try:
        yield server
    finally:
        await server.kill()


class FreezableProxy:
    """A TCP proxy to Redis that can stop forwarding without closing anything: what a network
    partition looks like to the process (no error, just silence)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.frozen: list[asyncio.Event] = []
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    def freeze(self) -> None:
        """Existing connections go silent; new ones work."""
        for thawed in self.frozen:
            thawed.clear()
        self.frozen = []

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )
        flowing = asyncio.Event()
        flowing.set()
        self.frozen.append(flowing)
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink, flowing))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _pipe(
        source: asyncio.StreamReader, sink: asyncio.StreamWriter, flowing: asyncio.Event
    ) -> None:
        try:
            while data := await source.read(65536):
                await flowing.wait()
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()
