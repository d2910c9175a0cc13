"""Every ```graphql example of README.md and of docs/*.md runs, in each file's order, against a
server with the demo loaded (SQLite), and answers without errors.

Who runs a block: the person of a `# as EMAIL` comment in it (`# as nobody`: no token);
otherwise whoever the nearest earlier block logged in (`login(email: "...")`) or named with
`# as`. A block that itself calls `login` runs without a token. Subscriptions run over the
websocket (graphql-transport-ws) and must deliver a notification."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import websockets

from crmfeed import demo
from crmfeed.app import Services
from store.migrate import upgrade
from tests.conftest import test_settings as settings_for_tests
from tests.live_helpers import running_server
from tests.mail_server import MailServer
from tests.processes import HttpApi

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```graphql\n(.*?)^```", re.MULTILINE | re.DOTALL)
_AS = re.compile(r"^\s*#\s*as\s+(\S+)\s*$", re.MULTILINE)
_LOGIN = re.compile(r'login\(\s*email:\s*"([^"]+)"')
NOBODY = "nobody"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"


@dataclass(frozen=True)
class Example:
    line: int  # where the block starts in its file
    document: str
    person: str | None  # the email to sign in as; None: no token
    source: str = "README.md"

    @property
    def is_subscription(self) -> bool:
        return re.sub(r"#.*", "", self.document).lstrip().startswith("subscription")

    def __str__(self) -> str:
        return f"{self.source} line {self.line}"


def examples(text: str, source: str = "README.md") -> list[Example]:
    """A file's graphql blocks, each with whom it runs as."""
    found: list[Example] = []
    current: str | None = None
    for block in _BLOCK.finditer(text):
        document = block.group(1)
        line = text.count("\n", 0, block.start()) + 1
        named = _AS.search(document)
        logs_in = _LOGIN.search(document)
        if named is not None:
            current = None if named.group(1) == NOBODY else named.group(1)
        person = None if logs_in and named is None else current
        if logs_in is not None:
            current = logs_in.group(1)
        found.append(Example(line, document, person, source))
    return found


EXAMPLES = [
    example
    for path in DOCUMENTS
    for example in examples(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
]


def test_the_readme_and_the_docs_have_graphql_examples() -> None:
    assert len([e for e in EXAMPLES if e.source == "README.md"]) >= 5
    assert any(e.source.startswith("docs/") for e in EXAMPLES)
    assert any(example.is_subscription for example in EXAMPLES)


def test_the_convention_picks_the_right_person() -> None:
    text = (
        '```graphql\nmutation { login(email: "a@x.example", password: "p") { token } }\n```\n'
        "```graphql\n{ me { name } }\n```\n"
        "```graphql\n# as b@x.example\n{ me { name } }\n```\n"
        "```graphql\n{ me { id } }\n```\n"
        "```graphql\n# as nobody\n{ __typename }\n```\n"
    )
    assert [example.person for example in examples(text)] == [
        None,
        "a@x.example",
        "b@x.example",
        "b@x.example",
        None,
    ]


README_SMTP_PORT = 8025  # the port of the README's `python -m aiosmtpd` example


@dataclass
class DemoServer:
    http: HttpApi
    ws_url: str
    tokens: dict[str, str]

    async def token(self, email: str) -> str:
        if email not in self.tokens:
            login = (
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
            )
            data = await self.http.ok(login, {"e": email, "p": demo.DEMO_PASSWORD})
            self.tokens[email] = data["login"]["token"]
        return self.tokens[email]


@pytest.fixture(scope="module")
async def demo_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DemoServer]:
    path = tmp_path_factory.mktemp("readme") / "crmfeed.db"
    settings = settings_for_tests(f"sqlite+aiosqlite:///{path}").model_copy(
        update={"run_reminders": False, "smtp_allow_private_hosts": True}
    )
    services = Services.create(settings)
    await upgrade(services.engine)
    await demo.load_demo(services.session_factory, settings)
    # The README's mail example binds the local SMTP server it tells the reader to start.
    mail_server = MailServer(port=README_SMTP_PORT)
    mail_server.start()
    try:
        async with running_server(services) as ws_url:
            http = HttpApi(ws_url.replace("ws://", "http://"))
            try:
                yield DemoServer(http, ws_url, {})
            finally:
                await http.aclose()
    finally:
        mail_server.stop()
        await services.engine.dispose()


async def first_notification(url: str, token: str | None, document: str) -> dict[str, Any]:
    """Subscribe over graphql-transport-ws; the first message after the ack."""
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        payload = {"Authorization": f"Bearer {token}"} if token else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": document}}))
        async with asyncio.timeout(10):
            return json.loads(await ws.recv())


async def outcome(server: DemoServer, example: Example) -> str | None:
    """What is wrong with the example's answer, or None."""
    token = await server.token(example.person) if example.person else None
    who = f"as {example.person or 'nobody'}"
    if example.is_subscription:
        try:
            message = await first_notification(server.ws_url, token, example.document)
        except TimeoutError:
            return f"{example} ({who}): no notification within 10 s"
        if message["type"] != "next" or message["payload"].get("errors"):
            return f"{example} ({who}): {message}"
        return None
    body = await server.http.raw(example.document, token=token)
    if body.get("errors") or not body.get("data"):
        return f"{example} ({who}): {body.get('errors') or body}"
    return None


async def test_every_readme_example_runs_on_the_demo(demo_server: DemoServer) -> None:
    """In each file's order (later examples may rely on earlier ones), all reported at once."""
    failures = [failure for example in EXAMPLES if (failure := await outcome(demo_server, example))]
    assert not failures, "Examples that fail on the demo:\n" + "\n".join(failures)
