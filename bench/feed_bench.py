"""Feed benchmark: how fast is one page of `feed(...)` with 1,000,000 feed items?

Builds the records benchmark's enterprise (2,000 users, 60 departments, 100,000 records with
teams and sharing rules: `bench.records_bench.build`), then adds feed items with bulk inserts
(1,000,000 by default: related-to links, @mentions and cc, replies, likes, favorites, follows),
deterministically. Then measures, through the real ASGI app in-process (httpx.ASGITransport),
for three viewers (a VP with ~200 subordinates, a plain salesperson, a CRM administrator):

* the Work feed, first page (`feed(first: 20)`) and second page (`after:` the first's cursor);
* the feed of a busy account (`feed(recordId:, first: 20)`), first and second page;

with server time p50/p95, CPU, SQL statements per request, the very statements replayed on a bare
connection (raw SQL) and the page statement alone; and the same pages on a second database that
has the same enterprise with only 10,000 items (`--small-items`).

Run `python -m bench.feed_bench --help`; bench/feed.md has the figures and command lines.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from rich.table import Table
from sqlalchemy import event, func, insert, select, text, union

from bench.records_bench import (
    MIN_USERS,
    POSTGRES_URL,
    SEED,
    Org,
    StatementLog,
    Target,
    TimedApp,
    Timing,
    build,
    build_org,
    console,
    existing_counts,
    explain,
    machine_info,
    migrate_existing,
    peak_rss_mib,
    repeat,
    replay,
    server_version,
)
from crmfeed.app import Services, create_app
from crmfeed.registry.enums import FollowUpAccess
from crmfeed.registry.feed import SCENES, FeedScene
from crmfeed.runtime import tune_gc
from crmfeed.security import issue_token
from store import feed, org, visibility
from store.feed_tables import FeedItem, FeedItemRecord, FeedItemUser
from store.models import FollowUpSetting, Record, TeamMember, UserClosure

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

DEFAULT_SQLITE_PATH = "/tmp/crmfeed_feed_bench.db"
DEFAULT_SCHEMA = "crmfeed_feed_bench"
SMALL_SUFFIX = "_small"
ITEM_SEED = SEED + 1
ITEM_BATCH = 20_000
HOT_ACCOUNTS = 1_000
HOT_SHARE = 0.30  # of items whose first related record is one of the hot accounts
PAGE_SIZE = 20

ITEM_SELECTION = """
        id type content createdAt
        author { name }
        relatedTo { id name }
        likeCount likedByMe replyCount
        replies(first: 3) { edges { node { content author { name } } } }"""
FEED_QUERY = """
query FeedPage($after: String, $record: ID, $types: [FeedItemType!], $scene: FeedScene) {{
  feed(first: {size}, after: $after, recordId: $record, types: $types, scene: $scene) {{{total}
    edges {{ node {{{selection}
    }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
WORK_QUERY = FEED_QUERY.format(size=PAGE_SIZE, total="", selection=ITEM_SELECTION)
RECORD_QUERY = WORK_QUERY
TOTAL_QUERY = FEED_QUERY.format(size=PAGE_SIZE, total="\n    totalCount", selection=ITEM_SELECTION)
COUNT_BOUND = 1_000
UP_TO_QUERY = FEED_QUERY.format(
    size=PAGE_SIZE,
    total=f"\n    countUpTo(atMost: {COUNT_BOUND}) {{ count exact }}",
    selection=ITEM_SELECTION,
)
EXTRA_TYPES = (("POST",), ("CALENDAR",))  # --scenes: Work pages of these types (6 %, 1.8 %)

# item type mix by the object type of the first related record (weights out of 100)
TYPE_MIX = {
    "ACCOUNT": [
        ("SALES_RECORD", 80),
        ("POST", 6),
        ("TASK", 6),
        ("FIELDWORK_SIGN_IN", 3),
        ("SERVICE_RECORD", 3),
        ("CALENDAR", 2),
    ],
    "CONTACT": [("SALES_RECORD", 80), ("POST", 8), ("TASK", 8), ("FIELDWORK_SIGN_IN", 4)],
    "OPPORTUNITY": [("SALES_PROCESS", 45), ("SALES_RECORD", 40), ("TASK", 10), ("POST", 5)],
}
SYSTEM_TYPES = {"SALES_PROCESS", "TASK", "CALENDAR"}
ACCOUNT_LOOKUP_TYPES = {"SALES_RECORD", "SERVICE_RECORD", "FIELDWORK_SIGN_IN"}
OPENERS = [
    "Visited the customer",
    "Phone call with purchasing",
    "Sent the revised quote",
    "Demo went well",
    "Stage moved to Proposal",
    "Follow-up meeting booked",
    "Customer asked for references",
    "Price objection, discussed volume discount",
    "Met the new decision maker",
    "Delivery issue escalated",
]
TOPICS = [
    "next steps agreed",
    "waiting for their legal team",
    "budget confirmed for Q3",
    "they compare us with two competitors",
    "needs a technical workshop",
    "order expected next month",
    "renewal at risk, see notes",
    "asked for a trial extension",
]
REPLIES = ["Thanks!", "Great news.", "Let's discuss tomorrow.", "Please loop me in.", "Noted."]


# -- the feed data --------------------------------------------------------------------------------


@dataclass
class Viewers:
    """The three measured viewers, chosen from the generated organisation."""

    manager: int
    salesperson: int
    admin: int
    notes: dict[str, str] = field(default_factory=dict)


def chain(o: Org, user_id: int) -> list[int]:
    """The user and all their superiors, nearest first."""
    found: list[int] = []
    current: int | None = user_id
    while current is not None:
        found.append(current)
        current = o.superior[current]
    return found


def pick_viewers(o: Org) -> Viewers:
    """The records benchmark's viewers: the first VP, the middle rep, the CRM admin."""
    vp, rep = o.vps[0], o.reps[len(o.reps) // 2]
    return Viewers(
        vp,
        rep,
        o.admin,
        {
            "manager": f"user {vp}, VP, {o.subordinates(vp)} subordinates, head of a region",
            "salesperson": f"user {rep}, Rep, no subordinates",
            "CRM admin": f"user {o.admin}, head of CRM Operations",
        },
    )


@dataclass
class RecordInfo:
    """What the item generator needs to know about the records already in the database."""

    ids: list[int]
    owner: dict[int, int]
    object_type: dict[int, str]
    normal: set[int]
    team: dict[int, list[int]]  # record -> members other than the owner
    owned: dict[int, list[int]]  # owner -> records
    owned_contacts: dict[int, list[int]]


async def load_records(engine: AsyncEngine, enterprise_id: int) -> RecordInfo:
    info = RecordInfo([], {}, {}, set(), defaultdict(list), defaultdict(list), defaultdict(list))
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(Record.id, Record.owner_id, Record.object_type, Record.life_status)
            .where(Record.enterprise_id == enterprise_id)
            .order_by(Record.id)
        )
        for record_id, owner_id, object_type, life_status in rows:
            info.ids.append(record_id)
            info.owner[record_id] = owner_id
            info.object_type[record_id] = object_type
            if life_status == "NORMAL":
                info.normal.add(record_id)
                info.owned[owner_id].append(record_id)
                if object_type == "CONTACT":
                    info.owned_contacts[owner_id].append(record_id)
        team = await connection.execute(
            select(TeamMember.record_id, TeamMember.user_id)
            .where(TeamMember.enterprise_id == enterprise_id, TeamMember.team_role != "OWNER")
            .order_by(TeamMember.record_id, TeamMember.user_id)
        )
        for record_id, user_id in team:
            info.team[record_id].append(user_id)
    return info


def circles(o: Org) -> dict[int, list[int]]:
    """The people a user works with: team-mates, direct reports, superior and theirs."""
    reports: dict[int, list[int]] = defaultdict(list)
    for user, superior in o.superior.items():
        if superior is not None:
            reports[superior].append(user)
    found: dict[int, list[int]] = {}
    for user in o.superior:
        above = chain(o, user)[1:3]
        siblings = reports[above[0]] if above else []
        people = dict.fromkeys([*siblings[:12], *reports[user][:12], *above])
        people.pop(user, None)
        found[user] = list(people) or [user]
    return found


@dataclass
class FeedRows:
    items: list[tuple] = field(default_factory=list)
    links: list[tuple] = field(default_factory=list)
    named: list[tuple] = field(default_factory=list)
    replies: list[tuple] = field(default_factory=list)
    reply_mentions: list[tuple] = field(default_factory=list)
    likes: list[tuple] = field(default_factory=list)
    favorites: list[tuple] = field(default_factory=list)
    follows: list[tuple] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)


# (table, columns) in insert order; each FeedRows list holds tuples in this column order
FEED_TABLES = [
    (
        "items",
        "feed_items",
        "id enterprise_id type author_id content account_id created_at updated_at",
    ),
    ("links", "feed_item_records", "enterprise_id item_id record_id"),
    ("named", "feed_item_users", "enterprise_id item_id user_id kind"),
    ("replies", "feed_replies", "id enterprise_id item_id author_id content created_at"),
    ("reply_mentions", "feed_reply_mentions", "enterprise_id reply_id user_id"),
    ("likes", "feed_likes", "enterprise_id item_id user_id created_at"),
    ("favorites", "feed_favorites", "enterprise_id item_id user_id created_at"),
    ("follows", "feed_follows", "enterprise_id item_id user_id created_at"),
]


def hot_accounts(o: Org, info: RecordInfo, viewers: Viewers, rng: random.Random) -> list[int]:
    """Accounts that get most of the activity, busiest first: the salesperson's first account,
    then one of a rep under the measured VP, then random normal accounts."""
    under_vp = next(r for r in o.reps if viewers.manager in chain(o, r)[1:])
    forced = []
    for owner in (viewers.salesperson, under_vp):
        forced.append(
            next(
                r for r in info.owned[owner] if info.object_type[r] == "ACCOUNT" and r not in forced
            )
        )
    accounts = [
        r
        for r in info.ids
        if info.object_type[r] == "ACCOUNT" and r in info.normal and r not in forced
    ]
    return forced + rng.sample(accounts, min(HOT_ACCOUNTS, len(accounts)) - len(forced))


def count_from(rng: random.Random, table: Sequence[tuple[float, int, int]]) -> int:
    """A skewed count: the first (cumulative probability, low, high) row above a uniform draw."""
    draw = rng.random()
    for threshold, low, high in table:
        if draw < threshold:
            return rng.randint(low, high) if high > low else low
    return 0


# mean ~0.32 replies per item: 91 % none, a few long threads
REPLY_COUNTS = [(0.91, 0, 0), (0.98, 1, 3), (0.998, 4, 10), (1.0, 11, 40)]
# mean ~1.05 likes per item
LIKE_COUNTS = [(0.52, 0, 0), (0.82, 1, 1), (0.93, 2, 3), (0.985, 4, 6), (1.0, 7, 20)]


def feed_batches(
    o: Org,
    info: RecordInfo,
    viewers: Viewers,
    n_items: int,
    now: datetime,
    stamp: Any,
) -> Iterator[FeedRows]:
    """Feed items and everything hanging off them, ITEM_BATCH items at a time, deterministic."""
    rng = random.Random(ITEM_SEED)
    e = o.enterprise_id
    hot = hot_accounts(o, info, viewers, rng)
    weights = [1 / (rank + 10) for rank in range(len(hot))]
    cumulative = [sum(weights[: i + 1]) for i in range(len(weights))]
    total_weight = cumulative[-1]
    near = circles(o)
    salespeople = o.reps + o.managers
    all_users = list(o.superior)
    type_lists = {
        kind: [name for name, weight in mix for _ in range(weight)]
        for kind, mix in TYPE_MIX.items()
    }
    start = now - timedelta(days=365)
    span = timedelta(days=365) / max(n_items, 1)
    reply_id = 0
    rows = FeedRows()
    for item_id in range(1, n_items + 1):
        if rng.random() < HOT_SHARE:
            primary = hot[bisect.bisect_left(cumulative, rng.random() * total_weight)]
        else:
            primary = info.ids[rng.randrange(len(info.ids))]
        owner = info.owner[primary]
        object_type = info.object_type[primary]
        item_type = rng.choice(type_lists.get(object_type, type_lists["CONTACT"]))
        related = [primary]
        draw = rng.random()
        if item_type == "POST" and draw < 0.25:
            related = []  # a post about nothing: author and named users only
            author = rng.choice(salespeople)
        else:
            if draw < 0.10 and info.owned[owner]:  # 2-3 records of the same owner
                related += [rng.choice(info.owned[owner]) for _ in range(rng.randint(1, 2))]
            elif draw < 0.15 and object_type == "ACCOUNT" and info.owned_contacts[owner]:
                contacts = info.owned_contacts[owner]  # an account and its contacts
                related += rng.sample(contacts, min(len(contacts), rng.randint(1, 3)))
            related = list(dict.fromkeys(related))
            who = rng.random()
            if item_type in SYSTEM_TYPES or who < 0.80:
                author = owner
            elif who < 0.92 and info.team[primary]:
                author = rng.choice(info.team[primary])
            elif who < 0.97:
                author = o.superior[owner] or owner
            else:
                author = rng.choice(salespeople)
        when = start + span * item_id
        at = stamp(when)
        account = (
            primary
            if object_type == "ACCOUNT" and item_type in ACCOUNT_LOOKUP_TYPES and rng.random() < 0.4
            else None
        )
        if account is not None and account not in related:
            related.append(account)
        content = f"{rng.choice(OPENERS)}: {rng.choice(TOPICS)}. Ref {item_id}."
        if rng.random() < 0.05:
            content = " ".join([content] * rng.randint(5, 20))
        rows.items.append((item_id, e, item_type, author, content, account, at, at))
        rows.links.extend((e, item_id, record_id) for record_id in related)

        circle = near[author]
        named: set[tuple[int, str]] = set()
        if rng.random() < 0.10 or not related:
            for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
                user = rng.choice(circle) if rng.random() < 0.7 else rng.choice(all_users)
                named.add((user, "MENTION" if rng.random() < 0.7 else "CC"))
        followers = {author}
        pool = [author, owner, *circle[:6], *(u for u, _ in sorted(named))]
        for n in range(count_from(rng, REPLY_COUNTS)):
            reply_id += 1
            replier = rng.choice(pool)
            followers.add(replier)
            rows.replies.append(
                (
                    reply_id,
                    e,
                    item_id,
                    replier,
                    f"{rng.choice(REPLIES)} ({n + 1})",
                    stamp(when + timedelta(minutes=7 * (n + 1))),
                )
            )
            if rng.random() < 0.05:
                mentioned = rng.choice(circle)
                rows.reply_mentions.append((e, reply_id, mentioned))
                named.add((mentioned, "REPLY_MENTION"))
        rows.named.extend((e, item_id, user, kind) for user, kind in sorted(named))
        likes = count_from(rng, LIKE_COUNTS)
        if likes:
            likers = set(rng.sample(circle, min(likes, len(circle))))
            while len(likers) < likes:
                likers.add(rng.choice(all_users))
            rows.likes.extend((e, item_id, user, at) for user in sorted(likers))
        if rng.random() < 0.02:
            fan = author if rng.random() < 0.5 else (o.superior[author] or author)
            rows.favorites.append((e, item_id, fan, at))
        rows.follows.extend((e, item_id, user, at) for user in sorted(followers))
        if len(rows) >= ITEM_BATCH:
            yield rows
            rows = FeedRows()
    if len(rows):
        yield rows


def sqlite_stamp(when: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores (UTC, naive, microseconds)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


async def insert_feed_rows(connection: AsyncConnection, rows: FeedRows, schema: str | None) -> None:
    """One executemany (SQLite) or COPY (PostgreSQL) per table."""
    if schema is None:
        for attribute, table, columns in FEED_TABLES:
            batch = getattr(rows, attribute)
            if batch:
                names = columns.split()
                marks = ", ".join("?" for _ in names)
                await connection.exec_driver_sql(
                    f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", batch
                )
        return
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    for attribute, table, columns in FEED_TABLES:
        batch = getattr(rows, attribute)
        if batch:
            await driver.copy_records_to_table(
                table, records=batch, columns=columns.split(), schema_name=schema
            )


async def skip_foreign_key_triggers(connection: AsyncConnection) -> None:
    """PostgreSQL: COPY without the per-row foreign-key trigger queries (the generator only
    writes ids that exist), for this transaction only. Needs a superuser; otherwise the load
    just runs with the checks."""
    try:
        async with connection.begin_nested():
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
    except Exception as error:
        console.print(f"foreign-key checks stay on during the load ({type(error).__name__})")


async def build_feed(
    target: Target, n_users: int, n_records: int, n_items: int, analyze: bool
) -> tuple[dict[str, float], dict[str, int]]:
    """The records benchmark's data, then the feed; returns seconds per phase and row counts."""
    phases = await build(target, n_users, n_records, analyze=False)
    clock = time.perf_counter()
    services = Services.create(target.settings(), schema=target.schema)
    engine = services.engine
    o = build_org(n_users, random.Random(SEED), datetime.now(UTC))
    viewers = pick_viewers(o)
    info = await load_records(engine, o.enterprise_id)
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = sqlite_stamp if target.schema is None else (lambda when: when)
    counts: dict[str, int] = defaultdict(int)
    async with engine.begin() as connection:
        await connection.execute(
            insert(FollowUpSetting),
            [
                {
                    "enterprise_id": o.enterprise_id,
                    "object_type": object_type,
                    "team_role": role,
                    "access": FollowUpAccess.DISABLED.value,
                }
                for object_type, role in (
                    ("ACCOUNT", "AFTER_SALES"),
                    ("OPPORTUNITY", "CO_FOLLOWER"),
                )
            ],
        )
        if target.schema is None:
            await connection.exec_driver_sql("PRAGMA cache_size=-512000")  # 500 MB for the load
        else:
            await skip_foreign_key_triggers(connection)
        for rows in feed_batches(o, info, viewers, n_items, now, stamp):
            await insert_feed_rows(connection, rows, target.schema)
            for attribute, table, _ in FEED_TABLES:
                counts[table] += len(getattr(rows, attribute))
    phases["feed"] = time.perf_counter() - clock
    clock = time.perf_counter()
    if target.schema is not None:
        async with engine.begin() as connection:
            for table in ("enterprises", "departments", "users", "records", "sharing_rules"):
                await connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            for table in ("feed_items", "feed_replies"):
                await connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
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
        phases["analyze"] = time.perf_counter() - clock
    if target.schema is None:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    await engine.dispose()
    return phases, dict(counts)


async def existing_sizes(target: Target) -> tuple[int, int, int] | None:
    """(users, records, feed items) already in the bench database, or None."""
    counts = await existing_counts(target)
    if counts is None:
        return None
    services = Services.create(target.settings(), schema=target.schema)
    try:
        async with services.engine.connect() as connection:
            items = await connection.scalar(select(func.count()).select_from(FeedItem))
    except Exception:
        return None
    finally:
        await services.engine.dispose()
    return counts[0], counts[1], int(items or 0)


async def table_sizes(target: Target) -> dict[str, int]:
    services = Services.create(target.settings(), schema=target.schema)
    try:
        async with services.engine.connect() as connection:
            return {
                table: int(await connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
                for _, table, _ in FEED_TABLES
            }
    finally:
        await services.engine.dispose()


# -- measuring ------------------------------------------------------------------------------------


@dataclass
class Case:
    viewer: str
    user_id: int
    feed: str  # "Work", "record", "Work [POST]", a scene's name; "+ totalCount" when counted
    page: int  # 1 or 2
    query: str
    variables: dict[str, Any]
    account: int | None = None  # the record of a record feed
    types: tuple[str, ...] = ()
    scene: FeedScene | None = None
    total: bool = False  # the selection has totalCount
    bounded: bool = False  # the selection has countUpTo(atMost: COUNT_BOUND)


@dataclass
class Result:
    case: Case
    statements: str
    gql: Timing
    raw: Timing
    page_statement: Timing
    runs: int = 0
    visible: int | None = None
    captured: list[tuple[str, Any]] = field(default_factory=list)
    item_ids: list[int] = field(default_factory=list)


def is_page_statement(statement: str) -> bool:
    """The statement that picks the page: feed items with their authors, newest first."""
    head = statement.split("FROM", 1)[0]
    return head.startswith("SELECT feed_items.id,") and "users.id" in head and "DESC" in statement


async def busiest_account(engine: AsyncEngine, enterprise_id: int, owners: Any) -> int:
    """The normal account, owned by one of `owners` (a SELECT of user ids, or None for anyone),
    with the most feed items."""
    query = (
        select(FeedItemRecord.record_id)
        .join(Record, Record.id == FeedItemRecord.record_id)
        .where(
            Record.enterprise_id == enterprise_id,
            Record.object_type == "ACCOUNT",
            Record.life_status == "NORMAL",
        )
        .group_by(FeedItemRecord.record_id)
        .order_by(func.count().desc(), FeedItemRecord.record_id)
        .limit(1)
    )
    if owners is not None:
        query = query.where(Record.owner_id.in_(owners))
    async with engine.connect() as connection:
        return int(await connection.scalar(query) or 0)


async def measure(
    target: Target,
    o: Org,
    viewers: Viewers,
    iterations: int,
    warmup: int,
    budget: float,
    with_counts: bool,
    scenes: bool = False,
    totals: bool = False,
) -> list[Result]:
    """Every case: one checked request, then `iterations` interleaved runs (fewer when one
    request is so slow that they would take more than `budget` seconds, at least 3). With
    `scenes`, also the first Work page of some item types and of each scene; with `totals`,
    also every first page with `totalCount` selected."""
    settings = target.settings()
    services = Services.create(settings, schema=target.schema)
    log = StatementLog()
    event.listen(services.engine.sync_engine, "before_cursor_execute", log)
    app = TimedApp(create_app(services))
    await services.hub.start()  # as the app's lifespan does; the reminder runner stays off
    tune_gc()  # as `crmfeed serve` does in each server process (crmfeed.runtime.served_app)
    results: list[Result] = []
    transport = httpx.ASGITransport(app=app)
    e = o.enterprise_id

    def subtree(user_id: int) -> Any:
        return select(UserClosure.descendant_id).where(UserClosure.ancestor_id == user_id)

    people = [
        ("manager", viewers.manager, subtree(viewers.manager)),
        ("salesperson", viewers.salesperson, subtree(viewers.salesperson)),
        ("CRM admin", viewers.admin, None),
    ]
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for label, user_id, owners in people:
                token = issue_token(settings, user_id, e)
                headers = {"Authorization": f"Bearer {token}"}

                async def graphql(
                    query: str, variables: dict[str, Any], headers: dict[str, str] = headers
                ) -> dict:
                    response = await client.post(
                        "/graphql", json={"query": query, "variables": variables}, headers=headers
                    )
                    body = response.json()
                    if body.get("errors"):
                        raise RuntimeError(body["errors"])
                    return body["data"]["feed"]

                account = await busiest_account(services.engine, e, owners)
                cases = []
                for feed_name, query, variables in (
                    ("Work", WORK_QUERY, {}),
                    ("record", RECORD_QUERY, {"record": f"rec_{account}"}),
                ):
                    first = await graphql(query, variables)
                    after = first["pageInfo"]["endCursor"]
                    record = account if feed_name == "record" else None
                    cases.append(Case(label, user_id, feed_name, 1, query, variables, record))
                    if after is not None:
                        after_variables = {**variables, "after": after}
                        cases.append(
                            Case(label, user_id, feed_name, 2, query, after_variables, record)
                        )
                if scenes:
                    for types in EXTRA_TYPES:
                        name = f"Work [{', '.join(types)}]"
                        variables = {"types": list(types)}
                        cases.append(
                            Case(label, user_id, name, 1, WORK_QUERY, variables, None, types)
                        )
                    for scene in SCENES:
                        variables = {"scene": scene.value}
                        cases.append(
                            Case(label, user_id, scene.value, 1, WORK_QUERY, variables, scene=scene)
                        )
                if totals:
                    cases += [
                        replace(case, query=query, **{kind: True})
                        for case in list(cases)
                        if case.page == 1
                        for query, kind in ((TOTAL_QUERY, "total"), (UP_TO_QUERY, "bounded"))
                    ]
                for case in cases:
                    log.start()
                    data = await graphql(case.query, case.variables)
                    first_took = app.last[0]
                    captured = log.stop()
                    got = [int(edge["node"]["id"].split("_")[1]) for edge in data["edges"]]
                    want, visible = await reference(
                        services,
                        e,
                        user_id,
                        case,
                        case.total or case.bounded or (with_counts and case.page == 1),
                    )
                    assert got == want, (case.viewer, case.feed, case.page, got[:3], want[:3])
                    if case.total:
                        assert data["totalCount"] == visible, (case.feed, data["totalCount"])
                    if case.bounded:
                        assert visible is not None
                        exact = visible <= COUNT_BOUND
                        bounded = {"count": min(visible, COUNT_BOUND), "exact": exact}
                        assert data["countUpTo"] == bounded, (case.feed, data["countUpTo"])
                    page_statements = [s for s in captured if is_page_statement(s[0])]
                    assert len(page_statements) == 1, [s[0][:80] for s in captured]
                    counts: set[int] = set()

                    async def one_request(
                        case: Case = case, counts: set[int] = counts
                    ) -> tuple[float, float]:
                        log.start()
                        await graphql(case.query, case.variables)
                        counts.add(len(log.stop()))
                        return app.last

                    async def replay_all(statements: list = captured) -> None:
                        await replay(services.engine, statements)

                    async def replay_page(statements: list = page_statements) -> None:
                        await replay(services.engine, statements)

                    # a run = request + replay + page statement, about 2.5 requests
                    runs = max(
                        min(3, iterations), min(iterations, int(budget / (2.5 * first_took)))
                    )
                    gql, raw, page = await repeat(
                        [one_request, replay_all, replay_page],
                        warmup if runs == iterations else 1,
                        runs,
                    )
                    results.append(
                        Result(
                            case=case,
                            statements=",".join(str(c) for c in sorted(counts)),
                            gql=gql,
                            raw=raw,
                            page_statement=page,
                            runs=runs,
                            visible=visible,
                            captured=captured,
                            item_ids=got,
                        )
                    )
                    console.print(
                        f"  {case.viewer} {feed_label(case)} page {case.page}: GraphQL p50 "
                        f"{gql.p50:.1f} ms ({runs} runs)",
                        highlight=False,
                    )
    finally:
        await services.hub.stop()
        await services.engine.dispose()
    return results


async def reference(
    services: Services, e: int, user_id: int, case: Case, with_count: bool
) -> tuple[list[int], int | None]:
    """The page computed another way: the union of the items linked to records whose follow-up
    activity is open to the viewer (`visibility.open_record_ids`, driven by the record index),
    the viewer's own items and the items naming them (of the case's record, types or scene
    records); with its size when `with_count`."""
    from resolvers.paging import decode_cursor

    async with services.session_factory() as session:
        viewer = await org.load_viewer(session, e, user_id)
        assert viewer is not None
        visible = union(
            select(FeedItemRecord.item_id.label("id")).where(
                FeedItemRecord.record_id.in_(visibility.open_record_ids(viewer))
            ),
            select(FeedItem.id).where(FeedItem.enterprise_id == e, FeedItem.author_id == user_id),
            select(FeedItemUser.item_id).where(
                FeedItemUser.enterprise_id == e, FeedItemUser.user_id == user_id
            ),
        ).subquery()
        ids = select(visible.c.id)
        if case.account is not None:
            ids = ids.where(
                visible.c.id.in_(
                    select(FeedItemRecord.item_id).where(FeedItemRecord.record_id == case.account)
                )
            )
        if case.types:
            ids = ids.where(
                visible.c.id.in_(select(FeedItem.id).where(FeedItem.type.in_(case.types)))
            )
        if case.scene is not None:
            scene_ids = feed.scene_records(viewer, SCENES[case.scene]).ids()
            ids = ids.where(
                visible.c.id.in_(
                    select(FeedItemRecord.item_id).where(FeedItemRecord.record_id.in_(scene_ids))
                )
            )
        before = decode_cursor(case.variables.get("after"))
        page = ids if before is None else ids.where(visible.c.id < before)
        want = list(await session.scalars(page.order_by(visible.c.id.desc()).limit(PAGE_SIZE)))
        total = None
        if with_count:
            total = await session.scalar(select(func.count()).select_from(ids.subquery()))
    return want, total


# -- reporting ------------------------------------------------------------------------------------


def feed_label(case: Case) -> str:
    """ "Work", "record 127", "MY_ACCOUNTS + totalCount", ..."""
    label = case.feed + (f" {case.account}" if case.account else "")
    return label + counted(case)


def counted(case: Case) -> str:
    """ " + totalCount", " + countUpTo(1000)" or nothing."""
    if case.total:
        return " + totalCount"
    return f" + countUpTo({COUNT_BOUND})" if case.bounded else ""


def render(results: list[Result], iterations: int, title: str) -> Table:
    table = Table(title=f"{title}: up to {iterations} runs; ms p50 / p95, CPU ms p50")
    for name in (
        "viewer",
        "feed",
        "page",
        "runs",
        "visible",
        "stmts",
        "GraphQL",
        "raw SQL",
        "page stmt",
        "GraphQL/raw",
        "CPU GraphQL",
        "CPU raw",
    ):
        justify = "left" if name in ("viewer", "feed") else "right"
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]

    def ms(t: Timing) -> str:
        return f"{t.p50:.1f} / {t.p95:.1f}"

    for r in results:
        table.add_row(
            r.case.viewer,
            feed_label(r.case),
            str(r.case.page),
            str(r.runs),
            "-" if r.visible is None else f"{r.visible:,}",
            r.statements,
            ms(r.gql),
            ms(r.raw),
            ms(r.page_statement),
            f"{r.gql.p50 / r.raw.p50:.1f}x",
            f"{r.gql.cpu_p50:.1f}",
            f"{r.raw.cpu_p50:.1f}",
        )
    return table


def render_sizes(big: list[Result], small: list[Result], n_big: int, n_small: int) -> Table:
    table = Table(title="page p50 ms by tenant size (GraphQL server time; page statement alone)")
    for name in ("viewer", "feed", "page"):
        table.add_column(name)
    for n in (n_small, n_big):
        table.add_column(f"{n:,} items: GraphQL", justify="right")
        table.add_column("page stmt", justify="right")
    table.add_column("GraphQL x", justify="right")
    keyed = {(r.case.viewer, r.case.feed, counted(r.case), r.case.page): r for r in small}
    for r in big:
        s = keyed.get((r.case.viewer, r.case.feed, counted(r.case), r.case.page))
        if s is None:
            continue
        table.add_row(
            r.case.viewer,
            r.case.feed + counted(r.case),
            str(r.case.page),
            f"{s.gql.p50:.1f}",
            f"{s.page_statement.p50:.1f}",
            f"{r.gql.p50:.1f}",
            f"{r.page_statement.p50:.1f}",
            f"{r.gql.p50 / s.gql.p50:.1f}x",
        )
    return table


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.feed_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--path", default=DEFAULT_SQLITE_PATH, help="SQLite file")
    parser.add_argument("--url", default=POSTGRES_URL, help="PostgreSQL URL")
    parser.add_argument("--schema", default=DEFAULT_SCHEMA, help="PostgreSQL schema (recreated)")
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument(
        "--small-items",
        type=int,
        default=10_000,
        help=f"items in the comparison database ('{SMALL_SUFFIX}' path/schema); 0: none",
    )
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds per case: slow pages get fewer runs (at least 3)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the data if it already has these sizes"
    )
    parser.add_argument(
        "--no-analyze", dest="analyze", action="store_false", help="skip ANALYZE after the load"
    )
    parser.add_argument(
        "--no-counts",
        dest="counts",
        action="store_false",
        help="do not count the items each viewer may see (a full visibility scan per feed)",
    )
    parser.add_argument(
        "--scenes",
        action="store_true",
        help="also the first Work page of types POST and CALENDAR, and of each scene",
    )
    parser.add_argument(
        "--totals",
        action="store_true",
        help=f"also every first page with totalCount, and with countUpTo(atMost: {COUNT_BOUND})",
    )
    parser.add_argument("--build-only", action="store_true", help="build (or reuse) and stop")
    parser.add_argument("--explain", action="store_true", help="print every page statement's plan")
    parser.add_argument(
        "--slow-ms", type=float, default=10.0, help="GraphQL p50 above which plans are printed"
    )
    args = parser.parse_args(argv)
    if args.users < MIN_USERS:
        parser.error(f"--users must be at least {MIN_USERS} (the fixed management layers)")
    return args


def targets_from(args: argparse.Namespace) -> tuple[Target, Target | None]:
    def one(suffix: str) -> Target:
        if args.database == "sqlite":
            path = Path(args.path).resolve()
            path = path.with_name(path.stem + suffix + path.suffix)
            return Target("sqlite", f"sqlite+aiosqlite:///{path}", None, path)
        return Target("postgresql", args.url, args.schema + suffix, None)

    return one(""), (one(SMALL_SUFFIX) if args.small_items else None)


async def ensure(target: Target, args: argparse.Namespace, n_items: int) -> None:
    where = target.path or f"schema {target.schema}"
    sizes = await existing_sizes(target) if args.reuse else None
    if sizes == (args.users, args.records, n_items):
        console.print(f"{where}: reusing {n_items:,} items")
        await migrate_existing(target)
        return
    console.print(
        f"{where}: building {args.users:,} users, {args.records:,} records, "
        f"{n_items:,} feed items ..."
    )
    started = time.perf_counter()
    phases, counts = await build_feed(target, args.users, args.records, n_items, args.analyze)
    detail = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in phases.items())
    console.print(f"built in {time.perf_counter() - started:.1f}s ({detail})")
    console.print("rows: " + ", ".join(f"{table} {n:,}" for table, n in counts.items()))
    console.print(f"peak RSS after build: {peak_rss_mib():.0f} MiB")


async def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    big, small = targets_from(args)
    command = " ".join(["python -m bench.feed_bench", *sys.argv[1:]])
    console.print(f"[bold]crmfeed feed benchmark[/]: {command}", highlight=False)
    await ensure(big, args, args.items)
    if small is not None:
        await ensure(small, args, args.small_items)
    if args.build_only:
        return

    o = build_org(args.users, random.Random(SEED), datetime.now(UTC))
    viewers = pick_viewers(o)
    for line in machine_info(big, await server_version(big)):
        console.print(line)
    sizes = await table_sizes(big)
    console.print(
        f"data: {args.users:,} users, {len(o.departments)} departments, {args.records:,} records; "
        + ", ".join(f"{table} {n:,}" for table, n in sizes.items())
    )
    for label, note in viewers.notes.items():
        console.print(f"viewer {label}: {note}")

    options = (args.iterations, args.warmup, args.budget, args.counts, args.scenes, args.totals)
    results = await measure(big, o, viewers, *options)
    console.print(render(results, args.iterations, f"feed(first: 20), {args.items:,} items"))
    small_results: list[Result] = []
    if small is not None:
        small_results = await measure(small, o, viewers, *options)
        console.print(
            render(small_results, args.iterations, f"feed(first: 20), {args.small_items:,} items")
        )
        console.print(render_sizes(results, small_results, args.items, args.small_items))
    console.print(
        "GraphQL = server time of the POST through the ASGI app; raw SQL = the request's own "
        "statements replayed on a bare connection; page stmt = the page statement alone "
        "(feed_items ⨝ users ... ORDER BY id DESC LIMIT 21); visible = items of that feed the "
        "viewer may see (counted by the reference query each page is checked against); "
        "record N = feed(recordId: rec_N), the busiest account the viewer (or their subtree) owns."
    )
    console.print(
        f"peak RSS: {peak_rss_mib():.0f} MiB; load average now: "
        + " / ".join(f"{value:.2f}" for value in os.getloadavg())
    )
    for r in results:
        if not args.explain and r.gql.p50 <= args.slow_ms:
            continue
        statement = next(s for s in r.captured if is_page_statement(s[0]))
        console.rule(f"{r.case.viewer}: {feed_label(r.case)} page {r.case.page}: page statement")
        console.print(statement[0], markup=False, highlight=False)
        console.print(f"parameters: {statement[1]}", markup=False, highlight=False)
        for line in await explain(big, [statement]):
            console.print(line, markup=False, highlight=False)


if __name__ == "__main__":
    asyncio.run(main())
