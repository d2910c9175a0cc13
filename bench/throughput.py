"""Throughput of one served process: Work pages per second and writes per second.

Starts a server process (`uvicorn crmfeed.runtime:served_app --factory`, as `crmfeed serve`)
and drives it over HTTP with concurrent clients on the same machine:

* pages: `--clients` clients (20) each asking the first Work page (`feed(first: 20)` with
  authors, related records, counts and three replies per item: feed_bench's page) of one viewer
  again and again, on the feed benchmark's SQLite database (`python -m bench.feed_bench
  --build-only` builds it; `--path` picks another); pages/s, p50/p99, and the server process's
  CPU per page (from /proc);
* sequential: one client creating accounts (`createRecord`) one after the other: writes/s,
  and the server process's CPU per write (from /proc);
* writers: `--writers` concurrent writers (200) replying, liking and posting on a few hot items
  (bench/load.py's mix, on a new SQLite file): acknowledged writes/s, failed ones, p50/p99,
  and the server's CPU per acknowledged write.

Each figure is printed with its ratio to the target and the load average (2 shared cores: wall
figures move with the neighbours' load). `--code DIR` (repeatable) serves the code of another
checkout (e.g. a `git worktree` of main) instead of this one; several are measured in turns,
in the same run, so old and new meet the same load:

    python -m bench.throughput pages writes sequential
    python -m bench.throughput pages --code ../main --code .
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench import load
from bench.feed_bench import DEFAULT_SQLITE_PATH, WORK_QUERY, pick_viewers
from bench.records_bench import SECRET_KEY, SEED, build_org
from crmfeed.security import issue_token
from crmfeed.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

TARGETS = {"pages": 250.0, "sequential": 600.0, "writers": 400.0}  # per second
WRITERS_P99_TARGET = 1.0  # seconds
CHEAP_HASHING = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST_KIB": "64"}  # set-up speed only


@dataclass
class Figure:
    what: str
    code: str
    rate: float
    target: float
    latencies: list[float] = field(default_factory=list)
    note: str = ""

    def line(self) -> str:
        p50 = load.percentile(self.latencies, 0.5) * 1000
        p99 = load.percentile(self.latencies, 0.99) * 1000
        return (
            f"{self.what:<11} {self.code:<24} {self.rate:8.1f}/s  target {self.target:5.0f}/s "
            f"({self.rate / self.target:4.2f}x)  p50 {p50:7.1f} ms  p99 {p99:8.1f} ms  "
            f"{self.note}  load {load_average()}"
        )


def load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def served(
    code: Path, database_url: str, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """A server process running the checkout `code` on `database_url` (and `extra_env`, e.g.
    DATABASE_SCHEMA): (graphql URL, pid)."""
    workdir = Path(tempfile.mkdtemp(prefix="crmfeed-throughput-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CRMFEED_"))}
    env.update(
        PYTHONPATH=str(code),
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET_KEY,
        RUN_REMINDERS="false",
        BROADCAST_URL="memory://",
        **CHEAP_HASHING,
        **(extra_env or {}),
    )
    port = 8900 + random.randrange(100)
    log = (workdir / "server.log").open("wb")
    # As `crmfeed serve` runs it: the app from the environment, the garbage collector tuned.
    command = [sys.executable, "-m", "uvicorn", "crmfeed.runtime:served_app", "--factory"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            time.sleep(0.1)
        yield f"{url}/graphql", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


async def pages(code: Path, args: argparse.Namespace) -> Figure:
    """`args.clients` clients asking one viewer's first Work page for `args.seconds`."""
    o = build_org(args.users, random.Random(SEED), datetime.now(UTC))
    viewer = pick_viewers(o).salesperson
    settings = Settings(secret_key=SECRET_KEY, database_url="sqlite+aiosqlite://")
    token = issue_token(settings, viewer, o.enterprise_id)
    body = {"query": WORK_QUERY}
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    with served(code, f"sqlite+aiosqlite:///{args.path}") as (url, pid):
        limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:

            async def loop(until: float, record: bool) -> None:
                while time.monotonic() < until:
                    started = time.perf_counter()
                    response = await client.post(url, json=body, headers=headers)
                    if response.status_code != 200 or "errors" in response.json():
                        raise RuntimeError(response.text[:500])
                    if record:
                        latencies.append(time.perf_counter() - started)

            warm = time.monotonic() + 2
            await asyncio.gather(*(loop(warm, False) for _ in range(args.clients)))
            cpu = cpu_seconds(pid)
            started = time.monotonic()
            until = started + args.seconds
            await asyncio.gather(*(loop(until, True) for _ in range(args.clients)))
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(pid) - cpu
    note = f"server CPU {cpu / len(latencies) * 1000:.2f} ms/page"
    return Figure("pages", label(code), len(latencies) / elapsed, TARGETS["pages"], latencies, note)


async def sequential(code: Path, args: argparse.Namespace) -> Figure:
    """One client creating accounts one after the other for `args.seconds`."""
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/sequential.db"
        migrate(code, url)
        with served(code, url) as (graphql, pid):
            client = load.Client(graphql, 2)
            try:
                tag = uuid.uuid4().hex[:8]
                data = await client.call(
                    load.REGISTER,
                    {
                        "input": {
                            "enterpriseName": f"Throughput {tag}",
                            "adminName": "Admin",
                            "email": f"admin-{tag}@throughput.example",
                            "password": load.PASSWORD,
                        }
                    },
                )
                token = data["registerEnterprise"]["token"]
                latencies: list[float] = []
                n = 0

                async def one() -> None:
                    nonlocal n
                    n += 1
                    began = time.perf_counter()
                    await client.call(load.CREATE_ACCOUNT, {"name": f"Account {n}"}, token)
                    latencies.append(time.perf_counter() - began)

                warm = time.monotonic() + 2
                while time.monotonic() < warm:
                    await one()
                latencies.clear()
                cpu = cpu_seconds(pid)
                started = time.monotonic()
                until = started + args.seconds
                while time.monotonic() < until:
                    await one()
                elapsed = time.monotonic() - started
                cpu = cpu_seconds(pid) - cpu
            finally:
                await client.http.aclose()
    rate = len(latencies) / elapsed
    note = f"server CPU {cpu / len(latencies) * 1000:.2f} ms/write"
    return Figure("sequential", label(code), rate, TARGETS["sequential"], latencies, note)


async def writers(code: Path, args: argparse.Namespace) -> Figure:
    """bench/load.py's writers (replies, likes, posts) for `args.seconds`, on a new file."""
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/writers.db"
        migrate(code, url)
        with served(code, url) as (graphql, pid):
            client = load.Client(graphql, args.writers + 10)
            try:
                team, hot, accounts = await load.set_up(client, args.writers, 10, 4)
                tally = load.Tally()
                cpu = cpu_seconds(pid)
                started = time.monotonic()
                until = started + args.seconds
                await asyncio.gather(
                    *(load.write(client, w, hot, accounts, until, tally) for w in team)
                )
                elapsed = time.monotonic() - started
                cpu = cpu_seconds(pid) - cpu
            finally:
                await client.http.aclose()
    every = [value for values in tally.latencies.values() for value in values]
    failed = sum(tally.failures.values())
    p99 = load.percentile(every, 0.99)
    per_write = cpu / max(len(every), 1) * 1000
    note = (
        f"failed {failed}; p99 target {WRITERS_P99_TARGET:.1f} s "
        f"({p99 / WRITERS_P99_TARGET:.2f}x); server CPU {per_write:.2f} ms/write"
    )
    return Figure("writers", label(code), len(every) / elapsed, TARGETS["writers"], every, note)


def migrate(code: Path, database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CRMFEED_"))}
    env.update(PYTHONPATH=str(code), DATABASE_URL=database_url, SECRET_KEY=SECRET_KEY)
    subprocess.run(
        [sys.executable, "-m", "crmfeed", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        cwd=tempfile.gettempdir(),
    )


def label(code: Path) -> str:
    """The checkout's directory and commit, for the report."""
    found = subprocess.run(
        ["git", "-C", str(code), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"{code.name[-14:]} {found.stdout.strip()}"[:24]


MEASURES = {"pages": pages, "sequential": sequential, "writers": writers}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.throughput", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("measures", nargs="*", help=f"of {', '.join(MEASURES)} (all)")
    parser.add_argument("--code", action="append", type=Path, help="checkout to serve (repeat)")
    parser.add_argument("--rounds", type=int, default=1, help="turns per checkout")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=20, help="page clients")
    parser.add_argument("--writers", type=int, default=200)
    parser.add_argument("--path", default=DEFAULT_SQLITE_PATH, help="feed_bench's SQLite file")
    parser.add_argument(
        "--users", type=int, default=2_000, help="users the feed file was built with"
    )
    args = parser.parse_args(argv)
    args.path = Path(args.path).resolve()
    unknown = set(args.measures) - set(MEASURES)
    if unknown:
        parser.error(f"unknown measures {sorted(unknown)}: choose from {', '.join(MEASURES)}")
    return args


async def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    codes = [path.resolve() for path in args.code or [Path.cwd()]]
    print(f"python -m bench.throughput {' '.join(sys.argv[1:])}")
    print(f"machine: {os.cpu_count()} cores; load average before: {load_average()}")
    for measure in args.measures or list(MEASURES):
        for _ in range(args.rounds):
            for code in codes:
                figure = await MEASURES[measure](code, args)
                print(figure.line(), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
