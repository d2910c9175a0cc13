"""Thread hand-offs per write on SQLite, and how many happen inside the write transaction.

Every statement on SQLite is a call on the connection's thread (aiosqlite); one made while the
connection holds SQLite's write lock keeps every other writer of the file waiting for as long
as the event loop takes to come back to it. Counts are the same on a calm and on a loaded
machine, so they show what a change does to the write path where wall times cannot.

Runs replies, likes and createRecord (an account) through the real ASGI app on a copy of the
feed benchmark's SQLite file (`python -m bench.feed_bench --build-only` builds it), one at a
time and `--concurrent` at once, and prints the process's CPU per write (`process_time`: the
client is in the same process; less noisy than wall time on a shared machine):

    python -m bench.write_handoffs
    python -m bench.write_handoffs --path /tmp/other_feed.db --concurrent 40
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite
import httpx

from bench.feed_bench import DEFAULT_SQLITE_PATH, WORK_QUERY, pick_viewers
from bench.records_bench import SEED, Target, build_org
from crmfeed.app import Services, create_app
from crmfeed.security import issue_token

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

REPLY = "mutation($id: ID!, $n: String!) { reply(itemId: $id, content: $n) { id } }"
LIKE = "mutation($id: ID!) { like(itemId: $id) { id } }"
CREATE = """mutation($name: String!) {
  createRecord(objectType: ACCOUNT, values: {name: $name}) { id } }"""
COUNTS: Counter[str] = Counter()


def count_hand_offs() -> None:
    """Count every call aiosqlite hands to a connection's thread, and those made while the
    connection is in a (write) transaction."""
    handed_off = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        COUNTS["all"] += 1
        COUNTS["writing"] += bool(self._conn.in_transaction)
        return await handed_off(self, fn, *args, **kwargs)

    aiosqlite.Connection._execute = counted  # type: ignore[method-assign]


async def run(path: Path, concurrent: int) -> None:
    target = Target("sqlite", f"sqlite+aiosqlite:///{path}", None, path)
    o = build_org(2_000, random.Random(SEED), datetime.now(UTC))
    viewers = pick_viewers(o)
    settings = target.settings()
    services = Services.create(settings)
    await services.hub.start()
    headers = {
        "Authorization": f"Bearer {issue_token(settings, viewers.salesperson, o.enterprise_id)}"
    }
    # The salesperson's roles do not grant Account.create in this enterprise.
    admin = {"Authorization": f"Bearer {issue_token(settings, viewers.admin, o.enterprise_id)}"}
    transport = httpx.ASGITransport(app=create_app(services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def call(query: str, variables: dict[str, Any]) -> None:
                response = await client.post(
                    "/graphql",
                    json={"query": query, "variables": variables},
                    headers=admin if query == CREATE else headers,
                )
                if response.json().get("errors"):
                    raise RuntimeError(response.json()["errors"])

            page = await client.post("/graphql", json={"query": WORK_QUERY}, headers=headers)
            items = [edge["node"]["id"] for edge in page.json()["data"]["feed"]["edges"]][:10]
            kinds: list[tuple[str, str, Callable[[int], dict[str, Any]]]] = [
                ("reply", REPLY, lambda n: {"id": items[n % len(items)], "n": f"reply {n}"}),
                ("like", LIKE, lambda n: {"id": items[n % len(items)]}),
                ("createRecord", CREATE, lambda n: {"name": f"Hand-off account {n}"}),
            ]
            for name, query, variables in kinds:
                COUNTS.clear()
                cpu = time.process_time()
                for n in range(len(items)):
                    await call(query, variables(n))
                report(f"{name}, one at a time", len(items), time.process_time() - cpu)
                COUNTS.clear()
                cpu = time.process_time()
                await asyncio.gather(*(call(query, variables(n)) for n in range(concurrent)))
                report(f"{name}, {concurrent} at once", concurrent, time.process_time() - cpu)
    finally:
        await services.hub.stop()
        await services.engine.dispose()


def report(what: str, writes: int, cpu: float) -> None:
    print(
        f"{what:<26} {COUNTS['all'] / writes:5.1f} hand-offs per write, "
        f"{COUNTS['writing'] / writes:4.1f} inside the write transaction; "
        f"CPU {cpu / writes * 1000:5.2f} ms per write (client included); "
        f"load {' / '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", default=DEFAULT_SQLITE_PATH, help="feed_bench's SQLite file")
    parser.add_argument("--concurrent", type=int, default=40)
    args = parser.parse_args(argv)
    count_hand_offs()
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "handoffs.db"
        shutil.copy(args.path, copy)
        asyncio.run(run(copy, args.concurrent))


if __name__ == "__main__":
    main()
