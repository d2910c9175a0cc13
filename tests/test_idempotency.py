"""Retries without duplicates: mutations sent with an `Idempotency-Key` header run once per
user and key; a retry gets the first answer again and writes nothing (crmfeed/idempotency.py).

The tests go through the HTTP API. Two of them also touch the `idempotency_keys` table
directly: one clears a stored answer to stand for a server killed between the mutation's commit
and storing its answer, one ages rows to stand for the passing of IDEMPOTENCY_TTL_SECONDS.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import func, select, update

from crmfeed.app import create_app
from crmfeed.throttle import LoginThrottle
from store.engine import create_engine
from store.models import IdempotencyKey
from store.types import utcnow
from tests import conftest
from tests.conftest import POSTGRES_URL, Api, unique_email
from tests.feed_helpers import POST, feed_item, feed_total, new_org, post
from tests.processes import (
    HttpApi,
    ServerProcess,
    fresh_postgres_schema,
    postgres_env,
    require_redis,
    server_processes,
)
from tests.records_helpers import CREATE_RECORD, LOGIN, PASSWORD, REGISTER, Person

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

    from crmfeed.app import Services

CREATE = """
mutation($type: ObjectType!, $values: JSON!) {
  createRecord(objectType: $type, values: $values) { id name owner { id name } }
}"""
REPLY = """
mutation($id: ID!, $content: String!) {
  reply(itemId: $id, content: $content) { id content author { id } }
}"""
TWO_RECORDS = """
mutation($values: JSON!, $bad: JSON!) {
  first: createRecord(objectType: ACCOUNT, values: $values) { id }
  second: createRecord(objectType: ACCOUNT, values: $bad) { id }
}"""
ME = "query { me { id } }"


def new_key() -> str:
    return f"retry-{uuid.uuid4()}"


async def send(
    api: Api,
    query: str,
    variables: dict[str, Any] | None,
    who: Person | None,
    key: str | bytes | None,
    *,
    extra_headers: list[tuple[str, str | bytes]] | None = None,
) -> httpx.Response:
    headers: list[tuple[str, str | bytes]] = []
    if who is not None:
        headers.append(("Authorization", f"Bearer {who.token}"))
    if key is not None:
        headers.append(("Idempotency-Key", key))
    headers.extend(extra_headers or [])
    return await api.client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


def account(name: str) -> dict[str, Any]:
    return {"type": "ACCOUNT", "values": {"name": name}}


async def key_rows(services: Services, user_id: str | None = None) -> int:
    async with services.session_factory() as session:
        statement = select(func.count()).select_from(IdempotencyKey)
        if user_id is not None:
            statement = statement.where(IdempotencyKey.user_id == int(user_id.split("_")[-1]))
        return (await session.execute(statement)).scalar_one()


async def test_a_retried_create_record_returns_the_first_answer_and_creates_nothing(
    api: Api,
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    key = new_key()
    first = await send(api, CREATE, account("Acme"), ann, key)
    assert first.status_code == 200
    created = first.json()["data"]["createRecord"]
    assert created["name"] == "Acme"
    assert "idempotent-replayed" not in first.headers
    assert await org.total(ann) == 1

    for _ in range(2):
        again = await send(api, CREATE, account("Acme"), ann, key)
        assert again.status_code == 200
        assert again.content == first.content
        assert again.headers["idempotent-replayed"] == "true"
    assert await org.total(ann) == 1

    other = await send(api, CREATE, account("Acme"), ann, new_key())
    assert other.json()["data"]["createRecord"]["id"] != created["id"]
    assert await org.total(ann) == 2


async def test_a_retried_post_and_reply_are_applied_once(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    acme = await org.record(ann, "ACCOUNT", "Acme")
    variables = {"input": {"content": "Called them about the order", "accountId": acme}}
    key = new_key()
    first = await send(api, POST, variables, ann, key)
    item = first.json()["data"]["postSalesRecord"]
    again = await send(api, POST, variables, ann, key)
    assert again.content == first.content
    assert await feed_total(org, ann, record=acme) == 1

    reply_key = new_key()
    said = {"id": item["id"], "content": "They said yes"}
    replied = await send(api, REPLY, said, ann, reply_key)
    assert replied.json()["data"]["reply"]["content"] == "They said yes"
    retried = await send(api, REPLY, said, ann, reply_key)
    assert retried.content == replied.content
    shown = await feed_item(org, ann, item["id"])
    assert shown is not None
    assert shown["replyCount"] == 1

    await send(api, REPLY, said, ann, new_key())
    shown = await feed_item(org, ann, item["id"])
    assert shown is not None
    assert shown["replyCount"] == 2


async def test_keys_belong_to_their_user(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    key = new_key()
    by_ann = (await send(api, CREATE, account("Shared name"), ann, key)).json()
    by_bob = (await send(api, CREATE, account("Shared name"), bob, key)).json()
    assert by_ann["data"]["createRecord"]["owner"]["id"] == ann.id
    assert by_bob["data"]["createRecord"]["owner"]["id"] == bob.id
    assert await org.total(ann) == 1
    assert await org.total(bob) == 1
    # Each retry gets its own user's answer.
    again = (await send(api, CREATE, account("Shared name"), bob, key)).json()
    assert again == by_bob


async def test_a_key_reused_for_another_request_is_refused(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    key = new_key()
    await send(api, CREATE, account("Acme"), ann, key)
    for query, variables in [
        (CREATE, account("Another name")),  # other variables
        (CREATE_RECORD, {"type": "ACCOUNT", "values": {"name": "Acme"}}),  # other text
    ]:
        refused = await send(api, query, variables, ann, key)
        assert refused.status_code == 422
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "different request" in error["message"]
    assert await org.total(ann) == 1


async def test_a_malformed_key_is_refused_before_anything_runs(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bad_keys: list[list[tuple[str, str | bytes]]] = [
        [("Idempotency-Key", "")],
        [("Idempotency-Key", "k" * 256)],
        [("Idempotency-Key", b"caf\xc3\xa9")],
        [("Idempotency-Key", "one"), ("Idempotency-Key", "two")],
    ]
    for headers in bad_keys:
        refused = await send(api, CREATE, account("Acme"), ann, None, extra_headers=headers)
        assert refused.status_code == 400, headers
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "Idempotency-Key" in error["message"]
    assert await org.total(ann) == 0
    on_a_query = await send(api, ME, None, ann, "")
    assert on_a_query.status_code == 400
    longest = await send(api, CREATE, account("Acme"), ann, "k" * 255)
    assert longest.json()["data"]["createRecord"]["name"] == "Acme"


async def test_a_refused_mutation_is_not_stored_and_its_retry_runs_again(
    api: Api, services: Services
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    hidden = await org.record(bob, "ACCOUNT", "Bob's account")
    variables = {"input": {"content": "Visited them", "accountId": hidden}}
    key = new_key()
    refused = (await send(api, POST, variables, ann, key)).json()
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", refused  # unseen
    assert await key_rows(services, ann.id) == 0

    await org.add_member(bob, hidden, ann)
    applied = await send(api, POST, variables, ann, key)
    assert applied.json()["data"]["postSalesRecord"]["content"] == "Visited them"
    again = await send(api, POST, variables, ann, key)
    assert again.content == applied.content
    assert await feed_total(org, ann, record=hidden) == 1
    assert await key_rows(services, ann.id) == 1


async def test_an_answer_with_a_refused_field_is_stored_once_something_was_written(
    api: Api,
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    variables = {"values": {"name": "Acme"}, "bad": {"name": "Beta", "noSuchField": 1}}
    key = new_key()
    first = await send(api, TWO_RECORDS, variables, ann, key)
    body = first.json()
    assert body["data"] is None  # the fields are non-null: the error of `second` nulls all
    assert body["errors"][0]["path"] == ["second"]
    assert await org.total(ann) == 1  # but `first` was written
    again = await send(api, TWO_RECORDS, variables, ann, key)
    assert again.content == first.content
    assert await org.total(ann) == 1


async def test_racing_requests_with_one_key_write_once(api: Api) -> None:
    """The key's row commits with the mutation: of requests racing with one key, one commits;
    the others get its answer, or CONFLICT with nothing of theirs written."""
    org = await new_org(api)
    ann = await org.user("Ann")
    key = new_key()
    answers = await asyncio.gather(
        *(send(api, CREATE, account("Acme"), ann, key) for _ in range(6))
    )
    assert await org.total(ann) == 1
    applied = [answer for answer in answers if "idempotent-replayed" not in answer.headers]
    winners = [a for a in applied if (a.json().get("data") or {}).get("createRecord")]
    assert len(winners) == 1
    for answer in answers:
        if answer is winners[0]:
            continue
        if answer.headers.get("idempotent-replayed") == "true":
            assert answer.content == winners[0].content
        else:
            codes = {error["extensions"]["code"] for error in answer.json()["errors"]}
            assert codes == {"CONFLICT"}, answer.json()
    replay = await send(api, CREATE, account("Acme"), ann, key)
    assert replay.content == winners[0].content


async def test_a_commit_whose_answer_was_lost_is_refused_and_not_applied_again(
    api: Api, services: Services
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    key = new_key()
    await send(api, CREATE, account("Acme"), ann, key)
    # As if the server died after the commit, before storing the answer.
    async with services.session_factory() as session:
        await session.execute(
            update(IdempotencyKey).where(IdempotencyKey.key == key).values(status=None, body=None)
        )
        await session.commit()
    refused = await send(api, CREATE, account("Acme"), ann, key)
    assert refused.status_code == 409
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "CONFLICT"
    assert "was applied" in error["message"]
    assert await org.total(ann) == 1


async def test_queries_login_and_anonymous_requests_store_nothing(
    api: Api, services: Services
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    before = await key_rows(services)
    key = new_key()
    for _ in range(2):
        me = (await send(api, ME, None, ann, key)).json()
        assert me["data"]["me"]["id"] == ann.id

    email = unique_email("carol")
    created = await api.ok(
        "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
        {"input": {"name": "Carol", "email": email, "password": PASSWORD}},
        org.admin.token,
    )
    credentials = {"email": email, "password": PASSWORD}
    tokens = {(await send(api, LOGIN, credentials, ann, key)).json()["data"]["login"]["token"]}
    tokens.add((await send(api, LOGIN, credentials, ann, key)).json()["data"]["login"]["token"])
    assert len(tokens) == 2  # each ran: a token is never stored

    registration = {
        "input": {
            "enterpriseName": "Other",
            "adminName": "Otto",
            "email": unique_email("otto"),
            "password": PASSWORD,
        }
    }
    registered = (await send(api, REGISTER, registration, None, key)).json()
    assert registered["data"]["registerEnterprise"]["token"]
    retried = (await send(api, REGISTER, registration, None, key)).json()
    assert retried["errors"][0]["extensions"]["code"] == "CONFLICT"  # the email is taken
    assert created["createUser"]["id"]
    assert await key_rows(services) == before


@contextlib.asynccontextmanager
async def short_ttl_api(services: Services, ttl: int) -> AsyncIterator[Api]:
    settings = services.settings.model_copy(update={"idempotency_ttl_seconds": ttl})
    throttle = LoginThrottle(settings)
    app = create_app(dataclasses.replace(services, settings=settings, throttle=throttle))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            yield Api(client, services)
    finally:
        await throttle.close()


async def age_keys(services: Services, user_id: str, seconds: int) -> None:
    """Move the user's keys `seconds` into the past."""
    user = int(user_id.split("_")[-1])
    async with services.session_factory() as session:
        rows = (
            await session.execute(
                select(IdempotencyKey.key, IdempotencyKey.created_at).where(
                    IdempotencyKey.user_id == user
                )
            )
        ).all()
        for key, created_at in rows:
            await session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.user_id == user, IdempotencyKey.key == key)
                .values(created_at=created_at - timedelta(seconds=seconds))
            )
        await session.commit()


async def test_keys_expire_after_the_ttl_and_are_pruned(services: Services) -> None:
    async with short_ttl_api(services, ttl=600) as api:
        org = await new_org(api)
        ann = await org.user("Ann")
        bob = await org.user("Bob")
        key = new_key()
        first = await send(api, CREATE, account("Acme"), ann, key)
        await send(api, CREATE, account("Bob's"), bob, new_key())

        await age_keys(services, ann.id, 300)  # within the TTL: still answered
        assert (await send(api, CREATE, account("Acme"), ann, key)).content == first.content
        assert await org.total(ann) == 1

        await age_keys(services, ann.id, 301)  # past it: the key is new again
        again = await send(api, CREATE, account("Acme"), ann, key)
        assert "idempotent-replayed" not in again.headers
        assert (
            again.json()["data"]["createRecord"]["id"]
            != (first.json()["data"]["createRecord"]["id"])
        )
        assert await org.total(ann) == 2
        assert await key_rows(services, ann.id) == 1

        await age_keys(services, bob.id, 601)  # expired: pruned by the next stored answer
        assert await key_rows(services, bob.id) == 1
        await send(api, CREATE, account("Acme 2"), ann, new_key())
        assert await key_rows(services, bob.id) == 0
        assert await key_rows(services, ann.id) == 2


async def test_mutations_without_a_key_store_nothing(api: Api, services: Services) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    acme = await org.record(ann, "ACCOUNT", "Acme")
    await post(org, ann, "A post without a key", account=acme)
    assert await key_rows(services, ann.id) == 0


@pytest.mark.postgres
async def test_a_server_killed_after_the_commit_leaves_the_retry_refused_not_applied(
    tmp_path: Path,
) -> None:
    """kill -9 between a mutation's commit and its answer: the retry (on another process)
    writes nothing. To stop the server deterministically in that window the test holds a row
    lock on someone's expired key: storing the answer prunes expired keys in its transaction,
    so it waits for that lock, after the mutation (and its key) committed."""
    await require_redis()
    async with fresh_postgres_schema() as schema:
        env = postgres_env(schema)
        engine = create_engine(conftest.test_settings(POSTGRES_URL), schema=schema)
        try:
            async with server_processes(tmp_path, {"A": env, "B": env}) as (doomed, survivor):
                api = HttpApi(survivor.http_url)
                try:
                    await _kill_after_commit(engine, doomed, api)
                finally:
                    await api.aclose()
        finally:
            await engine.dispose()


async def _kill_after_commit(engine: AsyncEngine, doomed: ServerProcess, api: HttpApi) -> None:
    org = await new_org(api)  # type: ignore[arg-type]
    ann = await org.user("Ann")
    old_key = new_key()
    await api.client.post(
        api.url,
        json={"query": CREATE, "variables": account("Old")},
        headers={"Authorization": f"Bearer {org.admin.token}", "Idempotency-Key": old_key},
    )
    old = [IdempotencyKey.key == old_key]
    async with engine.begin() as connection:
        await connection.execute(
            update(IdempotencyKey).where(*old).values(created_at=utcnow() - timedelta(days=2))
        )

    key = new_key()
    request = {"query": CREATE, "variables": account("Acme")}
    headers = {"Authorization": f"Bearer {ann.token}", "Idempotency-Key": key}
    async with engine.connect() as holder:
        await holder.execute(select(IdempotencyKey.key).where(*old).with_for_update())
        async with httpx.AsyncClient(timeout=60) as client:
            sent = asyncio.create_task(client.post(doomed.http_url, json=request, headers=headers))
            committed = select(func.count()).where(IdempotencyKey.key == key)
            for _ in range(600):  # until the mutation committed (30 s at most)
                if await _scalar(engine, committed):
                    break
                assert not sent.done(), sent.result().text
                await asyncio.sleep(0.05)
            else:
                pytest.fail("the mutation never committed")
            assert doomed.process is not None
            os.killpg(doomed.process.pid, signal.SIGKILL)
            await asyncio.to_thread(doomed.process.wait, 10)
            with pytest.raises(httpx.TransportError):
                await sent  # never answered
        await holder.rollback()

    assert await org.total(ann) == 1  # applied, unacknowledged
    retried = await api.client.post(api.url, json=request, headers=headers)
    assert retried.status_code == 409
    assert retried.json()["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert await org.total(ann) == 1
    fresh = await api.client.post(
        api.url, json=request, headers={**headers, "Idempotency-Key": "x"}
    )
    assert fresh.json()["data"]["createRecord"]["name"] == "Acme"
    assert await org.total(ann) == 2


async def _scalar(engine: AsyncEngine, statement: Any) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(statement)).scalar_one()
