"""What one idle websocket costs in the libraries crmfeed stands on, without crmfeed.

Serves, in a subprocess, by uvicorn as `crmfeed serve` does (uvloop, httptools, the websocket
options of `crmfeed.runtime.uvicorn_options`: WS_IMPLEMENTATION=websockets-sansio for uvicorn's
own protocol instead of crmfeed's lean one), one of:

* `bare`: an ASGI app that accepts the socket and waits for its next message (uvicorn and the
  websockets library alone);
* `strawberry`: strawberry's GraphQL view on Starlette with a one-field schema whose
  subscription waits forever (graphql-transport-ws: `connection_init`, `subscribe`);
* `extensions`: the same with crmfeed's schema extensions (schema/extensions.py, metrics);

then opens N sockets from this process and prints the server's RSS per socket (after a full
collection), the gc-tracked objects and asyncio tasks per socket, and the load average. The
difference between these and `python -m bench.notifications_bench` is what crmfeed adds.

    python -m bench.socket_floor --app strawberry --sockets 1000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import sys
import time
from collections.abc import AsyncGenerator  # noqa: TC003 (strawberry reads the annotation)
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_app(kind: str) -> Any:
    if kind == "bare":

        async def bare(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                body = json.dumps(stats()).encode()
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": body})
                return
            if scope["type"] != "websocket":
                return
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            message = await receive()
            while message["type"] != "websocket.disconnect":  # an idle socket: drop what comes
                message = await receive()

        return bare

    import strawberry
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from strawberry.asgi import GraphQL

    forever: asyncio.Future[None] | None = None

    @strawberry.type
    class Query:
        ok: bool = True

    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def tick(self) -> AsyncGenerator[int, None]:
            nonlocal forever
            if forever is None:
                forever = asyncio.get_running_loop().create_future()
            yield 0
            await forever

    extensions: list[Any] = []
    if kind == "extensions":
        from crmfeed.metrics import OperationMetrics
        from crmfeed.settings import Settings
        from schema.extensions import extensions as crmfeed_extensions

        extensions = [OperationMetrics, *crmfeed_extensions(Settings())]
    schema = strawberry.Schema(query=Query, subscription=Subscription, extensions=extensions)
    view = GraphQL(schema)

    async def stats_route(_: Any) -> JSONResponse:
        return JSONResponse(stats())

    return Starlette(
        routes=[Route("/stats", stats_route), WebSocketRoute("/graphql", view)],
    )


def stats() -> dict[str, Any]:
    for _ in range(3):
        gc.collect()
    return {
        "rss_kib": rss_kib(os.getpid()),
        "objects": len(gc.get_objects()),
        "tasks": len(asyncio.all_tasks()),
    }


def serve(kind: str, port: int) -> None:
    import uvicorn

    from crmfeed.runtime import uvicorn_options
    from crmfeed.settings import Settings

    options = uvicorn_options(Settings())
    uvicorn.run(build_app(kind), host="127.0.0.1", port=port, log_level="warning", **options)


async def open_sockets(kind: str, url: str, n: int, held: list[Any]) -> None:
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(50)

    async def one() -> None:
        async with gate:
            ws = await connect(url, subprotocols=["graphql-transport-ws"], ping_interval=None)
            if kind != "bare":
                await ws.send(json.dumps({"type": "connection_init"}))
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                subscribe = {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": "subscription { tick }"},
                }
                await ws.send(json.dumps(subscribe))
                assert json.loads(await ws.recv())["type"] == "next"
            held.append(ws)

    await asyncio.gather(*(one() for _ in range(n)))


async def main(args: argparse.Namespace) -> None:
    import httpx

    port = args.port or free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.socket_floor",
        "--serve",
        args.app,
        "--port",
        str(port),
        cwd=REPO_ROOT,
    )
    held: list[Any] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            path = "/" if args.app == "bare" else "/stats"
            deadline = time.monotonic() + 120  # importing the app takes a while under load
            while True:
                try:
                    before = (await http.get(path)).json()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            await open_sockets(args.app, f"ws://127.0.0.1:{port}/graphql", args.sockets, held)
            await asyncio.sleep(2)
            after = (await http.get(path)).json()
        n = args.sockets
        per = (after["rss_kib"] - before["rss_kib"]) / n
        print(
            f"{args.app}: {n:,} idle sockets: server RSS {before['rss_kib'] / 1024:.1f} → "
            f"{after['rss_kib'] / 1024:.1f} MiB = {per:.1f} KiB per socket; gc-tracked objects "
            f"+{(after['objects'] - before['objects']) / n:.0f}, asyncio tasks "
            f"+{(after['tasks'] - before['tasks']) / n:.2f} per socket; load average "
            + " / ".join(f"{v:.2f}" for v in os.getloadavg())
        )
    finally:
        for ws in held:
            await ws.close()
        server.terminate()
        await asyncio.wait_for(server.wait(), 20)


def entry() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", choices=["bare", "strawberry", "extensions"], default="strawberry")
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main(args))


if __name__ == "__main__":
    entry()
