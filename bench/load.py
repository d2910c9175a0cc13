"""Concurrent writers against a server: acknowledged, failed and lost writes, and latency.

    python -m bench.load --serve sqlite --writers 200 --seconds 30
    python -m bench.load --serve postgresql --writers 200 --seconds 30
    python -m bench.load --url http://127.0.0.1:8000/graphql --writers 50

Sets up its own enterprise through the API: one administrator, `--writers` salespeople, and
`--items` accounts with every writer on their teams and one sales record each; every writer
follows a random `--follows` of those items, so the followers of any two items overlap. Then
each writer, for `--seconds`, in a loop: replies to a random item (which notifies its
followers: the inbox counters of many users move in one transaction), likes one, or posts a
sales record on an account. Afterwards every acknowledged write is read back: a reply or post
that was acknowledged and is not found is *lost*; a request answered with an error (or not
answered) is *failed*. `--serve` starts a server process itself (`uvicorn
crmfeed.app:create_app`, on a temporary SQLite file or a new PostgreSQL schema); `--url` uses
a running one. Figures are in bench/load.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import Iterator

PASSWORD = "load-test-password-7319"
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

REGISTER = """mutation($input: RegisterEnterpriseInput!) {
  registerEnterprise(input: $input) { token user { id } } }"""
CREATE_USER = "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }"
LOGIN = """mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { token } }"""
CREATE_ACCOUNT = """mutation($name: String!) {
  createRecord(objectType: ACCOUNT, values: {name: $name}) { id } }"""
ADD_MEMBERS = """mutation($id: ID!, $members: [TeamMemberInput!]!) {
  addTeamMembers(recordId: $id, members: $members) { id } }"""
POST = """mutation($content: String!, $account: ID!) {
  postSalesRecord(input: {content: $content, accountId: $account}) { id } }"""
FOLLOW = "mutation($id: ID!) { follow(itemId: $id) { id } }"
REPLY = "mutation($id: ID!, $content: String!) { reply(itemId: $id, content: $content) { id } }"
LIKE = "mutation($id: ID!) { like(itemId: $id) { id } }"
ITEM = """query($id: ID!, $after: String) { feedItem(id: $id) {
  likedByMe replies(first: 50, after: $after) {
    edges { node { id } } pageInfo { hasNextPage endCursor } } } }"""
RECORD_FEED = """query($id: ID!, $after: String) {
  feed(recordId: $id, first: 100, after: $after) {
    edges { node { id } } pageInfo { hasNextPage endCursor } } }"""


class Failed(Exception):
    """A request answered with GraphQL errors, an HTTP error, or not at all."""


@dataclass
class Writer:
    id: str
    token: str
    follows: list[str]


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    replies: dict[str, set[str]] = field(default_factory=dict)  # item -> acknowledged reply ids
    posts: dict[str, set[str]] = field(default_factory=dict)  # account -> acknowledged item ids
    likes: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # writer -> items


class Client:
    def __init__(self, url: str, connections: int) -> None:
        # Idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s)
        # would close them under a request being sent (an httpx ReadError, not a server fault).
        limits = httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=2
        )
        self.url = url
        self.http = httpx.AsyncClient(timeout=120, limits=limits)

    async def call(self, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = await self.http.post(
                self.url, json={"query": query, "variables": variables}, headers=headers
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise Failed(f"{type(error).__name__}: {error}") from error
        if body.get("errors"):
            error = body["errors"][0]
            code = (error.get("extensions") or {}).get("code", "?")
            raise Failed(f"{code}: {error['message']}")
        return body["data"]


async def gather_limited(count: int, limit: int, make: Any) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(n: int) -> Any:
        async with gate:
            return await make(n)

    return await asyncio.gather(*(one(n) for n in range(count)))


async def set_up(
    client: Client, writers: int, items: int, follows: int
) -> tuple[list[Writer], list[str], list[str]]:
    """(writers, hot items, their accounts), made through the API."""
    tag = uuid.uuid4().hex[:8]
    data = await client.call(
        REGISTER,
        {
            "input": {
                "enterpriseName": f"Load {tag}",
                "adminName": "Load Admin",
                "email": f"admin-{tag}@load.example",
                "password": PASSWORD,
            }
        },
    )
    admin = data["registerEnterprise"]["token"]

    async def new_writer(n: int) -> tuple[str, str]:
        email = f"writer{n}-{tag}@load.example"
        made = await client.call(
            CREATE_USER,
            {"input": {"name": f"Writer {n}", "email": email, "password": PASSWORD}},
            admin,
        )
        login = await client.call(LOGIN, {"email": email, "password": PASSWORD})
        return made["createUser"]["id"], login["login"]["token"]

    people = await gather_limited(writers, 8, new_writer)
    accounts, hot = [], []
    members = [
        {"userId": user, "teamRole": "REGULAR_MEMBER", "access": "READ_WRITE"} for user, _ in people
    ]
    for n in range(items):
        account = (await client.call(CREATE_ACCOUNT, {"name": f"Hot account {n}"}, admin))[
            "createRecord"
        ]["id"]
        for start in range(0, len(members), 100):  # the API's limit per call
            batch = members[start : start + 100]
            await client.call(ADD_MEMBERS, {"id": account, "members": batch}, admin)
        item = (await client.call(POST, {"content": f"Hot item {n}", "account": account}, admin))[
            "postSalesRecord"
        ]["id"]
        accounts.append(account)
        hot.append(item)
    team = [
        Writer(user, token, random.sample(hot, min(follows, len(hot)))) for user, token in people
    ]
    await gather_limited(
        len(team) * len(team[0].follows) if team else 0,
        16,
        lambda n: client.call(
            FOLLOW,
            {"id": team[n // len(team[0].follows)].follows[n % len(team[0].follows)]},
            team[n // len(team[0].follows)].token,
        ),
    )
    return team, hot, accounts


async def write(
    client: Client, writer: Writer, hot: list[str], accounts: list[str], until: float, tally: Tally
) -> None:
    n = 0
    while time.monotonic() < until:
        n += 1
        kind = random.choices(("reply", "like", "post"), weights=(5, 3, 2))[0]
        started = time.perf_counter()
        try:
            if kind == "reply":
                item = random.choice(hot)
                data = await client.call(
                    REPLY, {"id": item, "content": f"{writer.id} #{n}"}, writer.token
                )
                tally.replies.setdefault(item, set()).add(data["reply"]["id"])
            elif kind == "like":
                item = random.choice(hot)
                await client.call(LIKE, {"id": item}, writer.token)
                tally.likes.setdefault(writer.token, set()).add(item)
            else:
                account = random.choice(accounts)
                data = await client.call(
                    POST, {"content": f"Post {writer.id} #{n}", "account": account}, writer.token
                )
                tally.posts.setdefault(account, set()).add(data["postSalesRecord"]["id"])
        except Failed as error:
            tally.failures[f"{kind}: {str(error)[:120]}"] += 1
            continue
        tally.latencies.setdefault(kind, []).append(time.perf_counter() - started)


async def paged_ids(
    client: Client, query: str, variables: dict[str, Any], token: str, path: tuple[str, ...]
) -> set[str]:
    found: set[str] = set()
    after = None
    while True:
        data = await client.call(query, {**variables, "after": after}, token)
        for key in path:
            data = data[key]
        found |= {edge["node"]["id"] for edge in data["edges"]}
        if not data["pageInfo"]["hasNextPage"]:
            return found
        after = data["pageInfo"]["endCursor"]


async def lost_writes(client: Client, token: str, tally: Tally) -> Counter[str]:
    """Acknowledged writes that cannot be read back (`token`: a writer on every team)."""
    lost: Counter[str] = Counter()
    for item, acknowledged in tally.replies.items():
        stored = await paged_ids(client, ITEM, {"id": item}, token, ("feedItem", "replies"))
        lost["reply"] += len(acknowledged - stored)
    for account, acknowledged in tally.posts.items():
        stored = await paged_ids(client, RECORD_FEED, {"id": account}, token, ("feed",))
        lost["post"] += len(acknowledged - stored)
    for writer_token, items in tally.likes.items():
        for item in items:
            data = await client.call(ITEM, {"id": item, "after": None}, writer_token)
            lost["like"] += not data["feedItem"]["likedByMe"]
    return lost


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def report(tally: Tally, lost: Counter[str], seconds: float, writers: int, where: str) -> None:
    acknowledged = sum(len(v) for v in tally.latencies.values())
    failed = sum(tally.failures.values())
    print(f"\n{writers} writers for {seconds:.0f} s against {where}")
    total_lost = sum(lost.values())
    print(
        f"acknowledged {acknowledged} ({acknowledged / seconds:.0f}/s), failed {failed}, ", end=""
    )
    print(f"lost {total_lost}")
    print(f"{'kind':<6} {'count':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}  lost")
    every = [value for values in tally.latencies.values() for value in values]
    for kind, values in [*sorted(tally.latencies.items()), ("all", every)]:
        row = [percentile(values, share) * 1000 for share in (0.5, 0.95, 0.99)]
        print(
            f"{kind:<6} {len(values):>6} {row[0]:>8.1f} {row[1]:>8.1f} {row[2]:>8.1f} "
            f"{max(values, default=0) * 1000:>8.1f}  {total_lost if kind == 'all' else lost[kind]}"
        )
    for reason, count in tally.failures.most_common(10):
        print(f"  failed {count}x {reason}")


def psql(statement: str) -> None:
    """One statement on the test database (POSTGRES_URL's server and database)."""
    command = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc", statement]
    subprocess.run(command, check=True)


@dataclass(frozen=True)
class Server:
    url: str  # of /graphql
    pid: int


@contextlib.contextmanager
def served(database: str) -> Iterator[Server]:
    """A server process on a temporary SQLite file or a new PostgreSQL schema."""
    workdir = Path(tempfile.mkdtemp(prefix="crmfeed-load-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CRMFEED_"))}
    env.update(SECRET_KEY=uuid.uuid4().hex * 2, RUN_REMINDERS="false", BROADCAST_URL="memory://")
    schema = None
    if database == "sqlite":
        env["DATABASE_URL"] = f"sqlite+aiosqlite:///{workdir / 'load.db'}"
    else:
        schema = f"crmfeed_load_{uuid.uuid4().hex[:10]}"
        env.update(DATABASE_URL=POSTGRES_URL, DATABASE_SCHEMA=schema)
        psql(f'CREATE SCHEMA "{schema}"')
    subprocess.run(
        [sys.executable, "-m", "crmfeed", "migrate"],
        env=env,
        check=True,
        cwd=workdir,
        capture_output=True,
    )
    port = 8700 + random.randrange(200)
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "crmfeed.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            time.sleep(0.1)
        yield Server(f"{url}/graphql", process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        logged = (workdir / "server.log").read_text(errors="replace")
        errors, again = logged.count("Traceback"), logged.count("running it again")
        print(f"server log: {workdir / 'server.log'} ({errors} tracebacks, {again} retries)")
        if schema:
            psql(f'SET client_min_messages = warning; DROP SCHEMA "{schema}" CASCADE')


async def run(url: str, args: argparse.Namespace) -> None:
    client = Client(url, args.writers + 10)
    try:
        team, hot, accounts = await set_up(client, args.writers, args.items, args.follows)
        tally = Tally()
        started = time.monotonic()
        until = started + args.seconds
        await asyncio.gather(*(write(client, w, hot, accounts, until, tally) for w in team))
        elapsed = time.monotonic() - started
        lost = await lost_writes(client, team[0].token, tally)
        report(tally, lost, elapsed, args.writers, args.serve or url)
    finally:
        await client.http.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="a running server's /graphql URL")
    target.add_argument(
        "--serve", choices=("sqlite", "postgresql"), help="start a server on this database"
    )
    parser.add_argument("--writers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--items", type=int, default=10, help="hot items (and accounts)")
    parser.add_argument("--follows", type=int, default=4, help="hot items each writer follows")
    args = parser.parse_args()

    if args.url:
        asyncio.run(run(args.url, args))
    else:
        with served(args.serve) as server:
            asyncio.run(run(server.url, args))


if __name__ == "__main__":
    main()
