"""The `crmfeed` command: help texts, migrate, demo, check, create-enterprise and serve."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner
from uvicorn.importer import import_from_string

from crmfeed import cli, demo
from crmfeed.cli import app, mask_url, public_url, should_load_demo
from crmfeed.live.websocket import LeanWebSocketProtocol
from crmfeed.settings import DEV_SECRET_KEY

if TYPE_CHECKING:
    from pathlib import Path

SECRET = "cli-test-secret-key-0123456789abcdefghij"
COMMANDS = ("serve", "migrate", "demo", "check", "create-enterprise")


def env_for(database: Path | str, **extra: str) -> dict[str, str]:
    """Settings for a CLI run: its own database, fast password hashing, a real secret."""
    url = database if isinstance(database, str) else f"sqlite+aiosqlite:///{database}"
    return {
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "64",
        **extra,
    }


def run(*args: str, env: dict[str, str]) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


# -- pure helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("is_sqlite", "has_data", "flag", "expected"),
    [
        (True, False, None, True),  # the bare start: empty embedded database gets the demo
        (False, False, None, False),  # an empty PostgreSQL database does not, unless asked
        (False, False, True, True),
        (True, False, False, False),  # --no-demo
        (True, True, None, False),  # a database with data never gets it
        (True, True, True, False),
        (False, True, True, False),
    ],
)
def test_should_load_demo(is_sqlite: bool, has_data: bool, flag: bool | None, expected: bool):
    assert should_load_demo(is_sqlite=is_sqlite, has_data=has_data, flag=flag) is expected


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url("postgresql+asyncpg://crm:s3cret@db.local:5433/crm") == (
        "postgresql+asyncpg://crm:***@db.local:5433/crm"
    )
    assert mask_url("redis://:pw@127.0.0.1:6379") == "redis://:***@127.0.0.1:6379"
    assert mask_url("sqlite+aiosqlite:///./crmfeed.db") == "sqlite+aiosqlite:///./crmfeed.db"


def test_public_url_points_a_browser_at_graphiql() -> None:
    assert public_url("127.0.0.1", 8000) == "http://127.0.0.1:8000/graphql"
    assert public_url("0.0.0.0", 9000) == "http://127.0.0.1:9000/graphql"
    assert public_url("::1", 80) == "http://[::1]:80/graphql"


def test_the_app_factory_that_serve_hands_to_uvicorn_is_importable() -> None:
    assert callable(import_from_string(cli.APP_FACTORY))


# -- help texts ------------------------------------------------------------------------------------


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run("--help", env=env_for(tmp_path / "x.db"))
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output
    assert "DATABASE_URL" in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_explains_itself(command: str, tmp_path: Path) -> None:
    result = run(command, "--help", env=env_for(tmp_path / "x.db"))
    assert result.exit_code == 0, result.output
    assert f"Usage: crmfeed {command}" in " ".join(result.output.split())
    assert len(result.output.splitlines()) > 4


def test_serve_help_documents_the_demo_switch(tmp_path: Path) -> None:
    output = " ".join(run("serve", "--help", env=env_for(tmp_path / "x.db")).output.split())
    for option in ("--host", "--port", "--demo / --no-demo", "--workers", "--reload"):
        assert option in output
    assert "127.0.0.1" in output and "8000" in output


def test_python_dash_m_runs_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crmfeed", "--help"], capture_output=True, text=True, check=True
    )
    assert "serve" in result.stdout


# -- migrate, demo, check, create-enterprise -------------------------------------------------------


def test_migrate_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    first = run("migrate", env=env_for(path))
    assert first.exit_code == 0, first.output
    assert "Migrated" in first.output
    assert cli.head_revision() in first.output
    assert {"alembic_version", "enterprises", "users", "records", "record_team"} <= tables(path)

    again = run("migrate", env=env_for(path))
    assert again.exit_code == 0
    assert "already at revision" in again.output


def test_demo_loads_once_then_refuses(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    first = run("demo", env=env_for(path))
    assert first.exit_code == 0, first.output
    for someone in demo.PEOPLE:
        assert someone.email in first.output
    assert demo.DEMO_PASSWORD in first.output
    with sqlite3.connect(path) as connection:
        (count,) = connection.execute("SELECT count(*) FROM records").fetchone()
    assert count >= 300

    second = run("demo", env=env_for(path))
    assert second.exit_code == 1
    assert "already has data" in second.output
    assert "Nothing was changed" in second.output
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM records").fetchone() == (count,)


def test_check_shows_settings_with_the_secret_hidden(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    run("migrate", env=env_for(path))
    result = run("check", env=env_for(path, MAX_PAGE_SIZE="50"))
    assert result.exit_code == 0, result.output
    output = result.output
    assert SECRET not in output
    assert "hidden" in output
    for variable in ("DATABASE_URL", "BROADCAST_URL", "SECRET_KEY", "MAX_PAGE_SIZE"):
        assert variable in output
    assert "reachable" in output
    assert "newest" in output


def test_check_warns_about_the_development_secret(tmp_path: Path) -> None:
    result = run("check", env=env_for(tmp_path / "crm.db", SECRET_KEY=DEV_SECRET_KEY))
    assert result.exit_code == 0
    assert "SECRET_KEY is the development default" in " ".join(result.output.split())
    assert "crmfeed migrate" in result.output  # the new file has no schema yet


def test_check_fails_when_the_database_does_not_answer() -> None:
    url = f"postgresql+asyncpg://crm:pw-not-shown@127.0.0.1:{free_port()}/crm"
    result = run("check", env=env_for(url))
    assert result.exit_code == 1
    assert "did not answer" in result.output
    assert "pw-not-shown" not in result.output


def test_create_enterprise_registers_an_admin_once(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    args = ("create-enterprise", "--name", "Acme", "--admin-name", "Ada", "--email", "a@acme.io")
    created = run(*args, "--password", "long-enough-123", env=env_for(path))
    assert created.exit_code == 0, created.output
    assert "Acme" in created.output
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT name, email FROM users").fetchall() == [
            ("Ada", "a@acme.io")
        ]

    duplicate = run(*args, env=env_for(path, CRMFEED_ADMIN_PASSWORD="long-enough-123"))
    assert duplicate.exit_code == 1
    assert "already exists" in duplicate.output

    short = run(*args, "--password", "short", env=env_for(path))
    assert short.exit_code == 1
    assert "at least 8 characters" in short.output

    weak = run(*args, "--password", "password123", env=env_for(path))
    assert weak.exit_code == 1
    assert "too easy to guess" in weak.output


# -- serve -----------------------------------------------------------------------------------------


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append((a, kw)))
    return calls


def test_serve_migrates_loads_the_demo_and_starts_uvicorn(
    tmp_path: Path, uvicorn_calls: list[tuple[tuple[Any, ...], dict[str, Any]]]
) -> None:
    path = tmp_path / "crm.db"
    result = run("serve", "--port", "8123", env=env_for(path))
    assert result.exit_code == 0, result.output
    assert "Loaded the demo" in result.output
    said = " ".join(result.output.split())
    assert "Waiting for Liam Carter's confirmation: SO-" in said
    assert "A lead Ava Thompson may convert (CONVERT): Hugo Green (Riverside Textiles)." in said
    assert demo.person("east1").email in result.output
    assert demo.DEMO_PASSWORD in result.output
    assert "http://127.0.0.1:8123/graphql" in result.output
    assert uvicorn_calls == [
        (
            (cli.APP_FACTORY,),
            {
                "factory": True,
                "host": "127.0.0.1",
                "port": 8123,
                "workers": None,
                "reload": False,
                "log_level": "info",
                # Lean websockets: uvicorn's sansio protocol without its handshake and queue
                # (crmfeed/live/websocket.py), no compression state, messages as large as bodies.
                "ws": LeanWebSocketProtocol,
                "ws_max_size": 1024 * 1024,
                "ws_per_message_deflate": False,
                "ws_ping_interval": 20.0,
                "ws_ping_timeout": 20.0,
            },
        )
    ]

    again = run("serve", env=env_for(path))
    assert again.exit_code == 0
    assert "Loaded the demo" not in again.output
    assert "already loaded" in again.output  # the logins are shown again
    assert demo.person("east1").email in again.output


def test_serve_without_demo_leaves_the_database_empty(
    tmp_path: Path, uvicorn_calls: list[tuple[tuple[Any, ...], dict[str, Any]]]
) -> None:
    path = tmp_path / "crm.db"
    result = run("serve", "--no-demo", env=env_for(path))
    assert result.exit_code == 0, result.output
    assert "registerEnterprise" in result.output
    assert "records" in tables(path)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM enterprises").fetchone() == (0,)
    assert len(uvicorn_calls) == 1


def test_serve_shows_the_insecure_secret_warning(
    tmp_path: Path, uvicorn_calls: list[tuple[tuple[Any, ...], dict[str, Any]]]
) -> None:
    result = run("serve", "--no-demo", env=env_for(tmp_path / "crm.db", SECRET_KEY=DEV_SECRET_KEY))
    assert result.exit_code == 0
    assert "Warning: SECRET_KEY is the development default" in " ".join(result.output.split())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_for_real_answers_health_and_a_demo_login(tmp_path: Path) -> None:
    """The README's quick start: `crmfeed serve` on an empty SQLite file, then log in."""
    port = free_port()
    env = {**os.environ, **env_for(tmp_path / "crm.db")}
    server = subprocess.Popen(
        [sys.executable, "-m", "crmfeed", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"serve exited early:\n{server.stdout.read() if server.stdout else ''}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("serve did not answer /healthz within 60 s")
            time.sleep(0.2)
        someone = demo.person("east")
        response = httpx.post(
            f"{base}/graphql",
            json={
                "query": "mutation($e: String!, $p: String!) "
                "{ login(email: $e, password: $p) { token user { name } } }",
                "variables": {"e": someone.email, "p": demo.DEMO_PASSWORD},
            },
            timeout=10,
        )
        assert response.json()["data"]["login"]["user"]["name"] == someone.name
        graphiql = httpx.get(f"{base}/graphql", headers={"accept": "text/html"}, timeout=10)
        assert graphiql.status_code == 200
        assert "graphiql" in graphiql.text.lower()
    finally:
        server.terminate()
        try:
            output, _ = server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert f"GraphiQL: {base}/graphql" in output
    assert someone.email in output
