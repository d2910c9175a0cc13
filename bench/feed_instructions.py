"""Instructions per feed page: a measure of the work a page costs that does not move with the load
of a shared machine (wall and CPU times there move by ±40 % between identical runs).

Runs `REQUESTS` first Work pages of one viewer through the real ASGI app on the feed benchmark's
database (`python -m bench.feed_bench --build-only` builds it), twice under valgrind's callgrind:
once with no measured request and once with `REQUESTS`. The difference, divided by `REQUESTS`, is
the instructions of one page: Python, SQLAlchemy, strawberry and, on SQLite, the database engine
(aiosqlite's thread runs in the same process). Both runs start the same way (the same warm-up
requests, `PYTHONHASHSEED=0`), so start-up cancels out. Two runs take 2-4 minutes.

    python -m bench.feed_instructions salesperson            # SQLite, 20 requests
    python -m bench.feed_instructions admin --database postgresql
    python -m bench.feed_instructions manager --profile       # cProfile by package instead

`--profile` runs without valgrind and prints where the CPU time goes, by package.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench.feed_bench import DEFAULT_SCHEMA, DEFAULT_SQLITE_PATH, WORK_QUERY, pick_viewers
from bench.records_bench import POSTGRES_URL, SEED, Target, build_org, console
from crmfeed.app import Services, create_app
from crmfeed.runtime import tune_gc
from crmfeed.security import issue_token

if TYPE_CHECKING:
    from collections.abc import Sequence

WARMUP = 10
VIEWERS = ("manager", "salesperson", "admin")
COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("viewer", choices=VIEWERS)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=20, help="measured requests (20)")
    parser.add_argument("--path", default=DEFAULT_SQLITE_PATH, help="SQLite file (feed_bench's)")
    parser.add_argument("--profile", action="store_true", help="cProfile by package instead")
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)  # one run, under valgrind
    return parser.parse_args(argv)


def target(database: str, sqlite_path: str = DEFAULT_SQLITE_PATH) -> Target:
    if database == "sqlite":
        path = Path(sqlite_path)
        return Target("sqlite", f"sqlite+aiosqlite:///{path}", None, path)
    return Target("postgresql", POSTGRES_URL, DEFAULT_SCHEMA, None)


async def run_pages(args: argparse.Namespace, requests: int) -> None:
    """WARMUP pages, then `requests` more (under cProfile with `--profile`)."""
    bench = target(args.database, args.path)
    if bench.path is not None and not bench.path.exists():
        sys.exit(f"{bench.path} is missing: run `python -m bench.feed_bench --build-only` first")
    o = build_org(2_000, random.Random(SEED), datetime.now(UTC))
    viewers = pick_viewers(o)
    user_id = {"manager": viewers.manager, "salesperson": viewers.salesperson}.get(
        args.viewer, viewers.admin
    )
    settings = bench.settings()
    services = Services.create(settings, schema=bench.schema)
    await services.hub.start()
    tune_gc()
    headers = {"Authorization": f"Bearer {issue_token(settings, user_id, o.enterprise_id)}"}
    transport = httpx.ASGITransport(app=create_app(services))
    profile = cProfile.Profile() if args.profile else None
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def page() -> None:
                response = await client.post(
                    "/graphql", json={"query": WORK_QUERY}, headers=headers
                )
                body = response.json()
                if body.get("errors"):
                    raise RuntimeError(body["errors"])

            for _ in range(WARMUP):
                await page()
            if profile is not None:
                profile.enable()
            for _ in range(requests):
                await page()
            if profile is not None:
                profile.disable()
    finally:
        await services.hub.stop()
        await services.engine.dispose()
    if profile is not None:
        print_by_package(profile, requests)


def print_by_package(profile: cProfile.Profile, requests: int) -> None:
    """Own time per page, summed by package (profiled: about 3x the unprofiled time)."""
    own: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in pstats.Stats(
        profile
    ).stats.items():  # type: ignore[attr-defined]
        if "site-packages/" in filename:
            key = filename.split("site-packages/")[1].split("/")[0]
        elif filename.startswith(str(Path.cwd())):
            key = "crmfeed: " + filename[len(str(Path.cwd())) + 1 :].split("/")[0]
        else:
            key = "stdlib and builtins"
        own[key] += tottime
    total = sum(own.values())
    for key, seconds in sorted(own.items(), key=lambda kv: -kv[1])[:15]:
        console.print(
            f"{seconds / requests * 1000:7.2f} ms/page  {100 * seconds / total:5.1f} %  {key}",
            highlight=False,
        )


def instructions(args: argparse.Namespace, requests: int) -> int:
    """Instructions of one run of this module under callgrind (start-up included)."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={scratch}/callgrind.out",
            sys.executable,
            "-m",
            "bench.feed_instructions",
            args.viewer,
            "--database",
            args.database,
            "--path",
            args.path,
            "--run",
            str(requests),
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    found = COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        sys.exit(f"valgrind run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.run is not None or args.profile:
        asyncio.run(run_pages(args, args.requests if args.run is None else args.run))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    base = instructions(args, 0)
    measured = instructions(args, args.requests)
    per_page = (measured - base) / args.requests
    console.print(
        f"{args.viewer}, {args.database}: {per_page / 1e6:.2f} M instructions per Work page "
        f"({args.requests} pages; start-up and {WARMUP} warm-up pages {base / 1e9:.2f} G)",
        highlight=False,
    )


if __name__ == "__main__":
    main()
