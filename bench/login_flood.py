"""A flood of wrong logins from many addresses, and what it does to everyone else.

    python -m bench.login_flood --serve sqlite --logins 100

Starts a server (as bench/load.py does, with the production argon2 cost: 64 MiB, 3 passes),
registers an enterprise, then sends `--logins` wrong-password logins at once, each from its own
loopback address (127.0.0.2, 127.0.0.3, ...: the per-address throttle sees distinct clients),
half for the known administrator, half for unknown emails. Meanwhile a signed-in client asks
`{ me }` in a loop. Prints the `{ me }` latency before and during the flood, the server's
resident memory before, at its peak and after, how long the flood took, and the answers'
codes (UNAUTHENTICATED for a wrong password or unknown email alike, TOO_MANY_ATTEMPTS once an
account is throttled).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

from bench.load import PASSWORD, REGISTER, percentile, served

ME = "{ me { id } }"
LOGIN = """mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { token } }"""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def me_latencies(
    client: httpx.AsyncClient, url: str, token: str, stop: asyncio.Event
) -> list[float]:
    took: list[float] = []
    while not stop.is_set():
        started = time.perf_counter()
        response = await client.post(
            url, json={"query": ME}, headers={"Authorization": f"Bearer {token}"}
        )
        if response.json().get("errors"):
            raise RuntimeError(response.text)
        took.append(time.perf_counter() - started)
        await asyncio.sleep(0.05)
    return took


def client_from(n: int) -> httpx.AsyncClient:
    """A client whose connections come from loopback address number `n` (127.0.1.2, ...)."""
    address = f"127.0.{1 + n // 250}.{2 + n % 250}"
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=address), timeout=300)


async def bad_login(client: httpx.AsyncClient, url: str, email: str) -> str:
    variables = {"email": email, "password": "wrong-guess-000"}
    body = (await client.post(url, json={"query": LOGIN, "variables": variables})).json()
    errors = body.get("errors") or [{}]
    return (errors[0].get("extensions") or {}).get("code", "ok?")


async def run(url: str, pid: int, logins: int) -> None:
    async with httpx.AsyncClient(timeout=300) as client:
        tag = uuid.uuid4().hex[:8]
        email = f"admin-{tag}@flood.example"
        data = (
            await client.post(
                url,
                json={
                    "query": REGISTER,
                    "variables": {
                        "input": {
                            "enterpriseName": "Flood",
                            "adminName": "Ada",
                            "email": email,
                            "password": PASSWORD,
                        }
                    },
                },
            )
        ).json()["data"]
        token = data["registerEnterprise"]["token"]
        stop = asyncio.Event()
        calm = asyncio.create_task(me_latencies(client, url, token, stop))
        await asyncio.sleep(2)
        stop.set()
        before = await calm
        rss_before = rss_mib(pid)

        # Made before the flood: building a client (its SSL context) blocks this process's
        # loop for a while, which would be counted against the server's `{ me }`.
        flooders = [client_from(n) for n in range(logins)]
        stop = asyncio.Event()
        busy = asyncio.create_task(me_latencies(client, url, token, stop))
        peak = rss_before

        async def watch_memory() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss_mib(pid))
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch_memory())
        started = time.perf_counter()
        codes = await asyncio.gather(
            *(
                bad_login(flooder, url, email if n % 2 else f"nobody-{n}-{tag}@flood.example")
                for n, flooder in enumerate(flooders)
            )
        )
        flood = time.perf_counter() - started
        for flooder in flooders:
            await flooder.aclose()
        stop.set()
        during = await busy
        await watcher
        await asyncio.sleep(1)
        answers = dict(Counter(codes))
        print(f"{logins} wrong logins from {logins} addresses took {flood:.1f} s: {answers}")
        for label, values in (("before", before), ("during", during)):
            p50, p99 = (percentile(values, share) * 1000 for share in (0.5, 0.99))
            most = max(values) * 1000
            print(f"{{ me }} {label} the flood: {len(values)} requests, ", end="")
            print(f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {most:.1f} ms")
        after = rss_mib(pid)
        print(f"server memory: {rss_before:.0f} MiB before, {peak:.0f} at most, {after:.0f} after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--logins", type=int, default=100)
    args = parser.parse_args()
    with served(args.serve) as server:
        asyncio.run(run(server.url, server.pid, args.logins))


if __name__ == "__main__":
    main()
