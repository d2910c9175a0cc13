"""Sessions end: `logout` revokes its token, `deactivateUser` ends every token of a user (and
`reactivateUser` lets them log in again, with new tokens only), and websockets are closed when
their token expires (4401), is revoked or its user deactivated (4403): in one process, and
across processes through Redis. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from crmfeed.app import Services
from crmfeed.ids import Kind, from_global
from crmfeed.live.sessions import Sessions
from crmfeed.security import issue_token, read_token
from store.models import RevokedToken
from tests.feed_helpers import feed_item, post
from tests.live_helpers import WsClient, closed_with, running_server, subscribed
from tests.processes import (
    HttpApi,
    fresh_postgres_schema,
    postgres_env,
    require_redis,
    server_processes,
)
from tests.records_helpers import LOGIN, PASSWORD, Org, Person, new_org, unique_email

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from crmfeed.settings import Settings
    from tests.conftest import Api

ME = "{ me { id active } }"
LOGOUT = "mutation { logout }"
DEACTIVATE = "mutation($id: ID!) { deactivateUser(id: $id) { id active } }"
REACTIVATE = "mutation($id: ID!) { reactivateUser(id: $id) { id active } }"
CREATE_USER = """
mutation($input: CreateUserInput!) { createUser(input: $input) { id name active } }"""
USERS = "{ users(first: 100) { edges { node { id active } } } }"
SET_ROLES = """
mutation($id: ID!, $roles: [FunctionRole!]!) {
  updateUser(id: $id, input: {roles: $roles}) { id roles }
}"""


@dataclass(frozen=True, slots=True)
class Member:
    """A user of the org with the email and password to log in again."""

    id: str
    email: str
    token: str

    def person(self, name: str = "Member") -> Person:
        return Person(self.id, name, self.token)


async def log_in(api: Any, email: str, password: str = PASSWORD) -> str:
    return (await api.ok(LOGIN, {"email": email, "password": password}))["login"]["token"]


async def member(org: Org, name: str = "Bob", roles: list[str] | None = None) -> Member:
    email = unique_email(name.lower())
    given: dict[str, Any] = {"name": name, "email": email, "password": PASSWORD}
    if roles is not None:
        given["roles"] = roles
    data = await org.api.ok(CREATE_USER, {"input": given}, org.admin.token)
    assert data["createUser"]["active"] is True
    return Member(data["createUser"]["id"], email, await log_in(org.api, email))


def active_by_id(data: dict[str, Any]) -> dict[str, bool]:
    return {edge["node"]["id"]: edge["node"]["active"] for edge in data["users"]["edges"]}


# -- logout ----------------------------------------------------------------------------------------


async def test_logout_revokes_this_token_only(api: Api) -> None:
    org = await new_org(api)
    bob = await member(org)
    other = await log_in(api, bob.email)  # a second session of the same user

    assert (await api.ok(LOGOUT, token=bob.token))["logout"] is True
    error = await api.error(ME, token=bob.token)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "revoked (by a logout" in error["message"]
    error = await api.error(LOGOUT, token=bob.token)  # twice: the token is already void
    assert error["extensions"]["code"] == "UNAUTHENTICATED"

    assert (await api.ok(ME, token=other))["me"] == {"id": bob.id, "active": True}
    assert (await api.ok(ME, token=await log_in(api, bob.email)))["me"]["id"] == bob.id


async def test_logout_needs_a_token(api: Api) -> None:
    error = await api.error(LOGOUT)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_revoked_token_ids_are_pruned_once_their_tokens_expired(
    api: Api, services: Services
) -> None:
    """The revocation table only holds tokens that could still be used."""
    org = await new_org(api)
    bob = await member(org)
    short = dataclasses.replace(
        services, settings=services.settings.model_copy(update={"token_ttl_seconds": 1})
    )
    enterprise = read_token(services.settings, bob.token)
    assert enterprise is not None
    brief = issue_token(short.settings, from_global(Kind.USER, bob.id), enterprise.enterprise_id)
    brief_id = read_token(services.settings, brief)
    assert brief_id is not None
    await api.ok(LOGOUT, token=brief)

    async def revoked(token_id: str) -> int:
        async with services.session_factory() as session:
            query = select(func.count()).where(RevokedToken.jti == token_id)
            return await session.scalar(query) or 0

    assert await revoked(brief_id.token_id) == 1
    await asyncio.sleep(1.2)  # the brief token has expired by now
    await api.ok(LOGOUT, token=bob.token)  # the next logout prunes it
    assert await revoked(brief_id.token_id) == 0
    bob_claims = read_token(services.settings, bob.token)
    assert bob_claims is not None
    assert await revoked(bob_claims.token_id) == 1


# -- deactivation ----------------------------------------------------------------------------------


async def test_a_deactivated_user_is_locked_out_and_their_rows_stay(api: Api) -> None:
    org = await new_org(api)
    bob = await member(org)
    account = await org.record(bob.person("Bob"), "ACCOUNT", "Bob's account")
    item = await post(org, bob.person("Bob"), "Called them", related=[account])

    data = await api.ok(DEACTIVATE, {"id": bob.id}, org.admin.token)
    assert data["deactivateUser"] == {"id": bob.id, "active": False}

    error = await api.error(ME, token=bob.token)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "deactivated" in error["message"]
    error = await api.error(LOGIN, {"email": bob.email, "password": PASSWORD})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "deactivated" in error["message"]
    error = await api.error(LOGIN, {"email": bob.email, "password": "not-the-password"})
    assert error["message"] == "The email or the password is wrong."  # nothing more said

    # Their records and feed items stay; the admin sees them inactive.
    assert await org.can_read(org.admin, account)
    assert (await feed_item(org, org.admin, item["id"])) is not None
    users = active_by_id(await api.ok(USERS, token=org.admin.token))
    assert users == {org.admin.id: True, bob.id: False}

    # Deactivating again changes nothing.
    again = await api.ok(DEACTIVATE, {"id": bob.id}, org.admin.token)
    assert again["deactivateUser"]["active"] is False

    # Reactivated: a new login works, the tokens from before stay void.
    data = await api.ok(REACTIVATE, {"id": bob.id}, org.admin.token)
    assert data["reactivateUser"] == {"id": bob.id, "active": True}
    error = await api.error(ME, token=bob.token)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "revoked" in error["message"]
    assert (await api.ok(ME, token=await log_in(api, bob.email)))["me"]["active"] is True


async def test_only_an_admin_deactivates_and_not_themselves(api: Api) -> None:
    org = await new_org(api)
    bob = await member(org)
    carol = await member(org, "Carol")

    error = await api.error(DEACTIVATE, {"id": carol.id}, bob.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await api.error(REACTIVATE, {"id": carol.id}, bob.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await api.error(DEACTIVATE, {"id": org.admin.id}, org.admin.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}
    assert "yourself" in error["message"]
    error = await api.error(DEACTIVATE, {"id": "usr_999999999"}, org.admin.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = await api.error(DEACTIVATE, {"id": "rec_1"}, org.admin.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"

    # Another enterprise's user is not found, and stays active.
    other = await new_org(api, "Eve")
    error = await api.error(DEACTIVATE, {"id": bob.id}, other.admin.token)
    assert error["extensions"]["code"] == "NOT_FOUND"

    users = active_by_id(await api.ok(USERS, token=org.admin.token))
    assert set(users.values()) == {True}
    assert (await api.ok(ME, token=carol.token))["me"]["active"] is True


async def test_two_admins_deactivating_each_other_at_once_leave_one_active(api: Api) -> None:
    org = await new_org(api)
    second = await member(org, "Second", roles=["CRM_ADMIN"])
    results = await asyncio.gather(
        api.raw(DEACTIVATE, {"id": second.id}, org.admin.token),
        api.raw(DEACTIVATE, {"id": org.admin.id}, second.token),
    )
    succeeded = [body for body in results if not body.get("errors")]
    assert len(succeeded) == 1, results
    refused = next(body for body in results if body.get("errors"))
    assert refused["errors"][0]["extensions"]["code"] in ("CONFLICT", "UNAUTHENTICATED")
    survivor = (
        org.admin.token
        if succeeded[0]["data"]["deactivateUser"]["id"] == second.id
        else (second.token)
    )
    users = active_by_id(await api.ok(USERS, token=survivor))
    assert sorted(users.values()) == [False, True]


async def test_the_last_active_admin_keeps_the_admin_role(api: Api) -> None:
    """A deactivated admin does not count as the enterprise's administrator."""
    org = await new_org(api)
    second = await member(org, "Second", roles=["CRM_ADMIN"])
    await api.ok(DEACTIVATE, {"id": second.id}, org.admin.token)
    error = await api.error(SET_ROLES, {"id": org.admin.id, "roles": ["SALES"]}, org.admin.token)
    assert error["extensions"] == {"code": "CONFLICT", "field": "roles"}
    assert "last active CRM administrator" in error["message"]
    assert (await api.ok(ME, token=org.admin.token))["me"]["active"] is True


# -- websockets in one process ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def live_server(
    settings: Settings, **overrides: Any
) -> AsyncIterator[tuple[str, HttpApi, Services]]:
    """A real server on the module's database: (its ws:// URL, an HTTP client, its services)."""
    services = Services.create(settings.model_copy(update=overrides))
    async with running_server(services) as ws_url:
        api = HttpApi(ws_url.replace("ws://", "http://"))
        try:
            yield ws_url, api, services
        finally:
            await api.aclose()


async def no_socket_watched(services: Services, within: float = 5.0) -> None:
    """Every socket that ended was forgotten (no timer, no entry left behind)."""
    deadline = asyncio.get_running_loop().time() + within
    while services.hub.sessions.count:
        assert asyncio.get_running_loop().time() < deadline, "a closed socket is still watched"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_socket_is_closed_with_4401_when_its_token_expires(
    database: Settings, protocol: str
) -> None:
    async with live_server(database, token_ttl_seconds=3) as (url, api, services):
        org = await new_org(api)  # type: ignore[arg-type]
        async with subscribed(url, org.admin.token, protocol) as client:
            assert await client.nothing_within(0.3)
            code, reason = await closed_with(client, within=10)
        await no_socket_watched(services)
    assert code == 4401
    assert "expired" in reason
    assert "log in again" in reason


async def test_logout_closes_the_sockets_of_that_token_only(database: Settings) -> None:
    async with live_server(database) as (url, api, services):
        org = await new_org(api)  # type: ignore[arg-type]
        bob = await member(org)
        other = await log_in(api, bob.email)
        async with subscribed(url, bob.token) as first, subscribed(url, other) as second:
            await api.ok(LOGOUT, token=bob.token)
            code, reason = await closed_with(first)
            assert code == 4403
            assert "revoked (logged out)" in reason
            assert await second.nothing_within(0.5)  # still open
        await no_socket_watched(services)
        async with WsClient.connect(url, bob.token) as again:
            code, reason = await closed_with(again)
        assert code == 4403
        assert "revoked (by a logout" in reason


async def test_deactivation_closes_every_socket_of_the_user(database: Settings) -> None:
    async with live_server(database) as (url, api, services):
        org = await new_org(api)  # type: ignore[arg-type]
        bob = await member(org)
        other = await log_in(api, bob.email)
        carol = await member(org, "Carol")
        async with (
            subscribed(url, bob.token) as first,
            subscribed(url, other, "graphql-ws") as second,
            subscribed(url, carol.token) as bystander,
        ):
            await api.ok(DEACTIVATE, {"id": bob.id}, org.admin.token)
            for client in (first, second):
                code, reason = await closed_with(client)
                assert code == 4403
                assert "deactivated" in reason
            assert await bystander.nothing_within(0.5)
        await no_socket_watched(services)
        async with WsClient.connect(url, bob.token) as again:
            code, reason = await closed_with(again)
        assert code == 4403
        assert "deactivated" in reason


async def test_a_subscription_of_a_deactivated_user_ends_at_its_next_delivery(
    database: Settings,
) -> None:
    """Should the "sessions ended" message not arrive (here: two servers with separate
    in-memory pipes, as when Redis lost it), the user's subscription still ends, with 4403,
    at the next notification for them: the deliverer reads active users only."""
    async with (
        live_server(database) as (url, api, services),
        live_server(database) as (_, other_api, _),
    ):
        org = await new_org(api)  # type: ignore[arg-type]
        bob = await member(org)
        account = await org.record(bob.person("Bob"), "ACCOUNT", "Bob's account")
        async with subscribed(url, bob.token) as client:
            await other_api.ok(DEACTIVATE, {"id": bob.id}, org.admin.token)
            assert await client.nothing_within(0.5)  # this server was not told
            await post(org, org.admin, "About Bob's account", related=[account], mentions=[bob.id])
            code, reason = await closed_with(client)
        await no_socket_watched(services)
    assert code == 4403
    assert "deactivated" in reason


# -- websockets across processes -------------------------------------------------------------------


@pytest.mark.postgres
async def test_deactivation_and_logout_through_one_process_close_sockets_on_the_other(
    tmp_path: Path,
) -> None:
    await require_redis()
    async with fresh_postgres_schema() as schema:
        env = postgres_env(schema, LIVE_HEARTBEAT_TIMEOUT="30")
        async with server_processes(tmp_path, {"A": env, "B": env}) as (a, b):
            api_a = HttpApi(a.http_url)
            try:
                org = await new_org(api_a)  # type: ignore[arg-type]
                bob = await member(org)
                carol = await member(org, "Carol")
                async with (
                    subscribed(b.ws_url, bob.token) as bob_on_b,
                    subscribed(b.ws_url, carol.token) as carol_on_b,
                ):
                    assert await bob_on_b.nothing_within(0.3)
                    await api_a.ok(DEACTIVATE, {"id": bob.id}, org.admin.token)
                    code, reason = await closed_with(bob_on_b, within=10)
                    assert (code, "deactivated" in reason) == (4403, True)

                    await api_a.ok(LOGOUT, token=carol.token)
                    code, reason = await closed_with(carol_on_b, within=10)
                    assert (code, "revoked" in reason) == (4403, True)
            finally:
                await api_a.aclose()


async def test_one_timer_closes_each_socket_when_its_token_expires() -> None:
    """Sockets are closed with 4401 in the order their tokens expire, by one timer for all of
    them; a socket that ended before is not closed again; ended sockets do not pile up waiting
    for expiries hours away, and once none is open no timer is left."""
    sessions = Sessions()
    closed: list[tuple[str, int]] = []

    def closer(name: str) -> Any:
        async def close(code: int, _reason: str) -> None:
            closed.append((name, code))

        return close

    now = datetime.now(UTC)
    sessions.open(1, "late", now + timedelta(seconds=0.3), closer("late"))
    gone = sessions.open(2, "gone", now + timedelta(seconds=0.1), closer("gone"))
    sessions.open(3, "soon", now + timedelta(seconds=0.05), closer("soon"))
    hours = [
        sessions.open(10 + n, f"h{n}", now + timedelta(hours=1), closer(f"h{n}"))
        for n in range(200)
    ]
    sessions.forget(gone)
    for socket in hours[1:]:
        sessions.forget(socket)
    assert len(sessions._expiries) < 100  # the ended ones were dropped from the heap
    deadline = asyncio.get_running_loop().time() + 10
    while len(closed) < 2:
        assert asyncio.get_running_loop().time() < deadline, f"only {closed} closed"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert closed == [("soon", 4401), ("late", 4401)]
    assert sessions.count == 1
    sessions.forget(hours[0])
    assert sessions.count == 0
    assert sessions._timer is None
    assert not sessions._expiries
