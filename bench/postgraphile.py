"""The records page on PostgreSQL, crmfeed against a peer: PostGraphile with row-level security.

Issue 20's last row: one page of `records(objectType: ACCOUNT, first: 20)` (with the owner,
the owner's department, and `totalCount`) at 100,000 records, served by crmfeed and by
PostGraphile v4 (from npm, `bench/postgraphile/`) on the same tables, the same rows and the
same indexes. The bench:

1. builds (or reuses, `--reuse`) the records benchmark's data in its own PostgreSQL schema
   (`bench.records_bench.build`: 2,000 users, 100,000 records);
2. gives PostGraphile's role (`crmfeed_peer_viewer`, not the tables' owner) row-level security
   policies on `records`, `users` and `departments`. The records policy is generated from
   crmfeed's own visibility builder, never written by hand: `store.visibility.readable` of a
   viewer whose id and enterprise are the JWT claims PostGraphile puts into the session
   settings (`jwt.claims.user_id`, `jwt.claims.ent`), whose department is read from `users`,
   one condition per set of function roles found in `user_roles` (a `CASE` on the viewer's
   roles, also read in the statement). Users and departments: those of the claimed enterprise
   (what crmfeed's loaders read);
3. serves crmfeed (`crmfeed.runtime:served_app`, as `bench/throughput.py` does; `--code`
   repeatable, to put two checkouts side by side) and PostGraphile (one node process);
4. checks, for `--sample` viewers (the deep manager, the salesperson and the CRM admin of
   `bench/README.md`, then random users), that both answer the same 20 records (ids, names,
   statuses, owners, departments) in the same order and the same `totalCount`;
5. measures, in turns (server by server for each cell, `--rounds` times), pages/s and
   p50/p99 latency with `--clients` concurrent clients (1 and 20), with and without
   `totalCount`, for the three named viewers, with each server's CPU per page and that of its
   PostgreSQL backends (from /proc), and prints crmfeed ÷ PostGraphile against the target
   (≤ 1x latency, ≥ 1x throughput) with the load average.

    python -m bench.postgraphile --reuse
    python -m bench.postgraphile --reuse --code ../main --code . --clients 1 --seconds 5

Nothing here is part of the product: the policies and the role live in the bench schema only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx
import jwt
from sqlalchemy import Integer, case, false, func, literal_column, select, text
from sqlalchemy.dialects import postgresql

from bench import throughput
from bench.records_bench import (
    PAGE_QUERY,
    PAGE_QUERY_NO_COUNT,
    POSTGRES_URL,
    SECRET_KEY,
    SEED,
    Target,
    build,
    build_org,
    existing_counts,
    migrate_existing,
)
from crmfeed.ids import Kind, from_global
from crmfeed.registry.enums import FunctionRole
from crmfeed.security import issue_token
from crmfeed.settings import Settings
from store import visibility
from store.engine import create_engine
from store.models import Record, User, UserRole
from store.viewer import Viewer, split_roles

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncEngine

HERE = Path(__file__).resolve().parent / "postgraphile"
SCHEMA = "crmfeed_peer"  # its own schema: the policies touch no other bench's data
ROLE = "crmfeed_peer_viewer"
PEER_SECRET = "crmfeed-peer-bench-secret-0123456789-not-for-production"
USER_CLAIM = "jwt.claims.user_id"
ENTERPRISE_CLAIM = "jwt.claims.ent"

PEER_PAGE = """
query PeerPage {
  allRecords(
    condition: {objectType: "ACCOUNT", lifeStatus: "NORMAL"}, orderBy: ID_DESC, first: 20
  ) {
    totalCount
    edges { node { id name status
      owner: userByOwnerId { name department: departmentByDepartmentId { name } }
      ownerDepartment: userByOwnerId { department: departmentByDepartmentId { name } } } }
  }
}"""
PEER_PAGE_NO_COUNT = PEER_PAGE.replace("    totalCount\n", "")


# -- the policies, from crmfeed's visibility builder ----------------------------------------------


def claim(name: str) -> ColumnElement[int]:
    """A JWT claim PostGraphile set for the transaction, as an integer (NULL when unset)."""
    return literal_column(f"nullif(current_setting('{name}', true), '')::int", Integer)


def viewer_roles(user_id: ColumnElement[int]) -> ColumnElement[str]:
    """The user's preset function roles, sorted and comma-joined (one value per statement)."""
    presets = sorted(role.value for role in FunctionRole)
    return (
        select(func.string_agg(UserRole.role, literal_column("',' ORDER BY role")))
        .where(UserRole.user_id == user_id, UserRole.role.in_(presets))
        .scalar_subquery()
    )


def records_policy(role_sets: Sequence[frozenset[FunctionRole]]) -> str:
    """The USING condition of the records policy: `visibility.readable` of the claimed viewer,
    built by the builder for each set of roles a user holds (the roles are Python-side
    decisions of the builder: a CRM administrator, a function role's read scope)."""
    user_id, enterprise_id = claim(USER_CLAIM), claim(ENTERPRISE_CLAIM)
    department_id = select(User.department_id).where(User.id == user_id).scalar_subquery()
    whens: dict[str, ColumnElement[bool]] = {}
    for roles in role_sets:
        # A symbolic viewer: its fields are SQL expressions, which the builder only compares.
        viewer = Viewer(
            id=cast("int", user_id),
            enterprise_id=cast("int", enterprise_id),
            department_id=cast("int", department_id),
            roles=roles,
        )
        key = ",".join(sorted(role.value for role in roles))
        whens[key] = visibility.readable(viewer)
    condition = case(whens, value=viewer_roles(user_id), else_=false())
    # The tenant test first, at the top (every branch has it): PostgreSQL can then read the
    # records' list index (enterprise, type, life status, id) as crmfeed does.
    tenant = Record.enterprise_id == enterprise_id
    compiled = (tenant & condition).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


async def install_policies(target: Target) -> tuple[str, int]:
    """The peer's role, its grants and the row-level security policies; (records policy SQL,
    role sets)."""
    engine = target_engine(target)
    try:
        async with engine.begin() as connection:
            keys = await connection.scalars(
                text(
                    "SELECT DISTINCT string_agg(role, ',' ORDER BY role) FROM user_roles "
                    "GROUP BY user_id"
                )
            )
            role_sets = sorted({split_roles(key.split(","))[0] for key in keys}, key=sorted)
            policy = records_policy(role_sets)
            exists = await connection.scalar(
                text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": ROLE}
            )
            if exists is None:
                await connection.execute(text(f"CREATE ROLE {ROLE} NOLOGIN"))
            statements = [
                f'GRANT USAGE ON SCHEMA "{target.schema}" TO {ROLE}',
                f'GRANT SELECT ON ALL TABLES IN SCHEMA "{target.schema}" TO {ROLE}',
            ]
            tenant = f"enterprise_id = {claim(ENTERPRISE_CLAIM)}"
            for table, using in (("records", policy), ("users", tenant), ("departments", tenant)):
                statements += [
                    f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
                    f"DROP POLICY IF EXISTS peer_reads ON {table}",
                    f"CREATE POLICY peer_reads ON {table} FOR SELECT TO {ROLE} USING ({using})",
                ]
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()
    return policy, len(role_sets)


def target_engine(target: Target) -> AsyncEngine:
    return create_engine(target.settings(), schema=target.schema)


# -- the servers ----------------------------------------------------------------------------------


def ensure_node_modules() -> Path:
    binary = HERE / "node_modules" / ".bin" / "postgraphile"
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is needed for the peer (PostGraphile from the npm registry)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    return binary


def libpq_url(url: str) -> str:
    """The URL for node-postgres, with crmfeed's connection setting (JIT off: store/engine.py)
    so both servers meet the same database."""
    plain = url.replace("postgresql+asyncpg://", "postgres://", 1)
    return f"{plain}{'&' if '?' in plain else '?'}options=-c%20jit%3Doff"


def wait_until_up(url: str, body: dict[str, Any], headers: dict[str, str]) -> None:
    for _ in range(600):
        with contextlib.suppress(httpx.HTTPError):
            if httpx.post(url, json=body, headers=headers, timeout=5).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextlib.contextmanager
def served_peer(target: Target) -> Iterator[tuple[str, int]]:
    """PostGraphile on the bench schema: (graphql URL, pid of its node process)."""
    binary = ensure_node_modules()
    port = 9000 + random.randrange(100)
    workdir = Path(tempfile.mkdtemp(prefix="crmfeed-peer-"))
    log = (workdir / "postgraphile.log").open("wb")
    command = [
        str(binary),
        "--connection",
        libpq_url(target.url),
        "--schema",
        str(target.schema),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--jwt-secret",
        PEER_SECRET,
        "--default-role",
        ROLE,
        "--disable-query-log",
        "--disable-graphiql",
        "--disable-default-mutations",
    ]
    env = {**os.environ, "NODE_ENV": "production"}
    # node_modules/.bin/postgraphile is a script: exec'ing node directly gives the node pid.
    process = subprocess.Popen(
        ["node", *command], env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        wait_until_up(url, {"query": "{ __typename }"}, {})
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@contextlib.contextmanager
def served_crmfeed(code: Path, target: Target) -> Iterator[tuple[str, int]]:
    with throughput.served(code, target.url, {"DATABASE_SCHEMA": str(target.schema)}) as found:
        yield found


def crmfeed_token(user_id: int, enterprise_id: int) -> str:
    settings = Settings(secret_key=SECRET_KEY, database_url="sqlite+aiosqlite://")
    return issue_token(settings, user_id, enterprise_id)


def peer_token(user_id: int, enterprise_id: int) -> str:
    now = datetime.now(UTC)
    claims = {
        "aud": "postgraphile",
        "role": ROLE,
        "user_id": user_id,
        "ent": enterprise_id,
        "iat": now,
        "exp": now + timedelta(hours=6),
    }
    return jwt.encode(claims, PEER_SECRET, algorithm="HS256")


@dataclass
class Server:
    name: str
    url: str
    pid: int

    def request(self, user_id: int, enterprise_id: int, count: bool) -> tuple[dict, dict]:
        if self.name == PEER:
            body = {"query": PEER_PAGE if count else PEER_PAGE_NO_COUNT}
            token = peer_token(user_id, enterprise_id)
        else:
            body = {"query": PAGE_QUERY if count else PAGE_QUERY_NO_COUNT}
            token = crmfeed_token(user_id, enterprise_id)
        return body, {"Authorization": f"Bearer {token}"}


PEER = "PostGraphile"


# -- same rows ------------------------------------------------------------------------------------


Page = tuple[int | None, list[tuple[Any, ...]]]


def crmfeed_page(data: dict[str, Any]) -> Page:
    found = data["records"]
    rows = []
    for edge in found["edges"]:
        node = edge["node"]
        owner = node["owner"]
        rows.append(
            (
                from_global(Kind.RECORD, node["id"]),
                node["name"],
                node["status"],
                owner["name"],
                (owner["department"] or {}).get("name"),
                (node["department"] or {}).get("name"),
            )
        )
    return found.get("totalCount"), rows


def peer_page(data: dict[str, Any]) -> Page:
    found = data["allRecords"]
    rows = []
    for edge in found["edges"]:
        node = edge["node"]
        owner = node["owner"]
        rows.append(
            (
                int(node["id"]),  # a bigint: PostGraphile sends it as a string
                node["name"],
                node["status"],
                owner["name"],
                (owner["department"] or {}).get("name"),
                (node["ownerDepartment"]["department"] or {}).get("name"),
            )
        )
    total = found.get("totalCount")
    return (None if total is None else int(total)), rows


async def fetch_page(
    client: httpx.AsyncClient, server: Server, user_id: int, enterprise_id: int, count: bool
) -> Page:
    body, headers = server.request(user_id, enterprise_id, count)
    response = await client.post(server.url, json=body, headers=headers)
    answer = response.json()
    if response.status_code != 200 or answer.get("errors"):
        raise RuntimeError(f"{server.name}: {response.text[:500]}")
    return (peer_page if server.name == PEER else crmfeed_page)(answer["data"])


async def same_rows(
    servers: Sequence[Server], viewers: Sequence[int], enterprise_id: int
) -> list[str]:
    """Differences between the servers' pages (with totalCount) for every viewer."""
    problems = []
    async with httpx.AsyncClient(timeout=120) as client:
        for user_id in viewers:
            pages = [await fetch_page(client, s, user_id, enterprise_id, True) for s in servers]
            for server, page in zip(servers[1:], pages[1:], strict=True):
                if page != pages[0]:
                    problems.append(
                        f"user {user_id}: {servers[0].name} {pages[0][0]} "
                        f"{[r[0] for r in pages[0][1]]} != {server.name} {page[0]} "
                        f"{[r[0] for r in page[1]]}"
                    )
    return problems


# -- measuring ------------------------------------------------------------------------------------


def backend_pids(server_pid: int) -> list[int]:
    """PostgreSQL backends serving the process's open connections to port 5432 (from /proc)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{server_pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                if inode in inodes and remote.endswith(":1538"):  # 5432
                    ports.add(int(local.rsplit(":", 1)[1], 16))
    if not ports:
        return []
    found = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-Atc",
            f"SELECT pid FROM pg_stat_activity WHERE client_port IN ({','.join(map(str, ports))})",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return [int(pid) for pid in found.stdout.split()]


def cpu_of(pids: Sequence[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            found[pid] = throughput.cpu_seconds(pid)
    return found


def cpu_since(before: dict[int, float], server_pid: int) -> float:
    """CPU seconds the server's backends used since `before`: those open now (one opened
    meanwhile counts whole; one closed meanwhile is lost, as an idle one is)."""
    after = cpu_of(backend_pids(server_pid))
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


@dataclass
class Cell:
    server: str
    viewer: str
    count: bool
    clients: int
    rate: float
    latencies: list[float]
    cpu_ms: float
    db_cpu_ms: float

    @property
    def p50(self) -> float:
        return throughput.load.percentile(self.latencies, 0.5) * 1000

    @property
    def p99(self) -> float:
        return throughput.load.percentile(self.latencies, 0.99) * 1000


async def drive(
    server: Server,
    user_id: int,
    enterprise_id: int,
    count: bool,
    clients: int,
    seconds: float,
    warmup: float,
) -> tuple[float, list[float], float, float]:
    """(pages/s, latencies, server CPU ms/page, its backends' CPU ms/page)."""
    body, headers = server.request(user_id, enterprise_id, count)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def loop(until: float, record: bool) -> None:
            while time.monotonic() < until:
                started = time.perf_counter()
                response = await client.post(server.url, json=body, headers=headers)
                if response.status_code != 200 or b'"errors"' in response.content:
                    raise RuntimeError(f"{server.name}: {response.text[:500]}")
                if record:
                    latencies.append(time.perf_counter() - started)

        warm = time.monotonic() + warmup
        await asyncio.gather(*(loop(warm, False) for _ in range(clients)))
        cpu, db_before = throughput.cpu_seconds(server.pid), cpu_of(backend_pids(server.pid))
        started = time.monotonic()
        await asyncio.gather(*(loop(started + seconds, True) for _ in range(clients)))
        elapsed = time.monotonic() - started
        cpu = throughput.cpu_seconds(server.pid) - cpu
        db_cpu = cpu_since(db_before, server.pid)
    n = max(len(latencies), 1)
    return len(latencies) / elapsed, latencies, cpu / n * 1000, db_cpu / n * 1000


def ratio_lines(cells: Sequence[Cell], names: Sequence[str]) -> list[str]:
    """crmfeed ÷ PostGraphile per (viewer, count, clients): latency p50 and pages/s."""
    lines = []
    keys = sorted({(c.viewer, c.count, c.clients) for c in cells}, key=str)
    for viewer, count, clients in keys:
        of = {
            name: [
                c
                for c in cells
                if (c.viewer, c.count, c.clients, c.server) == (viewer, count, clients, name)
            ]
            for name in names
        }
        peer = of.get(PEER)
        if not peer:
            continue
        peer_p50 = statistics.median(c.p50 for c in peer)
        peer_rate = statistics.median(c.rate for c in peer)
        for name in names:
            if name == PEER or not of[name]:
                continue
            p50 = statistics.median(c.p50 for c in of[name])
            rate = statistics.median(c.rate for c in of[name])
            lines.append(
                f"{viewer:<13} {'page + totalCount' if count else 'page only':<17} "
                f"{clients:>2} clients  {name:<24} p50 {p50 / peer_p50:4.2f}x (target <= 1)  "
                f"pages/s {rate / peer_rate:4.2f}x (target >= 1)"
            )
    return lines


def describe(cell: Cell) -> str:
    return (
        f"{cell.viewer:<13} {'page + totalCount' if cell.count else 'page only':<17} "
        f"{cell.clients:>2} clients  {cell.server:<24} {cell.rate:7.1f} pages/s  "
        f"p50 {cell.p50:7.1f} ms  p99 {cell.p99:7.1f} ms  server CPU {cell.cpu_ms:5.2f} ms/page  "
        f"PostgreSQL CPU {cell.db_cpu_ms:5.2f} ms/page  load {throughput.load_average()}"
    )


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.postgraphile", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--url", default=POSTGRES_URL, help="PostgreSQL URL")
    parser.add_argument(
        "--schema", default=SCHEMA, help="the bench schema (rebuilt unless --reuse)"
    )
    parser.add_argument("--reuse", action="store_true", help="keep data of these sizes")
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--code", action="append", type=Path, help="crmfeed checkout (repeat)")
    parser.add_argument("--sample", type=int, default=121, help="viewers checked for same rows")
    parser.add_argument(
        "--clients", type=int, action="append", help="concurrent clients (repeat; 1 and 20)"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per cell")
    parser.add_argument("--warmup", type=float, default=1.5, help="per cell, not measured")
    parser.add_argument("--rounds", type=int, default=1, help="turns of every cell")
    parser.add_argument(
        "--viewers",
        default="deep manager,salesperson,CRM admin",
        help="named viewers to measure (comma-separated)",
    )
    parser.add_argument("--no-count", dest="counts", action="store_const", const=[False])
    parser.add_argument("--only-count", dest="counts", action="store_const", const=[True])
    parser.add_argument("--check-only", action="store_true", help="same-rows check, no timing")
    args = parser.parse_args(argv)
    args.clients = args.clients or [1, 20]
    args.counts = args.counts or [True, False]
    return args


async def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"python -m bench.postgraphile {' '.join(sys.argv[1:])}", flush=True)
    print(f"machine: {os.cpu_count()} cores; load average before: {throughput.load_average()}")
    target = Target("postgresql", args.url, args.schema, None)
    counts = await existing_counts(target) if args.reuse else None
    if counts == (args.users, args.records):
        print(f"reusing {args.users:,} users and {args.records:,} records in {args.schema}")
        await migrate_existing(target)
    else:
        started = time.perf_counter()
        phases = await build(target, args.users, args.records, analyze=True)
        print(f"built in {time.perf_counter() - started:.1f}s: {phases}")
    policy, role_sets = await install_policies(target)
    print(
        f"records policy ({role_sets} role sets, from store.visibility.readable): "
        f"{len(policy):,} characters"
    )

    o = build_org(args.users, random.Random(SEED), datetime.now(UTC))
    rep = o.reps[len(o.reps) // 2]
    named = {"deep manager": o.vps[0], "salesperson": rep, "CRM admin": o.admin}
    others = [u["id"] for u in o.users if u["id"] not in named.values()]
    sample = [*named.values(), *random.Random(SEED).sample(others, max(args.sample - 3, 0))]
    enterprise_id = o.enterprise_id
    codes = [path.resolve() for path in args.code or [Path.cwd()]]
    names = [throughput.label(code) for code in codes]

    with contextlib.ExitStack() as stack:
        servers = [
            Server(name, *stack.enter_context(served_crmfeed(code, target)))
            for name, code in zip(names, codes, strict=True)
        ]
        servers.append(Server(PEER, *stack.enter_context(served_peer(target))))
        problems = await same_rows(servers, sample, enterprise_id)
        for problem in problems[:20]:
            print(f"DIFFERENT: {problem}")
        print(
            f"same rows: {len(sample) - len({p.split(':')[0] for p in problems})} of "
            f"{len(sample)} viewers give the same 20 records in the same order and the same "
            f"totalCount on every server",
            flush=True,
        )
        if problems:
            raise SystemExit(1)
        if args.check_only:
            return
        cells: list[Cell] = []
        for _ in range(args.rounds):
            for label, user_id in named.items():
                if label not in args.viewers.split(","):
                    continue
                for count in args.counts:
                    for clients in args.clients:
                        for server in servers:
                            rate, latencies, cpu, db_cpu = await drive(
                                server,
                                user_id,
                                enterprise_id,
                                count,
                                clients,
                                args.seconds,
                                args.warmup,
                            )
                            cell = Cell(
                                server.name, label, count, clients, rate, latencies, cpu, db_cpu
                            )
                            cells.append(cell)
                            print(describe(cell), flush=True)
    print(f"crmfeed ÷ {PEER} (medians over rounds); load average now {throughput.load_average()}")
    for line in ratio_lines(cells, [s.name for s in servers]):
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
