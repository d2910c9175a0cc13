"""GET /metrics (Prometheus text format): who may read it, what it counts; request ids and
JSON logs."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import os
import subprocess
import sys
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from pythonjsonlogger.json import JsonFormatter
from typer.testing import CliRunner

from crmfeed import metrics
from crmfeed.app import Services, create_app
from crmfeed.cli import app as cli_app
from crmfeed.logs import RequestIdFilter
from crmfeed.metrics import MAX_OPERATION_NAMES, operation_label
from crmfeed.metrics import MULTIPROCESS_ENV as MULTIPROC
from tests.feed_helpers import post
from tests.live_helpers import running_server, subscribed
from tests.processes import HttpApi
from tests.records_helpers import new_org

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from crmfeed.settings import Settings
    from tests.conftest import Api

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


@pytest.fixture
async def app_for(services: Services) -> Any:
    """A client of the session's services with other settings, from another address."""

    @asynccontextmanager
    async def make(address: str = "127.0.0.1", **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        changed = dataclasses.replace(
            services, settings=services.settings.model_copy(update=settings)
        )
        transport = httpx.ASGITransport(app=create_app(changed), client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client

    return make


# -- access ----------------------------------------------------------------------------------------


async def test_metrics_answer_loopback_clients_by_default(app_for: Any) -> None:
    async with app_for("127.0.0.1") as client:
        samples = await scrape(client)
    assert any(name.startswith("crmfeed_") for name, _ in samples)


async def test_metrics_refuse_other_addresses_without_a_token(app_for: Any) -> None:
    async with app_for("203.0.113.7") as client:
        response = await client.get("/metrics")
    assert response.status_code == 403
    assert "METRICS_TOKEN" in response.text
    assert "crmfeed_" not in response.text


async def test_with_a_token_metrics_need_it_from_every_address(app_for: Any) -> None:
    token = "metrics-token-0123456789"
    async with app_for("127.0.0.1", metrics_token=token) as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"authorization": "Bearer nope"})
    async with app_for("203.0.113.7", metrics_token=token) as client:
        samples = await scrape(client, authorization=f"Bearer {token}")
    assert missing.status_code == wrong.status_code == 401
    assert "METRICS_TOKEN" in missing.text
    assert samples


# -- what is counted -------------------------------------------------------------------------------

ME = "query MetricsProbe { me { id name } }"


async def test_operations_are_counted_and_timed_by_name_with_their_sql_statements(
    api: Api,
) -> None:
    org = await new_org(api)  # type: ignore[arg-type]
    before = await scrape(api.client)
    log = api.count_statements()
    log.active = True
    try:
        await api.ok(ME, token=org.admin.token)
        await api.ok(ME, token=org.admin.token)
    finally:
        log.active = False
    statements = len(log.statements)
    after = await scrape(api.client)
    labels = {"operation": "MetricsProbe", "type": "query"}
    assert (
        value(after, "crmfeed_graphql_operations_total", **labels)
        - value(before, "crmfeed_graphql_operations_total", **labels)
        == 2
    )
    assert (
        value(after, "crmfeed_graphql_operation_seconds_count", **labels)
        - value(before, "crmfeed_graphql_operation_seconds_count", **labels)
        == 2
    )
    name = "crmfeed_sql_statements_per_operation_sum"
    assert statements > 0
    assert value(after, name, type="query") - value(before, name, type="query") == statements


async def test_errors_are_counted_by_code(api: Api) -> None:
    before = await scrape(api.client)
    error = await api.error(ME)  # no token
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    bad = await api.raw("{ nope }")
    assert bad["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    after = await scrape(api.client)
    for code in ("UNAUTHENTICATED", "BAD_REQUEST"):
        name = "crmfeed_graphql_errors_total"
        assert value(after, name, code=code) - value(before, name, code=code) == 1


async def test_client_chosen_operation_names_cannot_multiply_the_series(api: Api) -> None:
    await api.raw("query Weird_but_valid { __typename }")
    samples = await scrape(api.client)
    assert (
        value(
            samples, "crmfeed_graphql_operations_total", operation="Weird_but_valid", type="query"
        )
        >= 1
    )
    assert operation_label(None) == "anonymous"
    assert operation_label("x" * 65) == "other"
    saved = set(metrics._names)
    try:
        for n in range(MAX_OPERATION_NAMES + 5):
            operation_label(f"Generated{n}")
        assert operation_label("OneMoreName") == "other"
    finally:
        metrics._names.clear()
        metrics._names.update(saved)


REMINDER = """
mutation($id: ID!, $at: DateTime!) { addRecordReminder(recordId: $id, remindAt: $at) { id } }"""


async def test_the_reminder_backlog_is_read_from_the_database(api: Api) -> None:
    """The session's services run no reminder runner: a due reminder stays in the backlog."""
    org = await new_org(api)  # type: ignore[arg-type]
    account = await org.record(org.admin, "ACCOUNT", "Backlog Inc.")
    before = await scrape(api.client)
    at = datetime.now(UTC) + timedelta(seconds=1)
    await api.ok(REMINDER, {"id": account, "at": at.isoformat()}, org.admin.token)
    scheduled = await scrape(api.client)
    await asyncio.sleep(1.2)
    due = await scrape(api.client)
    assert (
        value(scheduled, "crmfeed_reminders_scheduled")
        - value(before, "crmfeed_reminders_scheduled")
        == 1
    )
    assert value(due, "crmfeed_reminders_due") - value(before, "crmfeed_reminders_due") == 1


async def test_open_subscriptions_and_the_delivery_lag(database: Settings) -> None:
    services = Services.create(database)
    async with running_server(services) as ws_url:
        http = HttpApi(ws_url.replace("ws://", "http://"))
        metrics_url = http.url.removesuffix("/graphql") + "/metrics"
        try:
            org = await new_org(http)  # type: ignore[arg-type]
            bob = await org.user("Bob")
            account = await org.record(org.admin, "ACCOUNT", "Lag Ltd.")
            before = parse((await http.client.get(metrics_url)).text)
            async with subscribed(ws_url, bob.token) as client:
                await asyncio.sleep(0.2)
                during = parse((await http.client.get(metrics_url)).text)
                await post(org, org.admin, account=account, mentions=[bob.id])
                pushed = await client.next_notification(5)
                assert pushed["kind"] == "MENTION"
            await asyncio.sleep(0.2)
            after = parse((await http.client.get(metrics_url)).text)
        finally:
            await http.aclose()
    opened = "crmfeed_live_subscriptions"
    assert value(during, opened) - value(before, opened) == 1
    assert value(after, opened) == value(before, opened)
    lag = "crmfeed_notification_delivery_lag_seconds_count"
    assert value(after, lag) - value(before, lag) == 1
    assert (
        value(after, "crmfeed_notification_delivery_lag_seconds_sum")
        - value(before, "crmfeed_notification_delivery_lag_seconds_sum")
        < 5
    )


# -- request ids and logs --------------------------------------------------------------------------


async def test_a_request_id_is_echoed_or_made(api: Api) -> None:
    given = await api.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"x-request-id": "abc-123.x"}
    )
    made = await api.client.post("/graphql", json={"query": "{ __typename }"})
    refused = await api.client.get("/healthz", headers={"x-request-id": "no spaces <allowed>"})
    assert given.headers["x-request-id"] == "abc-123.x"
    assert len(made.headers["x-request-id"]) == 32
    assert refused.headers["x-request-id"] != "no spaces <allowed>"
    assert len(refused.headers["x-request-id"]) == 32


async def test_each_operation_logs_a_json_line_with_its_request_id(api: Api) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s %(request_id)s"))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("crmfeed.requests")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        response = await api.client.post(
            "/graphql",
            json={"query": "query LoggedOne { __typename }"},
            headers={"x-request-id": "req-42"},
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert response.status_code == 200
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["request_id"] == "req-42"
    assert line["operation"] == "LoggedOne"
    assert line["operation_type"] == "query"
    assert line["sql_statements"] == 0
    assert line["error_codes"] == []


def test_log_format_json_makes_every_logger_write_json_lines() -> None:
    script = (
        "import logging\n"
        "from crmfeed.logs import configure, request_id\n"
        "from crmfeed.settings import Settings\n"
        "configure(Settings(log_format='json'))\n"
        "request_id.set('rid-7')\n"
        "logging.getLogger('uvicorn.access').info('GET /graphql 200')\n"
        "logging.getLogger('crmfeed.live').warning('broker down')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [json.loads(text) for text in done.stderr.splitlines()]
    assert [(line["logger"], line["level"], line["message"]) for line in lines] == [
        ("uvicorn.access", "INFO", "GET /graphql 200"),
        ("crmfeed.live", "WARNING", "broker down"),
    ]
    assert all(line["request_id"] == "rid-7" and "time" in line for line in lines)


def test_several_processes_add_up_in_multiprocess_mode(tmp_path: Any) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, each process writes its figures there and /metrics
    answers their sum."""
    count = (
        "from crmfeed import metrics\n"
        "metrics.REQUESTS.labels('Shared', 'query').inc()\n"
        "metrics.SUBSCRIPTIONS.inc()\n"
    )
    read = "from crmfeed.metrics import exposition\nprint(exposition().decode())\n"
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True, timeout=60)
    shown = subprocess.run(
        [sys.executable, "-c", read],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout
    samples = parse(shown)
    assert value(samples, "crmfeed_graphql_operations_total", operation="Shared", type="query") == 2


def test_serve_with_several_workers_gives_them_a_metrics_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str | None] = []
    monkeypatch.setattr(uvicorn, "run", lambda *_, **__: seen.append(os.environ.get(MULTIPROC)))
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}",
        "SECRET_KEY": "metrics-test-secret-key-0123456789abcdef",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "64",
        MULTIPROC: "",
    }
    for workers in ("1", "2"):
        result = CliRunner().invoke(cli_app, ["serve", "--no-demo", "--workers", workers], env=env)
        assert result.exit_code == 0, result.output
    one, several = seen
    assert not one
    assert several is not None and Path(several).is_dir()
    assert list(Path(several).iterdir()) == []
    Path(several).rmdir()


def test_crmfeed_check_hides_the_metrics_token(tmp_path: Path) -> None:
    token = "do-not-print-this-token-0123456789"
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}",
        "SECRET_KEY": "metrics-test-secret-key-0123456789abcdef",
        "METRICS_TOKEN": token,
    }
    result = CliRunner().invoke(cli_app, ["check"], env=env)
    assert "METRICS_TOKEN" in result.output
    assert token not in result.output
    assert f"set ({len(token)} characters, hidden)" in result.output
