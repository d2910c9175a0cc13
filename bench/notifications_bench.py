"""Notifications benchmark: live delivery latency, fan-out and memory of open subscriptions.

Builds an enterprise with bulk Core inserts (10,050 users, ~100,000 accounts, 500 followed feed
items, one item followed by 10,000 users, 10 older notifications in every inbox), starts the real
server (uvicorn, as `crmfeed serve` runs it: uvloop, httptools, websockets) in a subprocess, and
from this process opens 1,000 websocket subscriptions (graphql-transport-ws) and posts replies
through GraphQL. It measures, as the issue asks:

1. steady load: replies at a fixed rate on items the subscribers follow; latency from the
   reply's commit (timed in the server) to receipt by the client, throughput, SQL per delivery;
2. fan-out: one reply on the item with 10,000 followers, 1,000 of them connected: time until all
   10,000 inbox rows are committed and until every connected follower received it;
3. memory per idle subscription: the server's RSS before and after opening the subscriptions.

Run `python -m bench.notifications_bench --help`; bench/notifications.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import cProfile
import gc
import io
import json
import math
import os
import platform
import pstats
import random
import re
import resource
import sqlite3
import sys
import time
import tracemalloc
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import event, func, insert, select, text

from crmfeed.ids import Kind, to_global
from crmfeed.registry.enums import DataAccess, FunctionRole, LifeStatus, TeamRole
from crmfeed.registry.feed import FeedItemType
from crmfeed.security import issue_token
from crmfeed.settings import Settings
from resolvers.notify import NotificationKind
from resolvers.paging import encode_cursor
from store.engine import create_engine
from store.feed_tables import FeedFollow, FeedItem, FeedItemRecord
from store.migrate import upgrade
from store.models import (
    Department,
    DepartmentClosure,
    Enterprise,
    Record,
    SharingRule,
    TeamMember,
    User,
    UserClosure,
    UserRole,
)
from store.notification_tables import (
    InboxCounter,
    InboxEntry,
    Notification,
    NotificationEvent,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379"
DEFAULT_SQLITE_PATH = "/tmp/crmfeed_notifications_bench.db"
SECRET_KEY = "crmfeed-bench-secret-key-not-for-production-0123456789"
PASSWORD_HASH = (
    "$argon2id$v=19$m=64,t=1,p=4$TyGeMKJXt0VQiW/LyimOsw$sAMuERyXM9/AuKneO+rnvNl5Q7H4mnSxbKmZS9wh7vA"
)
BATCH = 5_000
SEED = 20_240_607
TEAMS = 50  # managers, one team department each
ENTERPRISE = 1
CEO = 1
KAM = TEAMS + 2  # the key-account manager: owns the account of the 10,000-follower item
FIRST_REP = KAM + 1
GROUP = 4  # connected followers of each steady-load item (the poster is one of them)

# The client's subscription: what tests/live_helpers.py sends (a realistic client selection).
SUBSCRIBE = """subscription($after: String) { notifications(after: $after) {
  id cursor kind message read actor { name } feedItem { id content } record { id name } } }"""
REPLY = "mutation($item: ID!, $content: String!) { reply(itemId: $item, content: $content) { id } }"
MARKER = re.compile(r"bench#([A-Za-z0-9]+)")

REPO_ROOT = Path(__file__).resolve().parent.parent

console = Console(width=160)


def monotonic() -> float:
    """CLOCK_MONOTONIC: one clock for every process on this machine, so the server's commit
    times and the client's receipt times can be subtracted."""
    return time.monotonic()


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65_536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(samples: Sequence[float], fraction: float) -> float:
    if not samples:
        return math.nan
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# -- the data -------------------------------------------------------------------------------------


@dataclass
class ItemPlan:
    id: int
    account_id: int
    members: list[int]  # connected followers; replies are posted by them in turn
    manager: int  # follows too, never connected: an inbox row without a live delivery

    @property
    def followers(self) -> list[int]:
        return [*self.members, self.manager]


@dataclass
class Plan:
    """Who is who, derived deterministically from the sizes (the same in every process)."""

    users: int
    subscribers: list[int]
    items: list[ItemPlan]
    warmup: ItemPlan
    big_item: int
    big_account: int
    big_followers: list[int]
    inbox: int

    @classmethod
    def make(cls, users: int, subscribers: int, items: int, followers: int, inbox: int) -> Plan:
        reps = list(range(FIRST_REP, users + 1))
        subs = reps[:subscribers]
        by_team: dict[int, list[int]] = {}
        for user in subs:
            by_team.setdefault(manager_of(user), []).append(user)
        groups = [
            (team, members[i : i + GROUP])
            for team, members in sorted(by_team.items())
            for i in range(0, len(members) - GROUP + 1, GROUP)
        ]
        # interleave teams so consecutive items belong to different teams
        groups.sort(key=lambda g: (by_team[g[0]].index(g[1][0]), g[0]))
        plans = [
            ItemPlan(k + 1, k + 1, groups[k % len(groups)][1], groups[k % len(groups)][0])
            for k in range(items)
        ]
        spare = reps[subscribers : subscribers + GROUP]
        warm = ItemPlan(items + 1, items + 1, spare, manager_of(spare[0]))
        big_followers = [u for u in range(1, users + 1) if u != KAM][:followers]
        return cls(users, subs, plans, warm, items + 2, items + 2, big_followers, inbox)


def manager_of(rep: int) -> int:
    return 2 + (rep - FIRST_REP) % TEAMS


async def insert_rows(connection: AsyncConnection, model: Any, rows: Sequence[dict]) -> None:
    for start in range(0, len(rows), BATCH):
        await connection.execute(insert(model), list(rows[start : start + BATCH]))


async def build(engine: AsyncEngine, plan: Plan, records_per_rep: int, postgres: bool) -> None:
    rng = random.Random(SEED)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    e = ENTERPRISE
    reps = range(FIRST_REP, plan.users + 1)

    def user(uid: int, name: str, department: int, superior: int | None) -> dict:
        return {
            "id": uid,
            "enterprise_id": e,
            "name": f"{name} {uid:05d}",
            "email": f"user{uid:05d}@bench.example.com",
            "password_hash": PASSWORD_HASH,
            "department_id": department,
            "superior_id": superior,
            "created_at": start,
        }

    departments = [
        {"id": 1, "enterprise_id": e, "name": "Head Office", "parent_id": None, "created_at": start}
    ] + [
        {"id": 1 + t, "enterprise_id": e, "name": f"Team {t}", "parent_id": 1, "created_at": start}
        for t in range(1, TEAMS + 1)
    ]
    users = [user(CEO, "CEO", 1, None)]
    users += [user(1 + t, "Manager", 1 + t, CEO) for t in range(1, TEAMS + 1)]
    users.append(user(KAM, "Key Account Manager", 1, CEO))
    users += [user(r, "Rep", manager_of(r), manager_of(r)) for r in reps]
    closure = [(u, u, 0) for u in range(1, plan.users + 1)]
    closure += [(CEO, u, 1) for u in range(2, KAM + 1)]
    closure += [(manager_of(r), r, 1) for r in reps] + [(CEO, r, 2) for r in reps]

    records: list[dict] = []
    team: list[dict] = []

    def account(rid: int, owner: int, name: str, members: Sequence[int] = ()) -> None:
        records.append(
            {
                "id": rid,
                "enterprise_id": e,
                "object_type": "ACCOUNT",
                "name": name,
                "owner_id": owner,
                "status": "ASSIGNED",
                "life_status": LifeStatus.NORMAL.value,
                "values": {"accountNo": f"A{rid:07d}"},
                "created_by_id": owner,
                "updated_by_id": owner,
                "created_at": start,
                "updated_at": start,
            }
        )
        team.append(member_row(rid, owner, TeamRole.OWNER, DataAccess.READ_WRITE))
        for m in members:
            team.append(member_row(rid, m, TeamRole.REGULAR_MEMBER, DataAccess.READ_ONLY))

    def member_row(rid: int, uid: int, role: TeamRole, access: DataAccess) -> dict:
        return {
            "enterprise_id": e,
            "record_id": rid,
            "user_id": uid,
            "team_role": role.value,
            "access": access.value,
            "added_at": start,
        }

    for item in [*plan.items, plan.warmup]:
        account(item.account_id, item.members[0], f"Visit plan {item.id}", item.members[1:])
    account(plan.big_account, KAM, "Key Account (shared with the whole company)")
    next_id = plan.big_account + 1
    for r in reps:
        for _ in range(records_per_rep):
            mate: list[int] = []
            if rng.random() < 0.3:  # a colleague of the same team in the account's team
                candidate = FIRST_REP + (r - FIRST_REP + TEAMS * rng.randint(1, 20)) % len(reps)
                mate = [candidate] if candidate != r else []
            account(next_id, r, f"Account {next_id}", mate)
            next_id += 1

    feed_items = [
        {
            "id": item.id,
            "enterprise_id": e,
            "type": FeedItemType.SALES_RECORD.value,
            "author_id": item.members[0],
            "content": f"Visit plan {item.id}: agenda and attendees",
            "account_id": item.account_id,
            "created_at": start,
            "updated_at": start,
        }
        for item in [*plan.items, plan.warmup]
    ]
    feed_items.append(
        {
            "id": plan.big_item,
            "enterprise_id": e,
            "type": FeedItemType.SALES_RECORD.value,
            "author_id": KAM,
            "content": "Key account: quarterly review (everyone follows this one)",
            "account_id": plan.big_account,
            "created_at": start,
            "updated_at": start,
        }
    )
    links = [
        {"enterprise_id": e, "item_id": i["id"], "record_id": i["account_id"]} for i in feed_items
    ]
    follows = [
        {"enterprise_id": e, "item_id": item.id, "user_id": u, "created_at": start}
        for item in [*plan.items, plan.warmup]
        for u in item.followers
    ]
    follows += [
        {"enterprise_id": e, "item_id": plan.big_item, "user_id": u, "created_at": start}
        for u in plan.big_followers
    ]
    async with engine.begin() as connection:
        await connection.execute(
            insert(Enterprise),
            [{"id": e, "name": "Bench Corp", "sharing_opens_follow_up": True, "created_at": start}],
        )
        await insert_rows(connection, Department, departments)
        await insert_rows(
            connection,
            DepartmentClosure,
            [
                {"enterprise_id": e, "ancestor_id": d["id"], "descendant_id": d["id"], "depth": 0}
                for d in departments
            ]
            + [
                {"enterprise_id": e, "ancestor_id": 1, "descendant_id": d["id"], "depth": 1}
                for d in departments[1:]
            ],
        )
        await insert_rows(connection, User, users)
        for d in departments:
            await connection.execute(
                Department.__table__.update()
                .where(Department.__table__.c.id == d["id"])
                .values(head_id=CEO if d["id"] == 1 else d["id"])  # manager id == team dept id
            )
        await insert_rows(
            connection,
            UserClosure,
            [
                {"enterprise_id": e, "ancestor_id": a, "descendant_id": d, "depth": depth}
                for a, d, depth in closure
            ],
        )
        await insert_rows(
            connection,
            UserRole,
            [
                {"enterprise_id": e, "user_id": u, "role": FunctionRole.SALES.value}
                for u in range(1, plan.users + 1)
            ],
        )
        await insert_rows(connection, Record, records)
        await insert_rows(connection, TeamMember, team)
        await connection.execute(
            insert(SharingRule),
            [
                {
                    "id": 1,
                    "enterprise_id": e,
                    "object_type": "ACCOUNT",
                    "from_user_id": KAM,
                    "from_department_id": None,
                    "to_user_id": None,
                    "to_department_id": 1,  # the head office: everyone's department chain
                    "access": DataAccess.READ_ONLY.value,
                    "created_at": start,
                }
            ],
        )
        await insert_rows(connection, FeedItem, feed_items)
        await insert_rows(connection, FeedItemRecord, links)
        await insert_rows(connection, FeedFollow, follows)
        # One event per older notification (the worst case for reading them: no sharing).
        older = [(u, seq) for u in range(1, plan.users + 1) for seq in range(1, plan.inbox + 1)]
        events = [
            {
                "id": n,
                "enterprise_id": e,
                "kind": NotificationKind.IMPORT_FINISHED.value,
                "message": f"Import {seq} finished.",
                "created_at": start + timedelta(minutes=seq),
            }
            for n, (_, seq) in enumerate(older, start=1)
        ]
        await insert_rows(connection, NotificationEvent, events)
        inbox = [
            {"user_id": u, "seq": seq, "event_id": n} for n, (u, seq) in enumerate(older, start=1)
        ]
        await insert_rows(connection, InboxEntry, inbox)
        await insert_rows(
            connection,
            InboxCounter,
            [{"user_id": u, "last_seq": plan.inbox} for u in range(1, plan.users + 1)],
        )
    if postgres:
        async with engine.begin() as connection:
            for table in (
                "enterprises",
                "departments",
                "users",
                "records",
                "sharing_rules",
                "feed_items",
                "notification_events",
            ):
                await connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
        async with engine.connect() as connection:
            auto = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("VACUUM ANALYZE"))
    else:
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
        async with engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


# -- the server process: the real app, instrumented from outside ----------------------------------

KIND: contextvars.ContextVar[str] = contextvars.ContextVar("bench_kind", default="other")
TAG: contextvars.ContextVar[str | None] = contextvars.ContextVar("bench_tag", default=None)
TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+"?(\w+)', re.IGNORECASE)


def shape(statement: str) -> str:
    """'SELECT notifications', 'INSERT inbox_counters', ...: enough to tell statements apart."""
    verb = statement.lstrip()[:6].upper()
    found = TABLE.search(statement)
    return f"{verb} {found.group(1) if found else '?'}"


class Probe:
    """Wraps the ASGI app and listens to SQLAlchemy, without touching the app's code.

    * every statement is counted by what the connection running it is serving: `http` (the
      reply mutation), `websocket` (subscriptions: connect and fields read outside a delivery),
      `deliverer` (the process's batched reads for every woken subscription), `lifespan` (the
      reminder runner): a context variable set here when uvicorn calls the app, inherited by
      every task the request starts and by SQLAlchemy's greenlets;
    * a request with the header `x-bench-tag: T` records, under T, when the server got it, when
      its session committed (SessionEvents.after_commit), when it called hub.publish, when the
      hub dispatched its pairs to local subscriptions, and when the response ended;
    * every websocket `next` message is counted, and the `bench#T` marker in it (the reply's
      text is in the notification's message) timed when handed to uvicorn's send.
    """

    def __init__(self, services: Any) -> None:
        from sqlalchemy.orm import Session

        self.services = services
        self.reset()
        self.profiler: cProfile.Profile | None = None
        self.traced: tracemalloc.Snapshot | None = None
        self.kinds: Counter[str] = Counter()
        self.lag_task: asyncio.Task[None] | None = None
        event.listen(services.engine.sync_engine, "before_cursor_execute", self.on_statement)
        self._gc_started = 0.0
        gc.callbacks.append(self.on_gc)
        event.listen(Session, "after_commit", self.on_commit)
        hub = services.hub
        publish, dispatch = hub.publish, hub._dispatch

        async def timed_publish(pairs: list[tuple[int, int]]) -> None:
            tag = TAG.get()
            if tag is not None:
                self.times["publish"].setdefault(tag, monotonic())
                self.pair_tag.update((tuple(p), tag) for p in pairs)
            await publish(pairs)

        def timed_dispatch(pairs: Any) -> None:
            pairs = [tuple(p) for p in pairs]
            if pairs:
                tag = self.pair_tag.get(pairs[0])
                if tag is not None:
                    self.times["dispatch"].setdefault(tag, monotonic())
            dispatch(pairs)

        hub.publish = timed_publish
        hub._dispatch = timed_dispatch

    def reset(self) -> None:
        self.statements: Counter[str] = Counter()
        self.shapes: Counter[str] = Counter()
        self.commits: Counter[str] = Counter()
        self.times: dict[str, dict[str, float]] = {
            k: {} for k in ("start", "commit", "publish", "dispatch", "end")
        }
        self.pair_tag: dict[tuple[int, int], str] = {}
        self.sends: list[tuple[str, float]] = []
        self.deliveries = 0
        self.ws_errors = 0
        self.lags: list[float] = []
        self.gc_seconds: Counter[int] = Counter()
        self.gc_runs: Counter[int] = Counter()

    async def watch_loop(self, every: float = 0.05) -> None:
        """Event-loop lag: how late a 50 ms sleep wakes up (every callback that hogs the loop,
        e.g. SQLAlchemy building a statement, delays every other socket by as much)."""
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(every)
            self.lags.append(max(0.0, loop.time() - before - every))

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        """Time spent in Python's cyclic garbage collector, per generation."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_seconds[info["generation"]] += time.perf_counter() - self._gc_started
            self.gc_runs[info["generation"]] += 1

    def on_statement(self, _c: Any, _cur: Any, statement: str, *_: Any) -> None:
        task = asyncio.current_task()
        # The process's deliverer reads for every subscription at once (its own task).
        kind = "deliverer" if task and task.get_name() == "crmfeed-deliverer" else KIND.get()
        self.statements[kind] += 1
        self.shapes[f"{kind}: {shape(statement)}"] += 1

    def on_commit(self, _session: Any) -> None:
        self.commits[KIND.get()] += 1
        tag = TAG.get()
        if tag is not None:
            self.times["commit"].setdefault(tag, monotonic())

    def wrap(self, app: Any) -> Any:
        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            kind = scope["type"]
            KIND.set(kind)
            if kind == "http" and scope["path"].startswith("/__bench/"):
                await self.endpoint(scope, send)
                return
            if kind == "http":
                tag = dict(scope["headers"]).get(b"x-bench-tag")
                if tag is not None:
                    name = tag.decode()
                    TAG.set(name)
                    self.times["start"][name] = monotonic()
                    try:
                        await app(scope, receive, send)
                    finally:
                        self.times["end"][name] = monotonic()
                    return
            if kind == "websocket":
                await app(scope, receive, self.timed_send(send))
                return
            await app(scope, receive, send)

        return wrapped

    def timed_send(self, send: Any) -> Any:
        async def timed(message: Any) -> None:
            if message["type"] == "websocket.send":
                body = message.get("text") or ""
                if '"next"' in body[:40] and '"errors"' not in body:
                    self.deliveries += 1
                    found = MARKER.search(body)
                    if found:
                        self.sends.append((found.group(1), monotonic()))
                elif '"error"' in body[:40] or '"errors"' in body:
                    self.ws_errors += 1
            await send(message)

        return timed

    def snapshot(self) -> dict[str, Any]:
        hub = self.services.hub
        return {
            "statements": dict(self.statements),
            "shapes": dict(self.shapes),
            "commits": dict(self.commits),
            "times": self.times,
            "sends": self.sends,
            "deliveries": self.deliveries,
            "ws_errors": self.ws_errors,
            "subscriptions": hub.subscription_count,
            "hub_reconnects": hub.reconnects,
            "pool": self.services.engine.pool.status(),
            "rss_kib": rss_kib(),
            "loop_lag_ms": [round(x * 1000, 1) for x in self.lags],
            "gc": {g: [self.gc_runs[g], round(self.gc_seconds[g], 3)] for g in range(3)},
            "gc_objects": len(gc.get_objects()),
            "blocks": sys.getallocatedblocks(),
            "tasks": len(asyncio.all_tasks()),
            "sockets": self.services.hub.sessions.count,
        }

    async def endpoint(self, scope: Any, send: Any) -> None:
        action = scope["path"].removeprefix("/__bench/")
        if self.lag_task is None:
            self.lag_task = asyncio.create_task(self.watch_loop(), name="bench-loop-lag")
        query = parse_qs(scope.get("query_string", b"").decode())
        body: Any
        if action == "stats":
            body = self.snapshot()
            if query.get("reset"):
                self.reset()
        elif action == "gc":
            for _ in range(3):
                gc.collect()
            await asyncio.sleep(0)
            body = self.snapshot()
        elif action == "tasks":
            body = {"tasks": task_stacks()}
        elif action == "trace":
            body = {"lines": self.trace_step()}
        elif action == "profile-start":
            self.profiler = cProfile.Profile(time.thread_time)  # CPU of the main thread
            self.profiler.enable()
            body = {"ok": True}
        elif action == "profile-stop":
            body = {"report": self.stop_profile()}
        else:
            body = {"error": action}
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def trace_step(self) -> list[tuple[str, int, int]]:
        """With --trace-memory: what was allocated since the previous step and is still alive,
        by source line (bytes, blocks), the biggest first; the first line is the total."""
        if not tracemalloc.is_tracing():
            return []
        for _ in range(3):
            gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        previous, self.traced = self.traced, snapshot
        kinds = Counter(type(o).__qualname__ for o in gc.get_objects())
        before_kinds, self.kinds = self.kinds, kinds
        if previous is None:
            return []
        stats = snapshot.compare_to(previous, "lineno")
        total = ("total", sum(s.size_diff for s in stats), sum(s.count_diff for s in stats))
        files = [
            (
                f"file {package_of(s.traceback[0].filename)}: {Path(s.traceback[0].filename).name}",
                s.size_diff,
                s.count_diff,
            )
            for s in snapshot.compare_to(previous, "filename")[:25]
        ]
        lines = [(str(s.traceback[0]), s.size_diff, s.count_diff) for s in stats[:80]]
        kinds.subtract(before_kinds)
        objects = [(f"objects {name}", 0, n) for name, n in kinds.most_common(30)]
        return [total, *files, *lines, *objects]

    def stop_profile(self) -> str:
        if self.profiler is None:
            return ""
        self.profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(self.profiler, stream=out)
        by_package: Counter[str] = Counter()
        for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            by_package[package_of(filename)] += tottime
        total = sum(by_package.values()) or 1.0
        out.write("own CPU time by package (cProfile, thread_time of the main thread):\n")
        for name, seconds in by_package.most_common(14):
            out.write(f"  {name:28s} {seconds:7.2f}s {seconds / total * 100:5.1f} %\n")
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(45)
        self.profiler = None
        return out.getvalue()


def package_of(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if filename.startswith(str(REPO_ROOT)):
        return "crmfeed: " + filename[len(str(REPO_ROOT)) + 1 :].split("/", 1)[0]
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins / C"
    return "stdlib: " + Path(filename).stem


def task_stacks() -> dict[str, int]:
    """Every asyncio task of the server, grouped by name and where it waits (innermost last)."""
    where: Counter[str] = Counter()
    for task in asyncio.all_tasks():
        chain, step = [], task.get_coro()
        while step is not None:
            frame = getattr(step, "cr_frame", None) or getattr(step, "ag_frame", None)
            if frame is not None:
                chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
            step = getattr(step, "cr_await", None) or getattr(step, "ag_await", None)
        name = task.get_name()
        name = "Task" if name.startswith("Task-") else name
        where[f"{name} @ {' > '.join(chain[-4:])}"] += 1
    return dict(where.most_common(40))


def serve(args: argparse.Namespace) -> None:
    """The server process: `crmfeed serve`'s uvicorn settings, plus the probe."""
    import uvicorn

    from crmfeed.app import Services, create_app
    from crmfeed.runtime import tune_gc, uvicorn_options

    if args.trace_memory:
        tracemalloc.start(1)
    raise_fd_limit()
    settings = server_settings(args)
    services = Services.create(settings, schema=args.schema)
    probe = Probe(services)
    app = probe.wrap(create_app(services))
    tune_gc()  # as crmfeed.runtime.served_app does for `crmfeed serve`
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        lifespan="on",
        log_level="warning",
        **uvicorn_options(settings),  # the websocket options `crmfeed serve` passes
    )
    uvicorn.Server(config).run()


def server_settings(args: argparse.Namespace) -> Settings:
    websockets: dict[str, Any] = {}
    if args.ws:
        websockets["ws_implementation"] = args.ws
    if args.server_deflate != "settings":
        websockets["ws_per_message_deflate"] = args.server_deflate == "on"
    return Settings(
        **websockets,
        database_url=args.database_url,
        database_schema=args.schema,
        broadcast_url=args.broadcast,
        broadcast_channel=args.channel,
        secret_key=SECRET_KEY,
        argon2_time_cost=1,
        argon2_memory_cost_kib=64,
    )


# -- the clients ----------------------------------------------------------------------------------


@dataclass
class Receipt:
    tag: str
    user: int
    at: float


@dataclass
class Listener:
    """One browser tab: a graphql-transport-ws connection with the notifications subscription.
    Like a real client it keeps the cursor of the last notification received, and when the
    server ends the subscription (an error, then `complete`) it subscribes again after it."""

    user: int
    token: str
    after: str | None
    sink: list[Receipt]
    compression: bool
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    received: int = 0
    resubscribed: int = 0
    problems: list[str] = field(default_factory=list)
    ws: Any = None
    live: bool = False

    async def subscribe(self) -> None:
        variables = {"after": self.after}
        op = str(self.resubscribed + 1)
        payload = {"query": SUBSCRIBE, "variables": variables}
        await self.ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))
        self.live = True

    async def run(self, url: str, gate: asyncio.Semaphore) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed
        from websockets.typing import Subprotocol

        try:
            async with gate:
                self.ws = ws = await connect(
                    url,
                    subprotocols=[Subprotocol("graphql-transport-ws")],
                    compression="deflate" if self.compression else None,
                    open_timeout=60,
                    ping_interval=None,  # the server pings (uvicorn, every 20 s)
                )
                auth = {"Authorization": f"Bearer {self.token}"}
                await ws.send(json.dumps({"type": "connection_init", "payload": auth}))
                ack = json.loads(await ws.recv())
                if ack.get("type") != "connection_ack":
                    self.problems.append(f"no ack: {ack}")
                    return
                await self.subscribe()
            async for raw in ws:
                at = monotonic()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "next":
                    payload = message["payload"]
                    if payload.get("errors"):
                        self.problems.append(str(payload["errors"])[:200])
                        continue
                    notification = payload["data"]["notifications"]
                    self.received += 1
                    self.after = notification["cursor"]
                    found = MARKER.search(notification["message"])
                    if found:
                        self.sink.append(Receipt(found.group(1), self.user, at))
                    self.ready.set()
                elif kind == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif kind in ("error", "complete"):
                    self.live = False
                    self.problems.append(f"{kind}: {str(message)[:200]}")
                    if self.resubscribed >= 100:
                        return
                    self.resubscribed += 1
                    await self.subscribe()
        except ConnectionClosed as closed:
            if closed.rcvd is None or closed.rcvd.code != 1000:
                self.problems.append(f"closed: {closed}")
        except Exception as error:  # reported, never fatal for the other 999
            self.problems.append(f"{type(error).__name__}: {error}")
        finally:
            self.live = False
            self.ready.set()

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()


# -- the driver -----------------------------------------------------------------------------------


@dataclass
class Target:
    database: str
    url: str
    schema: str | None
    path: Path | None
    broadcast: str
    channel: str

    def settings(self) -> Settings:
        return Settings(
            database_url=self.url,
            database_schema=self.schema,
            broadcast_url=self.broadcast,
            broadcast_channel=self.channel,
            secret_key=SECRET_KEY,
            argon2_time_cost=1,
            argon2_memory_cost_kib=64,
        )


class Server:
    """The server subprocess and its probe endpoints."""

    def __init__(self, target: Target, options: list[str], code: Path = REPO_ROOT) -> None:
        self.target = target
        self.options = options  # forwarded to the server process (--ws, --server-deflate, ...)
        self.code = code  # the checkout whose code the server runs
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", timeout=120)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "bench.notifications_bench",
            "--serve",
            "--port",
            str(self.port),
            "--database-url",
            self.target.url,
            "--broadcast",
            self.target.broadcast,
            "--channel",
            self.target.channel,
        ]
        if self.target.schema:
            command += ["--schema", self.target.schema]
        command += self.options
        # `-m` puts the working directory first on sys.path: the server imports its code.
        self.process = await asyncio.create_subprocess_exec(*command, cwd=self.code)
        deadline = monotonic() + 60
        while monotonic() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if (await self.http.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError("the server did not start within 60 s")

    async def stop(self) -> None:
        await self.http.aclose()
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()

    async def probe(self, action: str, **query: str) -> dict[str, Any]:
        response = await self.http.get(f"/__bench/{action}", params=query)
        return response.json()

    def rss_kib(self) -> int:
        assert self.process is not None
        return rss_kib(self.process.pid)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Driver:
    target: Target
    plan: Plan
    server: Server
    compression: bool
    sink: list[Receipt] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    health_seen: dict[int, int] = field(default_factory=dict)
    resubscribed_seen: int = 0

    def __post_init__(self) -> None:
        settings = self.target.settings()
        self.tokens = {
            u: issue_token(settings, u, ENTERPRISE) for u in range(1, self.plan.users + 1)
        }
        self.poster = self.client_of(self.server)
        self.starts = 0  # servers warmed up so far (their warm-up tags differ)

    @staticmethod
    def client_of(server: Server) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.port}",
            timeout=120,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
        )

    async def use(self, server: Server) -> None:
        """Post to and subscribe on another server from now on (`--code`)."""
        await self.poster.aclose()
        self.server = server
        self.poster = self.client_of(server)

    async def last_seqs(self, users: Sequence[int]) -> dict[int, int]:
        """Each user's last inbox seq now."""
        engine = create_engine(self.target.settings(), schema=self.target.schema)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(InboxCounter.user_id, InboxCounter.last_seq).where(
                        InboxCounter.user_id.in_(list(users))
                    )
                )
                return {user: last for user, last in rows}
        finally:
            await engine.dispose()

    async def watch(self, every: float) -> None:
        """Print the server's progress and where its tasks wait, every `every` seconds."""
        started = monotonic()
        while True:
            await asyncio.sleep(every)
            stats = await self.server.probe("stats")
            tasks = await self.server.probe("tasks")
            console.print(
                f"[{monotonic() - started:5.1f}s] published {len(stats['times']['publish'])}, "
                f"dispatched {len(stats['times']['dispatch'])}, deliveries {stats['deliveries']}, "
                f"receipts {len(self.sink)}, hub reconnects {stats['hub_reconnects']}, "
                f"loop lag max {max(stats['loop_lag_ms'], default=0):.0f} ms, "
                f"pool: {stats['pool']}",
                highlight=False,
                markup=False,
            )
            for where, n in list(tasks["tasks"].items())[:8]:
                console.print(f"    {n:5d} {where}", highlight=False, markup=False)

    async def post_reply(self, user: int, item: int, tag: str, text: str) -> tuple[float, float]:
        """(sent, answered) monotonic times; raises if the mutation failed."""
        sent = monotonic()
        response = await self.poster.post(
            "/graphql",
            json={
                "query": REPLY,
                "variables": {
                    "item": to_global(Kind.FEED_ITEM, item),
                    "content": f"bench#{tag} {text}",
                },
            },
            headers={"Authorization": f"Bearer {self.tokens[user]}", "x-bench-tag": tag},
        )
        answered = monotonic()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"reply {tag} failed: {body['errors']}")
        return sent, answered

    async def open(self, users: Sequence[int], concurrency: int = 50) -> float:
        """Open one subscription per user, resuming after their next-to-last notification so
        the replay sends exactly one (it tells us the subscription is live). Returns seconds."""
        started = monotonic()
        gate = asyncio.Semaphore(concurrency)
        fresh = []
        last = await self.last_seqs(users)
        for user in users:
            listener = Listener(
                user,
                self.tokens[user],
                encode_cursor(last.get(user, self.plan.inbox) - 1),
                self.sink,
                self.compression,
            )
            fresh.append(listener)
            self.tasks.append(asyncio.create_task(listener.run(self.server.ws_url, gate)))
        await asyncio.wait_for(asyncio.gather(*(f.ready.wait() for f in fresh)), timeout=300)
        self.listeners += fresh
        problems = [p for f in fresh for p in f.problems]
        if problems:
            raise RuntimeError(f"{len(problems)} subscriptions failed, e.g. {problems[:3]}")
        return monotonic() - started

    async def close_all(self) -> None:
        await asyncio.gather(*(listener.close() for listener in self.listeners))
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=30)
        self.listeners, self.tasks = [], []

    async def wait_for(self, expected: set[tuple[str, int]], seconds: float) -> None:
        """Until every expected receipt is in, `seconds` passed, or nothing came for 45 s."""
        deadline = monotonic() + seconds
        progress, count = monotonic(), len(self.sink)
        while monotonic() < deadline and monotonic() - progress < 45:
            if expected <= {(r.tag, r.user) for r in self.sink}:
                return
            await asyncio.sleep(0.1)
            if len(self.sink) != count:
                progress, count = monotonic(), len(self.sink)

    def client_health(self) -> dict[str, Any]:
        """Subscriptions the server ended (the client subscribed again) and client errors;
        counted since the previous call."""
        seen = self.health_seen
        problems = [
            f"user {x.user}: {p}" for x in self.listeners for p in x.problems[seen.get(x.user, 0) :]
        ]
        resubscribed = sum(x.resubscribed for x in self.listeners) - self.resubscribed_seen
        self.health_seen = {x.user: len(x.problems) for x in self.listeners}
        self.resubscribed_seen += resubscribed
        return {
            "resubscribed": resubscribed,
            "not_live": sum(1 for x in self.listeners if not x.live),
            "client_problems": len(problems),
            "client_examples": problems[:6],
        }

    async def inbox_rows(self, pattern: str) -> int:
        engine = create_engine(self.target.settings(), schema=self.target.schema)
        try:
            async with engine.connect() as connection:
                count = await connection.scalar(
                    select(func.count())
                    .select_from(Notification)
                    .where(Notification.message.like(f"%{pattern}%"))
                )
                return int(count or 0)
        finally:
            await engine.dispose()

    # -- 0. warm-up ------------------------------------------------------------------------------

    async def warm_up(self) -> None:
        """Run every code path once (imports, caches, pool) before the baseline RSS."""
        item = self.plan.warmup
        await self.open(item.members[1:])
        self.starts += 1
        tags = [f"w{self.starts}x{n}" for n in range(3)]
        for tag in tags:
            await self.post_reply(item.members[0], item.id, tag, "warm-up")
        await self.wait_for({(tag, u) for tag in tags for u in item.members[1:]}, 10)
        await self.close_all()
        self.sink.clear()

    # -- 3. memory -------------------------------------------------------------------------------

    async def memory(self, steps_wanted: int = 2) -> None:
        """Open the subscriptions in `steps_wanted` equal steps; after each, the server's RSS
        (after a full collection), and with --trace-memory what stayed allocated, by line."""
        await self.server.probe("trace")
        before = await self.server.probe("gc")
        steps = [before]
        subscribers = self.plan.subscribers
        size = math.ceil(len(subscribers) / steps_wanted)
        timings, traces = [], []
        for start in range(0, len(subscribers), size):
            timings.append(await self.open(subscribers[start : start + size]))
            await asyncio.sleep(2)
            steps.append(await self.server.probe("gc"))
            traces.append((await self.server.probe("trace"))["lines"])
            console.print(
                f"   {steps[-1]['sockets']:,} sockets open: server RSS "
                f"{steps[-1]['rss_kib'] / 1024:.1f} MiB, {steps[-1]['tasks']:,} asyncio tasks; "
                f"load average {load()}",
                highlight=False,
            )
        self.sink.clear()
        n = len(subscribers)
        self.results["memory"] = {
            "subscriptions": n,
            "open_seconds": timings,
            "rss_kib": [s["rss_kib"] for s in steps],
            "gc_objects": [s["gc_objects"] for s in steps],
            "blocks": [s["blocks"] for s in steps],
            "tasks": [s["tasks"] for s in steps],
            "sockets": [s["sockets"] for s in steps],
            "server_subscriptions": steps[-1]["subscriptions"],
            "pool": steps[-1]["pool"],
            "traces": traces,
            "load": load(),
        }

    # -- 1. steady load --------------------------------------------------------------------------

    async def steady(self, rate: float, duration: float, profile: bool) -> dict[str, Any]:
        items = self.plan.items
        count = round(rate * duration)
        prefix = f"s{round(rate)}x"
        jobs = []
        for i in range(count):
            item = items[i % len(items)]
            poster = item.members[(i // len(items)) % GROUP]
            jobs.append((f"{prefix}{i}", item, poster))
        expected = {(tag, u) for tag, item, poster in jobs for u in item.members if u != poster}
        self.sink.clear()
        await self.server.probe("stats", reset="1")
        if profile:
            await self.server.probe("profile-start")
        answers: dict[str, tuple[float, float]] = {}
        failures: list[str] = []

        async def one(tag: str, item: ItemPlan, poster: int) -> None:
            try:
                answers[tag] = await self.post_reply(poster, item.id, tag, "update on the plan")
            except Exception as error:
                failures.append(f"{tag}: {error}"[:300])

        cpu_before = server_cpu(self.server)
        began = monotonic()
        posts = []
        for i, job in enumerate(jobs):
            delay = began + i / rate - monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            posts.append(asyncio.create_task(one(*job)))
        await asyncio.gather(*posts)
        await self.wait_for(expected, 300)
        finished = monotonic()
        cpu = server_cpu(self.server) - cpu_before
        report = await self.server.probe("profile-stop") if profile else None
        stats = await self.server.probe("stats", reset="1")
        rows = await self.inbox_rows(f"bench#{prefix}")
        # a reply whose transaction did not commit notified nobody (a mutation can also fail
        # after its commit, e.g. while resolving its answer: then it did notify)
        committed = stats["times"]["commit"]
        expected = {(tag, u) for tag, u in expected if tag in committed}
        result = analyse(
            stats, self.sink, answers, expected, {tag for tag, _, _ in jobs}, began, finished
        )
        result.update(self.client_health())
        result.update(
            rate=rate,
            duration=duration,
            sockets=len(self.listeners),
            load=load(),
            replies=count,
            failures=failures,
            failed_but_committed=sum(
                1 for tag, _, _ in jobs if tag not in answers and tag in committed
            ),
            inbox_rows=rows,
            inbox_expected=sum(
                len(item.followers) - 1 for tag, item, _ in jobs if tag in committed
            ),
            server_cpu_seconds=cpu,
            wall_seconds=finished - began,
            profile=report["report"] if report else None,
        )
        return result

    # -- 2. fan-out ------------------------------------------------------------------------------

    async def fanout(self, run: int, profile: bool, tag: str = "") -> dict[str, Any]:
        tag = tag or f"f{run}"
        connected = {listener.user for listener in self.listeners}
        expected = {(tag, u) for u in self.plan.big_followers if u in connected}
        self.sink.clear()
        await self.server.probe("stats", reset="1")
        if profile:
            await self.server.probe("profile-start")
        cpu_before = server_cpu(self.server)
        began = monotonic()
        answers = {tag: await self.post_reply(KAM, self.plan.big_item, tag, "quarterly review")}
        await self.wait_for(expected, 600)
        finished = monotonic()
        cpu = server_cpu(self.server) - cpu_before
        report = await self.server.probe("profile-stop") if profile else None
        stats = await self.server.probe("stats", reset="1")
        result = analyse(stats, self.sink, answers, expected, {tag}, began, finished)
        result.update(self.client_health())
        result.update(
            followers=len(self.plan.big_followers),
            connected=len(expected),
            inbox_rows=await self.inbox_rows(f"bench#{tag} "),
            server_cpu_seconds=cpu,
            wall_seconds=finished - began,
            profile=report["report"] if report else None,
        )
        return result


def server_cpu(server: Server) -> float:
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime, all threads


def analyse(
    stats: dict[str, Any],
    sink: list[Receipt],
    answers: dict[str, tuple[float, float]],
    expected: set[tuple[str, int]],
    tags: set[str],
    began: float,
    finished: float,
) -> dict[str, Any]:
    times = stats["times"]
    commit = times["commit"]
    mine = [r for r in sink if r.tag in tags]
    seen = Counter((r.tag, r.user) for r in mine)
    latencies = [(r.at - commit[r.tag]) * 1000 for r in mine if r.tag in commit]
    from_start = [(r.at - times["start"][r.tag]) * 1000 for r in mine if r.tag in times["start"]]
    sends = [(at - commit[t]) * 1000 for t, at in stats["sends"] if t in commit and t in tags]
    client_mutation = [(b - a) * 1000 for a, b in answers.values()]
    server_mutation = [
        (commit[t] - times["start"][t]) * 1000 for t in tags if t in commit and t in times["start"]
    ]
    response_after_commit = [
        (times["end"][t] - commit[t]) * 1000 for t in tags if t in commit and t in times["end"]
    ]
    to_publish = [(times["publish"][t] - commit[t]) * 1000 for t in tags if t in times["publish"]]
    to_dispatch = [
        (times["dispatch"][t] - commit[t]) * 1000 for t in tags if t in times["dispatch"]
    ]
    deliveries = stats["deliveries"]
    ws_statements = stats["statements"].get("websocket", 0) + stats["statements"].get(
        "deliverer", 0
    )
    http_statements = stats["statements"].get("http", 0)
    last_receipt = max((r.at for r in mine), default=finished)
    return {
        "expected": len(expected),
        "received": len(seen),
        "missing": len(expected - set(seen)),
        "duplicates": sum(n - 1 for n in seen.values() if n > 1),
        "latency_ms": latencies,
        "from_request_ms": from_start,
        "server_send_ms": sends,
        "client_mutation_ms": client_mutation,
        "server_mutation_ms": server_mutation,
        "response_after_commit_ms": response_after_commit,
        "publish_ms": to_publish,
        "dispatch_ms": to_dispatch,
        "deliveries": deliveries,
        "ws_errors": stats["ws_errors"],
        "statements": stats["statements"],
        "shapes": stats["shapes"],
        "commits": stats["commits"],
        "sql_per_delivery": ws_statements / deliveries if deliveries else math.nan,
        "sql_per_reply": http_statements / len(tags) if tags else math.nan,
        "throughput": len(mine) / (last_receipt - began) if mine else 0.0,
        "pool": stats["pool"],
        "hub_reconnects": stats["hub_reconnects"],
        "rss_kib": stats["rss_kib"],
        "loop_lag_ms": stats["loop_lag_ms"],
        "gc": stats["gc"],
    }


# -- reporting ------------------------------------------------------------------------------------


def dist(samples: Sequence[float]) -> str:
    if not samples:
        return "-"
    return f"{percentile(samples, 0.5):.1f} / {percentile(samples, 0.99):.1f} / {max(samples):.1f}"


def machine_lines(target: Target, server_version: str | None) -> list[str]:
    cpu = platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    names = (
        "strawberry-graphql",
        "starlette",
        "uvicorn",
        "websockets",
        "uvloop",
        "sqlalchemy",
        "aiosqlite",
        "asyncpg",
        "broadcaster",
        "redis",
    )
    versions = ", ".join(f"{n} {metadata.version(n)}" for n in names)
    database = (
        f"SQLite {sqlite3.sqlite_version} (file {target.path}, WAL)"
        if target.path is not None
        else f"{server_version} (schema {target.schema})"
    )
    return [
        f"machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}",
        f"database: {database}; live push: {target.broadcast} (channel {target.channel})",
        f"libraries: {versions}",
    ]


def load() -> str:
    return " / ".join(f"{v:.2f}" for v in os.getloadavg())


def vertical(title: str, columns: list[str], rows: list[tuple[str, list[str]]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("", no_wrap=True)
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for name, cells in rows:
        table.add_row(name, *cells)
    return table


def common_rows(results: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    def each(fn: Any) -> list[str]:
        return [fn(r) for r in results]

    return [
        ("commit → client receipt", each(lambda r: dist(r["latency_ms"]))),
        ("commit → server hands it to uvicorn", each(lambda r: dist(r["server_send_ms"]))),
        ("commit → hub dispatch (pipe)", each(lambda r: dist(r["dispatch_ms"]))),
        ("request received → client receipt", each(lambda r: dist(r["from_request_ms"]))),
        ("request received → commit", each(lambda r: dist(r["server_mutation_ms"]))),
        ("commit → response sent", each(lambda r: dist(r["response_after_commit_ms"]))),
        ("mutation, seen by the poster", each(lambda r: dist(r["client_mutation_ms"]))),
        (
            "subscriptions ended by the server (re-subscribed)",
            each(lambda r: f"{r['resubscribed']}"),
        ),
        ("client-side error messages", each(lambda r: str(r["client_problems"]))),
        ("error messages sent by the server", each(lambda r: str(r["ws_errors"]))),
        ("SQL statements per delivery", each(lambda r: f"{r['sql_per_delivery']:.2f}")),
        ("SQL statements per reply mutation", each(lambda r: f"{r['sql_per_reply']:.2f}")),
        (
            "server CPU (all threads)",
            each(
                lambda r: (
                    f"{r['server_cpu_seconds']:.2f}s = "
                    f"{r['server_cpu_seconds'] / r['wall_seconds'] * 100:.0f} % of a core"
                )
            ),
        ),
        ("server event-loop lag (50 ms timer)", each(lambda r: dist(r["loop_lag_ms"]))),
        (
            "garbage collector: runs gen 0/1/2, seconds",
            each(
                lambda r: (
                    " / ".join(str(r["gc"][g][0]) for g in ("0", "1", "2"))
                    + f", {sum(r['gc'][g][1] for g in ('0', '1', '2')):.2f}s"
                )
            ),
        ),
        (
            "server CPU per delivery",
            each(lambda r: f"{r['server_cpu_seconds'] * 1000 / max(r['deliveries'], 1):.2f} ms"),
        ),
    ]


def print_steady(results: list[dict[str, Any]]) -> None:
    if not results:
        return
    rows = [
        ("subscriptions open", [f"{r['sockets']:,}" for r in results]),
        ("load average after", [r["load"] for r in results]),
        ("replies posted", [f"{r['replies']:,}" for r in results]),
        (
            "failed reply mutations (of them committed)",
            [f"{len(r['failures'])} ({r['failed_but_committed']})" for r in results],
        ),
        (
            "received / expected (replies committed)",
            [f"{r['received']:,} / {r['expected']:,}" for r in results],
        ),
        ("missing / duplicated", [f"{r['missing']} / {r['duplicates']}" for r in results]),
        (
            "inbox rows / expected",
            [f"{r['inbox_rows']:,} / {r['inbox_expected']:,}" for r in results],
        ),
        ("throughput (receipts / s)", [f"{r['throughput']:.1f}" for r in results]),
        *common_rows(results),
    ]
    columns = [f"{r['rate']:g}/s for {r['duration']:g}s" for r in results]
    console.print(vertical("1. steady load (ms: p50 / p99 / max)", columns, rows))
    for r in results:
        console.print(
            f"rate {r['rate']:g}/s: websocket errors {r['ws_errors']}; hub reconnects "
            f"{r['hub_reconnects']}; pool after: {r['pool']}",
            highlight=False,
        )
        if r["failures"]:
            console.print(f"  e.g. {r['failures'][:2]}", highlight=False, markup=False)
        if r["client_examples"]:
            console.print(f"  clients: {r['client_examples'][:3]}", highlight=False, markup=False)
        console.print(f"  statements: {statement_lines(r)}", highlight=False, markup=False)


def statement_lines(r: dict[str, Any]) -> str:
    shapes = sorted(r["shapes"].items(), key=lambda kv: (kv[0].split(":")[0], -kv[1]))
    return "; ".join(f"{name} x{n}" for name, n in shapes)


def print_fanout(results: list[dict[str, Any]]) -> None:
    if not results:
        return
    rows = [
        ("followers / connected", [f"{r['followers']:,} / {r['connected']:,}" for r in results]),
        ("inbox rows written", [f"{r['inbox_rows']:,}" for r in results]),
        (
            "received / missing / duplicated",
            [f"{r['received']:,} / {r['missing']} / {r['duplicates']}" for r in results],
        ),
        (
            "request received → last client receipt",
            [f"{max(r['from_request_ms'], default=math.nan):.0f}" for r in results],
        ),
        ("SQL statements of the mutation", [str(r["statements"].get("http", 0)) for r in results]),
        *common_rows(results),
    ]
    columns = [f"run {i + 1}" for i in range(len(results))]
    console.print(vertical("2. fan-out: one reply to the 10,000-follower item (ms)", columns, rows))
    for r in results:
        if r["client_examples"]:
            console.print(f"  clients: {r['client_examples'][:3]}", highlight=False, markup=False)
    for r in results[:1]:
        console.print(f"  statements: {statement_lines(r)}", highlight=False, markup=False)
        console.print(f"  pool after: {r['pool']}", highlight=False)


def print_memory(m: dict[str, Any]) -> None:
    rss, sockets = m["rss_kib"], m.get("sockets") or [0, m["subscriptions"]]
    n = m["subscriptions"]
    per = (rss[-1] - rss[0]) / n
    steps = ", ".join(
        f"next {sockets[i + 1] - sockets[i]:,}: "
        f"{(rss[i + 1] - rss[i]) / max(sockets[i + 1] - sockets[i], 1):.1f} KiB each"
        for i in range(len(rss) - 1)
    )
    tasks = m.get("tasks")
    console.print(
        f"3. memory: server RSS {rss[0] / 1024:.1f} MiB with no subscription → "
        f"{rss[-1] / 1024:.1f} MiB with {n:,} idle subscriptions: "
        f"[bold]{per:.1f} KiB per subscription[/] ({steps}; target ≤ 30 KiB: "
        f"{per / 30:.2f} times it); Python objects +"
        f"{(m['gc_objects'][-1] - m['gc_objects'][0]) / n:.0f} per subscription (gc-tracked), "
        f"allocated blocks +{(m['blocks'][-1] - m['blocks'][0]) / n:.0f}"
        + (f", asyncio tasks +{(tasks[-1] - tasks[0]) / n:.2f}" if tasks else "")
        + "; opened in "
        + " + ".join(f"{s:.1f}s" for s in m["open_seconds"])
        + f"; server's hub counts {m['server_subscriptions']:,}; pool {m['pool']}"
        + (f"; load average {m['load']}" if "load" in m else ""),
        highlight=False,
    )
    traces = m.get("traces") or []
    if traces and traces[-1]:
        added = sockets[-1] - sockets[-2]
        _, total, blocks = traces[-1][0]
        console.print(
            f"   tracemalloc, the last {added:,} sockets: {total / added / 1024:.1f} KiB and "
            f"{blocks / added:.0f} blocks each; by line (bytes / blocks per socket):",
            highlight=False,
        )
        for where, size, count in traces[-1][1:]:
            console.print(
                f"   {size / added:9.0f} B {count / added:6.1f}  {where}",
                highlight=False,
                markup=False,
            )
    if "after" in m:
        console.print(
            f"   RSS after the load runs: {m['after'] / 1024:.1f} MiB; after closing every "
            f"subscription: {m['closed'] / 1024:.1f} MiB",
            highlight=False,
        )


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.notifications_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--path", help=f"SQLite file (default {DEFAULT_SQLITE_PATH})")
    parser.add_argument("--url", help=f"PostgreSQL URL (default {POSTGRES_URL})")
    parser.add_argument(
        "--broadcast",
        help=f"live-push URL (default memory:// on SQLite, {REDIS_URL} on PostgreSQL)",
    )
    parser.add_argument("--users", type=int, default=10_050)
    parser.add_argument("--subscribers", type=int, default=1_000)
    parser.add_argument("--followers", type=int, default=10_000, help="of the fan-out item")
    parser.add_argument("--items", type=int, default=500, help="items of the steady load")
    parser.add_argument("--records-per-rep", type=int, default=10)
    parser.add_argument("--inbox", type=int, default=10, help="older notifications per user")
    parser.add_argument(
        "--rates", default="20", help="replies per second, comma-separated (one run each)"
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per rate")
    parser.add_argument("--fanout-runs", type=int, default=3)
    parser.add_argument(
        "--code",
        action="append",
        type=Path,
        help="checkout whose code the server runs (repeat: fan-outs only, one server per "
        "checkout in turns, each run on every checkout; copy this file into each)",
    )
    parser.add_argument(
        "--no-compression",
        action="store_true",
        help="clients do not offer permessage-deflate (browsers do, so they do by default)",
    )
    parser.add_argument(
        "--server-deflate",
        choices=["settings", "on", "off"],
        default="settings",
        help="the server's permessage-deflate: as `crmfeed serve` (WS_PER_MESSAGE_DEFLATE), or "
        "forced on or off",
    )
    parser.add_argument(
        "--ws",
        choices=["crmfeed", "websockets-sansio", "websockets", "wsproto"],
        help="uvicorn's websocket implementation (default: as `crmfeed serve`, WS_IMPLEMENTATION)",
    )
    parser.add_argument(
        "--memory-steps", type=int, default=2, help="open the subscriptions in this many steps"
    )
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="tracemalloc in the server: what each step of the memory phase kept, by line "
        "(slows the server down; for finding where memory goes, not for latency figures)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the server during each load run"
    )
    parser.add_argument(
        "--watch",
        type=float,
        default=0,
        help="every N seconds of the load runs, print the server's counters and task stacks",
    )
    parser.add_argument("--keep-schema", action="store_true", help="keep the PostgreSQL schema")
    parser.add_argument("--json", help="also write the raw results to this file")
    # the server process
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--channel", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.sqlite_path = Path(args.path or DEFAULT_SQLITE_PATH).resolve()
    if not args.serve:
        if args.users < FIRST_REP + args.subscribers + GROUP or args.followers >= args.users:
            parser.error("--users must exceed --followers and the subscribers + 57")
        if args.subscribers < TEAMS * GROUP:
            parser.error(f"--subscribers must be at least {TEAMS * GROUP}")
    return args


def remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def write_json(path: str, results: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(results, indent=1, default=str))


async def drop_schema(target: Target) -> None:
    engine = create_engine(Settings(database_url=target.url))
    async with engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{target.schema}" CASCADE'))
    await engine.dispose()


async def prepare(target: Target, plan: Plan, records_per_rep: int) -> tuple[float, str | None]:
    started = monotonic()
    version = None
    if target.path is not None:
        remove_sqlite_files(target.path)
    else:
        engine = create_engine(Settings(database_url=target.url))
        async with engine.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{target.schema}"'))
            full = await connection.scalar(text("SELECT version()"))
            version = " ".join(str(full).split()[:2])
        await engine.dispose()
    engine = create_engine(target.settings(), schema=target.schema)
    try:
        await upgrade(engine)
        await build(engine, plan, records_per_rep, target.path is None)
    finally:
        await engine.dispose()
    return monotonic() - started, version


async def main(args: argparse.Namespace) -> None:
    fds = raise_fd_limit()
    postgres = args.database == "postgresql"
    tag = uuid.uuid4().hex[:10]
    sqlite_path: Path = args.sqlite_path
    target = Target(
        database=args.database,
        url=(args.url or POSTGRES_URL) if postgres else f"sqlite+aiosqlite:///{sqlite_path}",
        schema=f"crmfeed_nbench_{tag}" if postgres else None,
        path=None if postgres else sqlite_path,
        broadcast=args.broadcast or (REDIS_URL if postgres else "memory://"),
        channel=f"crmfeed.bench.{tag}",
    )
    plan = Plan.make(args.users, args.subscribers, args.items, args.followers, args.inbox)
    command = " ".join(["python -m bench.notifications_bench", *sys.argv[1:]])
    console.print(f"[bold]crmfeed notifications benchmark[/]: {command}", highlight=False)
    console.print(
        f"building {plan.users:,} users, ~{args.records_per_rep * (plan.users - KAM):,} "
        f"accounts, {len(plan.items)} items with {GROUP + 1} followers each, one item with "
        f"{len(plan.big_followers):,} followers, {plan.inbox} notifications per inbox ...",
        highlight=False,
    )
    seconds, version = await prepare(target, plan, args.records_per_rep)
    console.print(f"built in {seconds:.1f}s; file descriptors: {fds:,}", highlight=False)
    for line in machine_lines(target, version):
        console.print(line, highlight=False)
    console.print(f"load average before: {load()}", highlight=False)

    server = Server(target, server_options(args))
    driver = Driver(target, plan, server, compression=not args.no_compression)
    results: dict[str, Any] = {"command": command, "database": args.database}
    if args.code:
        try:
            results["fanout"] = await fanouts_in_turns(args, target, driver)
        finally:
            await driver.poster.aclose()
            if postgres and not args.keep_schema:
                await drop_schema(target)
        if args.json:
            write_json(args.json, results)
        return
    try:
        await server.start()
        await driver.warm_up()
        await driver.memory(args.memory_steps)
        print_memory(driver.results["memory"])
        results["memory"] = driver.results["memory"]
        watcher = asyncio.create_task(driver.watch(args.watch)) if args.watch else None
        results["steady"] = []
        for rate in [float(r) for r in args.rates.split(",") if r.strip()]:
            console.print(f"load average before rate {rate:g}/s: {load()}", highlight=False)
            results["steady"].append(await driver.steady(rate, args.duration, args.profile))
            await asyncio.sleep(2)
        if results["steady"]:
            print_steady(results["steady"])
        results["fanout"] = []
        for run in range(1, args.fanout_runs + 1):
            console.print(f"load average before fan-out {run}: {load()}", highlight=False)
            results["fanout"].append(await driver.fanout(run, args.profile))
            await asyncio.sleep(2)
        if watcher is not None:
            watcher.cancel()
        print_fanout(results["fanout"])
        memory = results["memory"]
        memory["after"] = (await server.probe("gc"))["rss_kib"]
        await driver.close_all()
        await asyncio.sleep(1)
        memory["closed"] = (await server.probe("gc"))["rss_kib"]
        print_memory(memory)
        if args.profile:
            for r in [*results["steady"], *results["fanout"]]:
                console.rule(f"server profile: {'fan-out' if 'followers' in r else 'steady'}")
                console.print(r["profile"], markup=False, highlight=False)
        console.print(
            f"peak RSS of this (client) process: "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
            f"load average now: {load()}",
            highlight=False,
        )
    finally:
        await driver.close_all()
        await driver.poster.aclose()
        await server.stop()
        if postgres and not args.keep_schema:
            await drop_schema(target)
    if args.json:
        write_json(args.json, results)


def server_options(args: argparse.Namespace) -> list[str]:
    """What the server process is given of the command line (--ws, --server-deflate, ...)."""
    options = ["--server-deflate", args.server_deflate]
    if args.ws:
        options += ["--ws", args.ws]
    if args.trace_memory:
        options.append("--trace-memory")
    return options


async def fanouts_in_turns(
    args: argparse.Namespace, target: Target, driver: Driver
) -> list[dict[str, Any]]:
    """`--code`: each fan-out run on every checkout in turn, each on a fresh server (warmed up,
    the 1,000 subscriptions opened again), so old and new code meet the same load."""
    codes = [code.resolve() for code in args.code]
    results: list[dict[str, Any]] = []
    for run in range(1, args.fanout_runs + 1):
        for n, code in enumerate(codes):
            server = Server(target, server_options(args), code=code)
            await driver.use(server)
            try:
                await server.start()
                await driver.warm_up()
                await driver.open(driver.plan.subscribers)
                await asyncio.sleep(2)
                console.print(
                    f"load average before fan-out {run} on {code}: {load()}", highlight=False
                )
                result = await driver.fanout(run, args.profile, tag=f"f{run}c{n}")
                result.update(code=str(code), load=load())
                results.append(result)
            finally:
                await driver.close_all()
                await server.stop()
            await asyncio.sleep(2)
    for code in codes:
        mine = [r for r in results if r["code"] == str(code)]
        console.rule(str(code))
        print_fanout(mine)
        for r in mine:
            if r["profile"]:
                console.print(r["profile"], markup=False, highlight=False)
    print_turns(results, codes)
    return results


def print_turns(results: list[dict[str, Any]], codes: list[Path]) -> None:
    """Per checkout, over its runs: request → last receipt, and the phases before it."""
    rows = []
    for code in codes:
        mine = [r for r in results if r["code"] == str(code)]
        last = [max(r["from_request_ms"], default=math.nan) for r in mine]
        commit = [r["server_mutation_ms"][0] for r in mine if r["server_mutation_ms"]]
        pushed = [max(r["latency_ms"], default=math.nan) for r in mine]
        cpu = [r["server_cpu_seconds"] for r in mine]
        rows.append(
            (
                str(code),
                [
                    f"{percentile(last, 0.5):.0f} / {percentile(last, 0.99):.0f}",
                    ", ".join(f"{v:.0f}" for v in last),
                    f"{percentile(commit, 0.5):.0f}",
                    f"{percentile(pushed, 0.5):.0f}",
                    f"{percentile(cpu, 0.5):.2f}",
                    ", ".join(r["load"].split(" / ")[0] for r in mine),
                    ", ".join(f"{r['received']}/{r['expected']}" for r in mine),
                ],
            )
        )
    table = Table(title="fan-out in turns (ms)", title_justify="left")
    for name in (
        "checkout",
        "request → last receipt p50 / p99",
        "each run",
        "request → commit p50",
        "commit → last receipt p50",
        "server CPU s p50",
        "load (1 min) after each",
        "received",
    ):
        table.add_column(name, no_wrap=name == "checkout")
    for name, cells in rows:
        table.add_row(name, *cells)
    console.print(table)


def entry() -> None:
    args = parse_args()
    if args.serve:
        serve(args)
        return
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main(args))


if __name__ == "__main__":
    entry()
