"""SECRET_KEY: the public development key is refused wherever others could reach the server
(`crmfeed serve` off loopback, with several workers, on PostgreSQL; the app factory on
PostgreSQL), and a key rotation keeps tokens signed with SECRET_KEY_PREVIOUS working until
their own expiry while the previous key is configured."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import jwt
import pytest
import uvicorn
from typer.testing import CliRunner

from crmfeed.app import Services, create_app
from crmfeed.cli import app as cli_app
from crmfeed.security import ALGORITHM
from crmfeed.settings import DEV_SECRET_KEY, KEY_COMMAND
from tests.conftest import POSTGRES_URL, Api
from tests.helpers import create_user, login, register
from tests.live_helpers import free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

ME = "{ me { id } }"
OLD_KEY = "the-old-secret-key-of-this-deployment-0123456789"
NEW_KEY = "the-new-secret-key-of-this-deployment-9876543210"


# -- crmfeed serve ---------------------------------------------------------------------------------


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    return calls


def serve(tmp_path: Path, *args: str, **env: str) -> Any:
    given = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}",
        "SECRET_KEY": DEV_SECRET_KEY,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "64",
        **env,
    }
    return CliRunner().invoke(cli_app, ["serve", "--no-demo", *args], env=given)


def one_line(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize(
    ("args", "env", "why"),
    [
        (["--host", "0.0.0.0"], {}, "listens on 0.0.0.0, not a loopback address"),
        (["--host", "::"], {}, "listens on ::"),
        (["--host", "crm.example.com"], {}, "listens on crm.example.com"),
        (["--workers", "2"], {}, "runs 2 worker processes"),
        ([], {"DATABASE_URL": POSTGRES_URL}, "DATABASE_URL is not SQLite"),
    ],
)
def test_serve_refuses_the_development_key_where_others_could_reach_it(
    tmp_path: Path,
    uvicorn_calls: list[dict[str, Any]],
    args: list[str],
    env: dict[str, str],
    why: str,
) -> None:
    result = serve(tmp_path, *args, **env)
    output = one_line(result.output)
    assert result.exit_code == 2, output
    assert "Refusing to start: SECRET_KEY is the public development key" in output
    assert why in output
    assert f"export SECRET_KEY=$({KEY_COMMAND})" in output
    assert uvicorn_calls == []
    assert not (tmp_path / "crm.db").exists()  # refused before touching the database


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_serve_keeps_the_development_key_on_loopback_with_its_warning(
    tmp_path: Path, uvicorn_calls: list[dict[str, Any]], host: str
) -> None:
    result = serve(tmp_path, "--host", host)
    assert result.exit_code == 0, result.output
    assert "Warning: SECRET_KEY is the development default" in one_line(result.output)
    assert [call["host"] for call in uvicorn_calls] == [host]


def test_serve_with_a_real_key_listens_anywhere_with_workers(
    tmp_path: Path, uvicorn_calls: list[dict[str, Any]]
) -> None:
    result = serve(tmp_path, "--host", "0.0.0.0", "--workers", "2", SECRET_KEY=NEW_KEY)
    assert result.exit_code == 0, result.output
    assert "SECRET_KEY" not in result.output
    assert [(call["host"], call["workers"]) for call in uvicorn_calls] == [("0.0.0.0", 2)]


def test_the_development_key_as_a_previous_key_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app,
        ["check"],
        env={
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}",
            "SECRET_KEY": NEW_KEY,
            "SECRET_KEY_PREVIOUS": f"{OLD_KEY},{DEV_SECRET_KEY}",
        },
    )
    assert result.exit_code == 2
    assert "SECRET_KEY_PREVIOUS holds the development key" in one_line(result.output)


def test_check_hides_the_previous_keys(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app,
        ["check"],
        env={
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}",
            "SECRET_KEY": NEW_KEY,
            "SECRET_KEY_PREVIOUS": f"{OLD_KEY}, another-old-key-0123456789abcdefghijkl",
        },
    )
    assert result.exit_code == 0, result.output
    assert OLD_KEY not in result.output
    assert "2 keys (hidden)" in result.output


# -- the app factory -------------------------------------------------------------------------------


@pytest.mark.postgres
def test_the_app_factory_refuses_the_development_key_on_postgresql(tmp_path: Path) -> None:
    """`uvicorn crmfeed.app:create_app --factory`, as the README shows it, exits at start."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SECRET_KEY", "SECRET_KEY_PREVIOUS")
    }
    env.update(DATABASE_URL=POSTGRES_URL, RUN_REMINDERS="false")
    command = ["uvicorn", "crmfeed.app:create_app", "--factory", "--port", str(free_port())]
    server = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=tmp_path,  # no .env file
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert server.returncode != 0
    assert "InsecureSecretKey" in server.stderr
    assert "SECRET_KEY is the public development key" in server.stderr
    assert "DATABASE_URL is not SQLite" in server.stderr


# -- key rotation ----------------------------------------------------------------------------------


@pytest.fixture
async def with_keys(services: Services) -> AsyncIterator[Any]:
    """`open_api(secret_key, previous)`: the API on the test database with other keys."""
    clients: list[httpx.AsyncClient] = []

    async def open_api(secret_key: str, previous: str = "") -> Api:
        settings = services.settings.model_copy(
            update={"secret_key": secret_key, "secret_key_previous": previous}
        )
        shared = dataclasses.replace(services, settings=settings)
        transport = httpx.ASGITransport(app=create_app(shared))
        client = httpx.AsyncClient(transport=transport, base_url="http://test")
        clients.append(client)
        return Api(client, services)

    yield open_api
    for client in clients:
        await client.aclose()


async def test_a_key_rotation_keeps_old_tokens_until_their_expiry(with_keys: Any) -> None:
    before = await with_keys(OLD_KEY)
    admin_token, admin_id = await register(before)
    email = f"rot-{admin_id}@example.com"
    await create_user(before, admin_token, email=email)
    old_token = await login(before, email)
    claims = jwt.decode(old_token, OLD_KEY, algorithms=[ALGORITHM])

    # Rotated: the old key still verifies, the new one signs.
    during = await with_keys(NEW_KEY, OLD_KEY)
    assert (await during.ok(ME, token=old_token))["me"]["id"]
    new_token = await login(during, email)
    jwt.decode(new_token, NEW_KEY, algorithms=[ALGORITHM])  # signed with the new key
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(new_token, OLD_KEY, algorithms=[ALGORITHM])
    assert (await during.ok(ME, token=new_token))["me"]["id"]

    # An old-key token past its own expiry is refused like any expired token.
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = jwt.encode({**claims, "exp": past}, OLD_KEY, algorithm=ALGORITHM)
    error = await during.error(ME, token=expired)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"

    # Grace period over: the previous key is removed, its tokens stop working.
    after = await with_keys(NEW_KEY)
    error = await after.error(ME, token=old_token)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "log in again" in error["message"]
    assert (await after.ok(ME, token=new_token))["me"]["id"]

    # A token signed with a key that is neither current nor previous never worked.
    forged = jwt.encode(claims, "a-key-nobody-configured-0123456789abcdef", algorithm=ALGORITHM)
    error = await during.error(ME, token=forged)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
