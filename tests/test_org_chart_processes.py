"""The org chart under two real server processes on one PostgreSQL schema, then checked and
repaired by `crmfeed check --hierarchy` as an operator would.

Needs PostgreSQL on 127.0.0.1:5432; when it is down the test fails with the command that
starts it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text

from tests import conftest
from tests.conftest import POSTGRES_URL
from tests.helpers import PASSWORD, UPDATE_USER
from tests.processes import (
    SECRET_KEY,
    HttpApi,
    fresh_postgres_schema,
    postgres_env,
    server_processes,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.postgres

ROUNDS = 8
REGISTER = """
mutation($input: RegisterEnterpriseInput!) { registerEnterprise(input: $input) { token } }"""
CREATE_USER = """
mutation($input: CreateUserInput!) { createUser(input: $input) { id } }"""
LOGIN = """
mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { token }
}"""
CREATE_RECORD = """
mutation($values: JSON!) { createRecord(objectType: ACCOUNT, values: $values) { id } }"""
RECORDS = "{ records(objectType: ACCOUNT) { totalCount edges { node { id } } } }"


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with fresh_postgres_schema() as name:
        yield name


def check_hierarchy(schema: str, *flags: str) -> subprocess.CompletedProcess[str]:
    """`crmfeed check --hierarchy [flags]` on the test's schema, as a separate process."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CRMFEED_")}
    environment.update(DATABASE_URL=POSTGRES_URL, DATABASE_SCHEMA=schema, SECRET_KEY=SECRET_KEY)
    return subprocess.run(
        [sys.executable, "-m", "crmfeed", "check", "--hierarchy", *flags],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


async def sql(schema: str, statement: str, **parameters: Any) -> None:
    from store.engine import create_engine

    engine = create_engine(conftest.test_settings(POSTGRES_URL), schema=schema)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement), parameters)
    finally:
        await engine.dispose()


async def new_user(api: HttpApi, admin: str, name: str) -> tuple[str, str]:
    """(id, token) of a new salesperson."""
    email = f"{name.lower()}-{os.urandom(4).hex()}@example.com"
    data = await api.ok(
        CREATE_USER, {"input": {"name": name, "email": email, "password": PASSWORD}}, admin
    )
    login = await api.ok(LOGIN, {"email": email, "password": PASSWORD})
    return data["createUser"]["id"], login["login"]["token"]


async def test_opposite_moves_through_two_processes_never_make_a_cycle(
    schema: str, tmp_path: Path
) -> None:
    env = postgres_env(schema, BROADCAST_URL="memory://")
    async with server_processes(tmp_path, {"A": env, "B": env}) as (a, b):
        api_a, api_b = HttpApi(a.http_url), HttpApi(b.http_url)
        try:
            admin = (
                await api_a.ok(
                    REGISTER,
                    {
                        "input": {
                            "enterpriseName": "Race Inc",
                            "adminName": "Ada",
                            "email": f"ada-{schema}@example.com",
                            "password": PASSWORD,
                        }
                    },
                )
            )["registerEnterprise"]["token"]
            for round_ in range(ROUNDS):
                (x, _), (y, _) = [await new_user(api_a, admin, f"P{round_}{n}") for n in "xy"]
                bodies = await asyncio.gather(
                    api_a.raw(UPDATE_USER, {"id": x, "input": {"superiorId": y}}, admin),
                    api_b.raw(UPDATE_USER, {"id": y, "input": {"superiorId": x}}, admin),
                )
                failed = [body["errors"][0] for body in bodies if body.get("errors")]
                assert len(failed) == 1, bodies
                assert failed[0]["extensions"]["code"] in {"CONFLICT", "BAD_USER_INPUT"}
                assert "cycle" in failed[0]["message"]
        finally:
            await api_a.aclose()
            await api_b.aclose()
    checked = check_hierarchy(schema)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Race Inc" in checked.stdout
    assert "All 2 trees match their parent links." in checked.stdout


async def test_a_corrupt_closure_is_found_and_repaired_and_stops_granting_access(
    schema: str, tmp_path: Path
) -> None:
    env = postgres_env(schema, BROADCAST_URL="memory://")
    async with server_processes(tmp_path, {"A": env}) as (a,):
        api = HttpApi(a.http_url)
        try:
            admin = (
                await api.ok(
                    REGISTER,
                    {
                        "input": {
                            "enterpriseName": "Peers Ltd",
                            "adminName": "Ada",
                            "email": f"ada-{schema}@example.com",
                            "password": PASSWORD,
                        }
                    },
                )
            )["registerEnterprise"]["token"]
            (ann, ann_token), (bob, bob_token) = [
                await new_user(api, admin, name) for name in ("Ann", "Bob")
            ]
            ann_record = (
                await api.ok(CREATE_RECORD, {"values": {"name": "Ann's deal"}}, ann_token)
            )["createRecord"]["id"]
            assert (await api.ok(RECORDS, token=bob_token))["records"]["totalCount"] == 0
            assert check_hierarchy(schema).returncode == 0

            # What a lost race leaves behind: Bob above his peer Ann in the closure only.
            await sql(
                schema,
                "INSERT INTO user_closure (enterprise_id, ancestor_id, descendant_id, depth) "
                "SELECT enterprise_id, :bob, id, 1 FROM users WHERE id = :ann",
                bob=int(bob.removeprefix("usr_")),
                ann=int(ann.removeprefix("usr_")),
            )
            leaked = (await api.ok(RECORDS, token=bob_token))["records"]
            assert [edge["node"]["id"] for edge in leaked["edges"]] == [ann_record]

            found = check_hierarchy(schema)
            assert found.returncode == 1
            assert "Peers Ltd" in found.stdout
            assert "reporting lines: closure wrong: 0 missing and 1 extra rows" in found.stdout
            assert "crmfeed check --hierarchy --repair" in found.stderr

            repaired = check_hierarchy(schema, "--repair")
            assert repaired.returncode == 0, repaired.stdout + repaired.stderr
            assert "closure fixed: 0 missing and 1 extra rows" in repaired.stdout
            assert (await api.ok(RECORDS, token=bob_token))["records"]["totalCount"] == 0
            assert check_hierarchy(schema).returncode == 0
        finally:
            await api.aclose()
