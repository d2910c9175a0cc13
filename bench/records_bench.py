"""Records-list benchmark: how fast is one page of `records(objectType: ACCOUNT, first: 20)`?

Builds an enterprise of the issue's size (2,000 users in a reporting tree, ~60 departments,
100,000 records with related teams, ~50 sharing rules) with bulk Core inserts, then measures,
for three viewers (a deep manager, a plain salesperson, a CRM administrator):

* the GraphQL page through the real ASGI app in-process (httpx.ASGITransport), with and without
  `totalCount`: server time p50/p95 and SQL statements per request;
* the same rows fetched without GraphQL, through the store functions the resolvers call
  (`load_viewer`, `page_records`, `users_by_ids`, `departments_by_ids`, `count_records`);
* the very SQL statements the GraphQL request sent, replayed on a bare connection;
* the count query (`totalCount`) alone.

Run `python -m bench.records_bench --help`; bench/README.md has the figures and command lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import random
import resource
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import bindparam, event, func, insert, select, text, update

from crmfeed.app import Services, create_app
from crmfeed.registry.enums import DataAccess, FunctionRole, LifeStatus, TeamRole
from crmfeed.security import issue_token
from crmfeed.settings import Settings
from store import org, records
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
from store.records import RecordFilter

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator, Sequence

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_SCHEMA = "crmfeed_bench"
DEFAULT_SQLITE_PATH = "/tmp/crmfeed_bench.db"
SECRET_KEY = "crmfeed-bench-secret-key-not-for-production-0123456789"
# argon2id of "bench-password" (time_cost=1, memory_cost=64): nobody logs in, tokens are issued.
PASSWORD_HASH = (
    "$argon2id$v=19$m=64,t=1,p=4$TyGeMKJXt0VQiW/LyimOsw$sAMuERyXM9/AuKneO+rnvNl5Q7H4mnSxbKmZS9wh7vA"
)
BATCH = 5_000
SEED = 20_240_601

VPS = 10
DIRECTORS_PER_VP = 4
MANAGERS_PER_DIRECTOR = 4
# (name, parent index in this list or None for the head office)
FUNCTIONAL = [
    ("Operations", None),
    ("CRM Operations", 0),
    ("Customer Service", 0),
    ("Order Desk", 0),
    ("Finance", None),
    ("Payments", 4),
    ("Invoicing", 4),
    ("Marketing", None),
    ("Human Resources", None),
]
FINANCE_ROLES = {
    "Order Desk": [FunctionRole.ORDER_ADMIN, FunctionRole.ORDER_FINANCE],
    "Finance": [FunctionRole.ORDER_FINANCE],
    "Payments": [FunctionRole.PAYMENT_FINANCE, FunctionRole.REFUND_FINANCE],
    "Invoicing": [FunctionRole.INVOICE_FINANCE],
}
MIN_USERS = 1 + VPS * (1 + DIRECTORS_PER_VP * (1 + MANAGERS_PER_DIRECTOR)) + len(FUNCTIONAL) + 60

PAGE_QUERY = """
query BenchPage {
  records(objectType: ACCOUNT, first: 20) {
    totalCount
    edges { node { id name status owner { name department { name } } department { name } } }
  }
}"""
PAGE_QUERY_NO_COUNT = PAGE_QUERY.replace("    totalCount\n", "")
COUNT_BOUND = 1_000
PAGE_QUERY_UP_TO = PAGE_QUERY.replace(
    "    totalCount\n", f"    countUpTo(atMost: {COUNT_BOUND}) {{ count exact }}\n"
)
PAGE_SIZE = 20
TARGET_MS = 15.0  # issue 20: a non-admin's page + count at 100,000 records, on SQLite

console = Console(width=180)


# -- the organisation -----------------------------------------------------------------------------


@dataclass
class Org:
    """Users, departments and roles, generated deterministically from the user count."""

    enterprise_id: int = 1
    departments: list[dict[str, Any]] = field(default_factory=list)
    department_parent: dict[int, int | None] = field(default_factory=dict)
    department_head: dict[int, int] = field(default_factory=dict)
    users: list[dict[str, Any]] = field(default_factory=list)
    superior: dict[int, int | None] = field(default_factory=dict)
    roles: dict[int, list[FunctionRole]] = field(default_factory=dict)
    reps: list[int] = field(default_factory=list)
    managers: list[int] = field(default_factory=list)
    vps: list[int] = field(default_factory=list)
    teammates: dict[int, list[int]] = field(default_factory=dict)  # manager -> their reps
    admin: int = 0

    def closure(self, parent: dict[int, int | None]) -> list[tuple[int, int, int]]:
        """(ancestor, descendant, depth) for every node and each of its ancestors, self at 0."""
        rows = []
        for node in parent:
            ancestor: int | None = node
            depth = 0
            while ancestor is not None:
                rows.append((ancestor, node, depth))
                ancestor = parent[ancestor]
                depth += 1
        return rows

    def subordinates(self, user_id: int) -> int:
        return sum(1 for a, d, depth in self.closure(self.superior) if a == user_id and depth > 0)


def build_org(n_users: int, rng: random.Random, created_at: datetime) -> Org:
    o = Org()
    next_user = iter(range(1, n_users + 1))

    def department(name: str, parent: int | None) -> int:
        department_id = len(o.departments) + 1
        o.departments.append(
            {
                "id": department_id,
                "enterprise_id": o.enterprise_id,
                "name": name,
                "parent_id": parent,
                "head_id": None,
                "created_at": created_at,
            }
        )
        o.department_parent[department_id] = parent
        return department_id

    def user(role: str, department_id: int, superior: int | None) -> int:
        user_id = next(next_user)
        o.users.append(
            {
                "id": user_id,
                "enterprise_id": o.enterprise_id,
                "name": f"{role} {user_id:04d}",
                "email": f"user{user_id:05d}@bench.example.com",
                "password_hash": PASSWORD_HASH,
                "department_id": department_id,
                "superior_id": superior,
                "created_at": created_at,
            }
        )
        o.superior[user_id] = superior
        o.roles[user_id] = [FunctionRole.SALES]
        return user_id

    head_office = department("Head Office", None)
    ceo = user("CEO", head_office, None)
    o.department_head[head_office] = ceo
    o.roles[ceo] = [FunctionRole.CRM_ADMIN, FunctionRole.SALES]

    team_departments: list[int] = []
    for v in range(VPS):
        region = department(f"Region {v + 1}", head_office)
        vp = user("VP", region, ceo)
        o.department_head[region] = vp
        o.vps.append(vp)
        for d in range(DIRECTORS_PER_VP):
            team = department(f"Region {v + 1} / Team {d + 1}", region)
            team_departments.append(team)
            director = user("Director", team, vp)
            o.department_head[team] = director
            for _ in range(MANAGERS_PER_DIRECTOR):
                manager = user("Manager", team, director)
                o.managers.append(manager)
                o.teammates[manager] = []

    functional: list[int] = []
    for name, parent_index in FUNCTIONAL:
        parent = head_office if parent_index is None else functional[parent_index]
        dep = department(name, parent)
        functional.append(dep)
        boss = ceo if parent_index is None else o.department_head[parent]
        o.department_head[dep] = user("Head", dep, boss)

    remaining = n_users - len(o.users)
    staff = max(len(FUNCTIONAL) * 4, remaining // 12)
    for i in range(staff):
        dep = functional[i % len(functional)]
        name = o.departments[dep - 1]["name"]
        staffer = user("Staff", dep, o.department_head[dep])
        o.roles[staffer] = [*FINANCE_ROLES.get(name, []), FunctionRole.SALES]
    for i in range(n_users - len(o.users)):
        manager = o.managers[i % len(o.managers)]
        rep = user("Rep", o.users[manager - 1]["department_id"], manager)
        o.reps.append(rep)
        o.teammates[manager].append(rep)

    crm_ops = functional[1]
    o.admin = o.department_head[crm_ops]
    o.roles[o.admin] = [FunctionRole.CRM_ADMIN, FunctionRole.SALES]
    for staffer in [u["id"] for u in o.users if u["department_id"] == crm_ops][1:3]:
        o.roles[staffer] = [FunctionRole.CRM_ADMIN, FunctionRole.SALES]
    return o


def sharing_rules(o: Org, rng: random.Random, created_at: datetime, n: int = 50) -> list[dict]:
    types = ["ACCOUNT", "ACCOUNT", "ACCOUNT", "CONTACT", "OPPORTUNITY", "SALES_LEAD"]
    salespeople = o.reps + o.managers
    rules = []
    for i in range(n):
        from_user = rng.choice(salespeople) if rng.random() < 0.6 else None
        to_user = rng.choice(range(1, len(o.users) + 1)) if rng.random() < 0.5 else None
        rules.append(
            {
                "id": i + 1,
                "enterprise_id": o.enterprise_id,
                "object_type": rng.choice(types),
                "from_user_id": from_user,
                # a team or a region
                "from_department_id": None if from_user else rng.randint(2, 51),
                "to_user_id": to_user,
                "to_department_id": None if to_user else rng.randint(2, len(o.departments)),
                "access": rng.choice([DataAccess.READ_ONLY.value, DataAccess.READ_WRITE.value]),
                "created_at": created_at,
            }
        )
    return rules


ACCOUNT_WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell"]
ACCOUNT_KINDS = ["Trading", "Logistics", "Foods", "Systems", "Retail", "Holdings", "Labs"]


def record_batches(
    o: Org, n_records: int, rng: random.Random, start: datetime
) -> Iterator[tuple[list[dict], list[dict]]]:
    """Records and their related-team rows, in batches of BATCH records."""
    span = timedelta(days=365) / max(n_records, 1)
    members_roles = [TeamRole.REGULAR_MEMBER, TeamRole.CO_FOLLOWER, TeamRole.AFTER_SALES]
    salespeople = o.reps + o.managers
    rows: list[dict] = []
    team: list[dict] = []
    for record_id in range(1, n_records + 1):
        if rng.random() < 0.9:
            owner = o.reps[rng.randrange(len(o.reps))]
        else:
            owner = o.managers[rng.randrange(len(o.managers))]
        draw = rng.random()
        when = start + span * record_id
        if draw < 0.85:
            object_type, status = "ACCOUNT", rng.choice(["ASSIGNED"] * 6 + ["REPORTING"])
            name = f"{rng.choice(ACCOUNT_WORDS)} {rng.choice(ACCOUNT_KINDS)} {record_id}"
            values: dict[str, Any] = {
                "accountNo": f"A{record_id:07d}",
                "industry": rng.choice(["MANUFACTURING", "RETAIL", "FINANCE", "SOFTWARE"]),
                "level": rng.choice("ABC"),
            }
        elif draw < 0.95:
            object_type, status = "CONTACT", "NORMAL"
            name = f"Contact {record_id}"
            values = {"title": "Buyer", "mobile": f"+1555{record_id:07d}"}
        else:
            object_type, status = "OPPORTUNITY", rng.choice(["IN_PROGRESS", "CLOSE_WON"])
            name = f"Deal {record_id}"
            values = {"salesStage": "PROPOSAL", "amount": float(rng.randint(1, 500) * 1000)}
        invalid = rng.random() < 0.01
        rows.append(
            {
                "id": record_id,
                "enterprise_id": o.enterprise_id,
                "object_type": object_type,
                "name": name,
                "owner_id": owner,
                "status": status,
                "status_before_invalid": status if invalid else None,
                "life_status": LifeStatus.INVALID.value if invalid else LifeStatus.NORMAL.value,
                "values": values,
                "created_by_id": owner,
                "updated_by_id": owner,
                "created_at": when,
                "updated_at": when,
            }
        )
        members = {owner}
        team.append(
            {
                "enterprise_id": o.enterprise_id,
                "record_id": record_id,
                "user_id": owner,
                "team_role": TeamRole.OWNER.value,
                "access": DataAccess.READ_WRITE.value,
                "added_at": when,
            }
        )
        if rng.random() < 0.3:
            manager = o.superior[owner] if owner in o.reps else owner
            close = o.teammates.get(manager or 0) or salespeople
            for _ in range(rng.randint(1, 3)):
                pool = close if rng.random() < 0.7 else salespeople
                member = pool[rng.randrange(len(pool))]
                if member in members:
                    continue
                members.add(member)
                team.append(
                    {
                        "enterprise_id": o.enterprise_id,
                        "record_id": record_id,
                        "user_id": member,
                        "team_role": rng.choice(members_roles).value,
                        "access": rng.choice(
                            [DataAccess.READ_ONLY.value] * 3 + [DataAccess.READ_WRITE.value] * 2
                        ),
                        "added_at": when,
                    }
                )
        if len(rows) >= BATCH:
            yield rows, team
            rows, team = [], []
    if rows:
        yield rows, team


# -- building the database ------------------------------------------------------------------------


@dataclass
class Target:
    database: str
    url: str
    schema: str | None
    path: Path | None

    def settings(self) -> Settings:
        return Settings(
            database_url=self.url,
            secret_key=SECRET_KEY,
            argon2_time_cost=1,
            argon2_memory_cost_kib=64,
            db_pool_size=5,
        )


def target_from(args: argparse.Namespace) -> Target:
    if args.database == "sqlite":
        path = Path(args.path or DEFAULT_SQLITE_PATH).resolve()
        return Target("sqlite", f"sqlite+aiosqlite:///{path}", None, path)
    return Target("postgresql", args.url or POSTGRES_URL, args.schema, None)


async def existing_counts(target: Target) -> tuple[int, int] | None:
    """(users, records) already in the bench database, or None when there is none."""
    if target.path is not None and not target.path.exists():
        return None
    services = Services.create(target.settings(), schema=target.schema)
    try:
        async with services.engine.connect() as connection:
            if target.schema is not None:
                found = await connection.scalar(
                    text(
                        "SELECT 1 FROM information_schema.tables WHERE table_schema = :s AND "
                        "table_name = 'records'"
                    ),
                    {"s": target.schema},
                )
                if found is None:
                    return None
            users = await connection.scalar(select(func.count()).select_from(User))
            rows = await connection.scalar(select(func.count()).select_from(Record))
            return int(users or 0), int(rows or 0)
    except Exception:  # no tables, wrong schema: build afresh
        return None
    finally:
        await services.engine.dispose()


def remove_sqlite_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def migrate_existing(target: Target) -> None:
    """Bring reused data up to the current migrations (they only add tables and columns)."""
    services = Services.create(target.settings(), schema=target.schema)
    try:
        await upgrade(services.engine)
    finally:
        await services.engine.dispose()


async def reset(target: Target) -> None:
    if target.path is not None:
        remove_sqlite_files(target.path)
        return
    services = Services.create(target.settings())
    async with services.engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{target.schema}" CASCADE'))
        await connection.execute(text(f'CREATE SCHEMA "{target.schema}"'))
    await services.engine.dispose()


async def insert_rows(connection: AsyncConnection, model: Any, rows: Sequence[dict]) -> None:
    for start in range(0, len(rows), BATCH):
        await connection.execute(insert(model), list(rows[start : start + BATCH]))


async def build(target: Target, n_users: int, n_records: int, analyze: bool) -> dict[str, float]:
    """Drop and fill the bench database; returns seconds per phase."""
    phases: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        phases[name] = now - clock
        clock = now

    await reset(target)
    services = Services.create(target.settings(), schema=target.schema)
    engine = services.engine
    await upgrade(engine)
    lap("schema (alembic)")

    rng = random.Random(SEED)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=366)
    o = build_org(n_users, rng, start)
    e = o.enterprise_id
    async with engine.begin() as connection:
        await connection.execute(
            insert(Enterprise),
            [{"id": e, "name": "Bench Corp", "sharing_opens_follow_up": True, "created_at": start}],
        )
        await insert_rows(connection, Department, o.departments)
        await insert_rows(
            connection,
            DepartmentClosure,
            [
                {"enterprise_id": e, "ancestor_id": a, "descendant_id": d, "depth": depth}
                for a, d, depth in o.closure(o.department_parent)
            ],
        )
        await insert_rows(connection, User, o.users)
        await connection.execute(
            update(Department.__table__)
            .where(Department.__table__.c.id == bindparam("department"))
            .values(head_id=bindparam("head")),
            [{"department": d, "head": h} for d, h in o.department_head.items()],
        )
        await insert_rows(
            connection,
            UserClosure,
            [
                {"enterprise_id": e, "ancestor_id": a, "descendant_id": d, "depth": depth}
                for a, d, depth in o.closure(o.superior)
            ],
        )
        await insert_rows(
            connection,
            UserRole,
            [
                {"enterprise_id": e, "user_id": user, "role": role.value}
                for user, roles in o.roles.items()
                for role in roles
            ],
        )
        await insert_rows(connection, SharingRule, sharing_rules(o, rng, start))
    lap("organisation")

    async with engine.begin() as connection:
        for rows, team in record_batches(o, n_records, rng, start):
            await connection.execute(insert(Record), rows)
            await connection.execute(insert(TeamMember), team)
    lap("records + teams")

    if target.schema is not None:  # explicit ids were inserted: move the sequences past them
        async with engine.begin() as connection:
            for table in ("enterprises", "departments", "users", "records", "sharing_rules"):
                await connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    if analyze:
        if target.schema is not None:
            async with engine.connect() as connection:
                auto = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await auto.execute(text("VACUUM ANALYZE"))
        else:
            async with engine.begin() as connection:
                await connection.execute(text("ANALYZE"))
        lap("analyze")
    if target.path is not None:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    await engine.dispose()
    return phases


# -- measuring ------------------------------------------------------------------------------------


class StatementLog:
    """Statements (with their parameters) sent to the database while `active`."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.active = False

    def __call__(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.active:
            self.statements.append((statement, parameters))

    def start(self) -> None:
        self.statements = []
        self.active = True

    def stop(self) -> list[tuple[str, Any]]:
        self.active = False
        return self.statements


class TimedApp:
    """Wraps the ASGI app to time each request on the server side (the client not included):
    `last` = (wall seconds, CPU seconds of this process)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = (0.0, 0.0)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            await self.app(scope, receive, send)
        finally:
            self.last = (time.perf_counter() - wall, time.process_time() - cpu)


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class Timing:
    samples: list[float]
    cpu_samples: list[float]

    @property
    def p50(self) -> float:
        return percentile(self.samples, 0.50) * 1000

    @property
    def p95(self) -> float:
        return percentile(self.samples, 0.95) * 1000

    @property
    def min(self) -> float:
        return min(self.samples) * 1000

    @property
    def cpu_p50(self) -> float:
        return percentile(self.cpu_samples, 0.50) * 1000


async def repeat(runs: Sequence[Callable[[], Awaitable[Any]]], warmup: int, n: int) -> list[Timing]:
    """Runs each of `runs` warmup + n times, interleaved (a, b, c, a, b, c, ...) so that load from
    other processes hits them alike. A run returns its own (wall, CPU) seconds, or None to be
    timed here. CPU = this process's CPU time, all threads (so SQLite's work is in it)."""
    timings = [Timing([], []) for _ in runs]
    for i in range(warmup + n):
        for run, timing in zip(runs, timings, strict=True):
            wall, cpu = time.perf_counter(), time.process_time()
            own = await run()
            took = own or (time.perf_counter() - wall, time.process_time() - cpu)
            if i >= warmup:
                timing.samples.append(took[0])
                timing.cpu_samples.append(took[1])
    return timings


def as_tuple(parameters: Any) -> Any:
    if isinstance(parameters, list):
        return tuple(parameters)
    return parameters


async def replay(engine: AsyncEngine, statements: list[tuple[str, Any]]) -> None:
    """The captured SQL on a bare pooled connection, every row fetched."""
    async with engine.connect() as connection:
        for statement, parameters in statements:
            result = await connection.exec_driver_sql(statement, as_tuple(parameters))
            if result.returns_rows:
                result.all()
        await connection.rollback()


@dataclass
class ViewerCase:
    label: str
    user_id: int
    note: str


@dataclass
class Row:
    viewer: str
    variant: str
    visible: int | None = None
    gql: Timing | None = None
    statements: str = ""
    store: Timing | None = None
    replay: Timing | None = None


async def measure(
    target: Target, o: Org, viewers: list[ViewerCase], iterations: int, warmup: int
) -> tuple[list[Row], dict[str, dict[str, list[tuple[str, Any]]]]]:
    settings = target.settings()
    services = Services.create(settings, schema=target.schema)
    log = StatementLog()
    event.listen(services.engine.sync_engine, "before_cursor_execute", log)
    app = TimedApp(create_app(services))
    await services.hub.start()  # as the app's lifespan does; the reminder runner stays off
    rows: list[Row] = []
    captured: dict[str, dict[str, list[tuple[str, Any]]]] = {}
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for case in viewers:
                token = issue_token(settings, case.user_id, o.enterprise_id)
                headers = {"Authorization": f"Bearer {token}"}
                captured[case.label] = {}

                async def graphql(query: str, headers: dict[str, str] = headers) -> dict:
                    response = await client.post("/graphql", json={"query": query}, headers=headers)
                    body = response.json()
                    if body.get("errors"):
                        raise RuntimeError(body["errors"])
                    return body["data"]["records"]

                async def via_store(
                    with_count: str | None, user_id: int = case.user_id
                ) -> tuple[list[int], int | None]:
                    async with services.session_factory() as session:
                        viewer = await org.load_viewer(session, o.enterprise_id, user_id)
                        assert viewer is not None
                        page = await records.page_records(
                            session,
                            viewer,
                            object_type="ACCOUNT",
                            record_filter=RecordFilter(),
                            before_id=None,
                            limit=PAGE_SIZE + 1,
                        )
                        page = page[:PAGE_SIZE]
                        owners = await org.users_by_ids(
                            session, o.enterprise_id, [r.owner_id for r in page]
                        )
                        departments = {u.department_id for u in owners.values() if u.department_id}
                        await org.departments_by_ids(session, o.enterprise_id, list(departments))
                        total = None
                        if with_count == "total":
                            total = await records.count_records(
                                session, viewer, object_type="ACCOUNT", record_filter=RecordFilter()
                            )
                        elif with_count == "up to":
                            total = await records.count_records_up_to(
                                session,
                                viewer,
                                object_type="ACCOUNT",
                                record_filter=RecordFilter(),
                                at_most=COUNT_BOUND,
                            )
                        return [r.id for r in page], total

                async def count_only(user_id: int = case.user_id) -> int:
                    async with services.session_factory() as session:
                        viewer = await org.load_viewer(session, o.enterprise_id, user_id)
                        assert viewer is not None
                        return await records.count_records(
                            session, viewer, object_type="ACCOUNT", record_filter=RecordFilter()
                        )

                for variant, query, with_count in (
                    ("page + totalCount", PAGE_QUERY, "total"),
                    (f"page + countUpTo({COUNT_BOUND})", PAGE_QUERY_UP_TO, "up to"),
                    ("page only", PAGE_QUERY_NO_COUNT, None),
                ):
                    # correctness first: GraphQL and the store agree on the rows and the count
                    log.start()
                    data = await graphql(query)
                    statements = log.stop()
                    ids, total = await via_store(with_count)
                    got = [int(edge["node"]["id"].split("_")[1]) for edge in data["edges"]]
                    assert got == ids, (case.label, variant, got[:3], ids[:3])
                    if with_count == "total":
                        assert data["totalCount"] == total, (data["totalCount"], total)
                    elif with_count == "up to":
                        assert total is not None
                        bounded = {"count": min(total, COUNT_BOUND), "exact": total <= COUNT_BOUND}
                        assert data["countUpTo"] == bounded, (data["countUpTo"], total)
                    captured[case.label][variant] = statements
                    counts: set[int] = set()

                    async def one_request(
                        query: str = query, counts: set[int] = counts
                    ) -> tuple[float, float]:
                        log.start()
                        await graphql(query)
                        counts.add(len(log.stop()))
                        return app.last

                    async def store_run(with_count: str | None = with_count) -> None:
                        await via_store(with_count)

                    async def replay_run(statements: list = statements) -> None:
                        await replay(services.engine, statements)

                    gql, store, raw = await repeat(
                        [one_request, store_run, replay_run], warmup, iterations
                    )
                    rows.append(
                        Row(
                            viewer=case.label,
                            variant=variant,
                            visible=total,
                            gql=gql,
                            statements=",".join(str(c) for c in sorted(counts)),
                            store=store,
                            replay=raw,
                        )
                    )

                log.start()
                total = await count_only()
                count_statements = log.stop()
                captured[case.label]["count"] = count_statements
                page_statement = next(
                    s for s in captured[case.label]["page only"] if "ORDER BY" in s[0]
                )
                captured[case.label]["page"] = [page_statement]

                async def count_run() -> None:
                    await count_only()

                async def count_replay(statements: list = count_statements) -> None:
                    await replay(services.engine, statements[-1:])

                store, raw = await repeat([count_run, count_replay], warmup, iterations)
                rows.append(
                    Row(
                        viewer=case.label,
                        variant="totalCount alone",
                        visible=total,
                        statements="+".join("1" for _ in count_statements),
                        store=store,
                        replay=raw,
                    )
                )
    finally:
        await services.hub.stop()
        await services.engine.dispose()
    return rows, captured


async def explain(target: Target, statements: list[tuple[str, Any]]) -> list[str]:
    """The plan of the (single) statement: EXPLAIN QUERY PLAN or EXPLAIN (ANALYZE, BUFFERS)."""
    services = Services.create(target.settings(), schema=target.schema)
    statement, parameters = statements[-1]
    prefix = "EXPLAIN QUERY PLAN " if target.path is not None else "EXPLAIN (ANALYZE, BUFFERS) "
    try:
        async with services.engine.connect() as connection:
            result = await connection.exec_driver_sql(prefix + statement, as_tuple(parameters))
            plan = result.all()
    finally:
        await services.engine.dispose()
    if target.path is not None:  # (id, parent, notused, detail) -> indented tree
        depth: dict[int, int] = {0: 0}
        lines = []
        for node, parent, _, detail in plan:
            depth[node] = depth.get(parent, 0) + 1
            lines.append("  " * (depth[node] - 1) + detail)
        return lines
    return [line for (line,) in plan]


# -- reporting ------------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def machine_info(target: Target, server_version: str | None) -> list[str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):  # not Linux: keep platform's answer
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("strawberry-graphql", "starlette", "sqlalchemy", "aiosqlite", "asyncpg")
    )
    database = (
        f"SQLite {sqlite3.sqlite_version} (file {target.path}, WAL)"
        if target.path is not None
        else f"{server_version} (schema {target.schema})"
    )
    return [
        f"machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}",
        f"database: {database}",
        f"libraries: {versions}",
        "load average (1/5/15 min, other processes included): "
        + " / ".join(f"{value:.2f}" for value in os.getloadavg()),
    ]


async def server_version(target: Target) -> str | None:
    if target.path is not None:
        return None
    services = Services.create(target.settings(), schema=target.schema)
    try:
        async with services.engine.connect() as connection:
            full = await connection.scalar(text("SELECT version()"))
            return " ".join(str(full).split()[:2])
    finally:
        await services.engine.dispose()


def render(rows: list[Row], iterations: int) -> Table:
    table = Table(
        title=f"records(objectType: ACCOUNT, first: 20): {iterations} runs, p50 / p95 / min ms"
    )
    for name, justify in (
        ("viewer", "left"),
        ("variant", "left"),
        ("visible", "right"),
        ("SQL stmts", "right"),
        ("GraphQL", "right"),
        ("store", "right"),
        ("raw SQL", "right"),
        ("GraphQL/store", "right"),
        ("GraphQL/raw SQL", "right"),
        (f"GraphQL/{TARGET_MS:g} ms", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]

    def ms(timing: Timing | None) -> str:
        if timing is None:
            return "-"
        return f"{timing.p50:.1f} / {timing.p95:.1f} / {timing.min:.1f}"

    def ratio(a: Timing | None, b: Timing | None) -> str:
        return "-" if a is None or b is None else f"{a.p50 / b.p50:.1f}x"

    for row in rows:
        table.add_row(
            row.viewer,
            row.variant,
            "-" if row.visible is None else f"{row.visible:,}",
            row.statements,
            ms(row.gql),
            ms(row.store),
            ms(row.replay),
            ratio(row.gql, row.store),
            ratio(row.gql, row.replay),
            "-" if row.gql is None else f"{row.gql.p50 / TARGET_MS:.2f}",
        )
    return table


def render_cpu(rows: list[Row], sqlite: bool) -> Table:
    """CPU time of this process per run: unlike wall time, barely moved by other processes."""
    where = "Python + SQLite" if sqlite else "Python only: PostgreSQL's own work is not in it"
    table = Table(title=f"CPU ms per run, p50 (this process: {where})")
    names = ("viewer", "variant", "GraphQL", "store", "raw SQL", "GraphQL/raw SQL")
    for name in (*names, f"GraphQL/{TARGET_MS:g} ms"):
        table.add_column(name, justify="left" if name in ("viewer", "variant") else "right")

    def ms(timing: Timing | None) -> str:
        return "-" if timing is None else f"{timing.cpu_p50:.1f}"

    for row in rows:
        both = row.gql is not None and row.replay is not None and row.replay.cpu_p50 > 0
        table.add_row(
            row.viewer,
            row.variant,
            ms(row.gql),
            ms(row.store),
            ms(row.replay),
            f"{row.gql.cpu_p50 / row.replay.cpu_p50:.1f}x" if both else "-",  # type: ignore[union-attr]
            "-" if row.gql is None else f"{row.gql.cpu_p50 / TARGET_MS:.2f}",
        )
    return table


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.records_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--path", help=f"SQLite file (default {DEFAULT_SQLITE_PATH})")
    parser.add_argument("--url", help=f"PostgreSQL URL (default {POSTGRES_URL})")
    parser.add_argument("--schema", default=DEFAULT_SCHEMA, help="PostgreSQL schema (recreated)")
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the data if it already has these sizes"
    )
    parser.add_argument(
        "--no-analyze", dest="analyze", action="store_false", help="skip ANALYZE after the load"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print the page and count plans for every viewer (otherwise only for slow ones)",
    )
    parser.add_argument(
        "--slow-ms", type=float, default=50.0, help="p50 above which plans are printed"
    )
    args = parser.parse_args(argv)
    if args.users < MIN_USERS:
        parser.error(f"--users must be at least {MIN_USERS} (the fixed management layers)")
    return args


async def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    target = target_from(args)
    command = " ".join(["python -m bench.records_bench", *sys.argv[1:]])
    console.print(f"[bold]crmfeed records benchmark[/]: {command}", highlight=False)
    counts = await existing_counts(target) if args.reuse else None
    if counts == (args.users, args.records):
        console.print(f"reusing {args.users:,} users and {args.records:,} records")
        await migrate_existing(target)
    else:
        console.print(f"building {args.users:,} users and {args.records:,} records ...")
        started = time.perf_counter()
        phases = await build(target, args.users, args.records, args.analyze)
        detail = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in phases.items())
        console.print(f"built in {time.perf_counter() - started:.1f}s ({detail})")
        console.print(f"peak RSS after build: {peak_rss_mib():.0f} MiB")

    o = build_org(args.users, random.Random(SEED), datetime.now(UTC))
    rep = o.reps[len(o.reps) // 2]
    viewers = [
        ViewerCase(
            "deep manager",
            o.vps[0],
            f"user {o.vps[0]}, VP, {o.subordinates(o.vps[0])} subordinates",
        ),
        ViewerCase("salesperson", rep, f"user {rep}, Rep, no subordinates"),
        ViewerCase("CRM admin", o.admin, f"user {o.admin}, head of CRM Operations"),
    ]
    for line in machine_info(target, await server_version(target)):
        console.print(line)
    console.print(
        f"data: {args.users:,} users, {len(o.departments)} departments, {args.records:,} records"
    )
    for case in viewers:
        console.print(f"viewer {case.label}: {case.note}")

    rows, captured = await measure(target, o, viewers, args.iterations, args.warmup)
    console.print(render(rows, args.iterations))
    console.print(render_cpu(rows, target.path is not None))
    console.print(
        "GraphQL = server time of the POST through the ASGI app; store = the same rows via "
        "store.org/store.records in one session; raw SQL = the request's own statements "
        "replayed on a bare connection; 'visible' = totalCount for that viewer."
    )
    console.print(
        f"peak RSS: {peak_rss_mib():.0f} MiB; load average now: "
        + " / ".join(f"{value:.2f}" for value in os.getloadavg())
    )

    slow = {
        row.viewer
        for row in rows
        if max(t.p50 for t in (row.gql, row.store) if t is not None) > args.slow_ms
    }
    for case in viewers:
        if not args.explain and case.label not in slow:
            continue
        for kind in ("page", "count"):
            statement, parameters = captured[case.label][kind][-1]
            console.rule(f"{case.label}: {kind} query plan")
            console.print(statement, markup=False, highlight=False)
            console.print(f"parameters: {parameters}", markup=False, highlight=False)
            for line in await explain(target, captured[case.label][kind]):
                console.print(line, markup=False, highlight=False)


if __name__ == "__main__":
    asyncio.run(main())
