"""Automatic persisted queries through HTTP, as Apollo's persisted-query link sends them: a hash
alone, the text with its hash, over POST and GET (crmfeed/persisted_queries.py)."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from graphql.language.parser import Parser
from strawberry.http import GraphQLRequestData

from crmfeed.persisted_queries import (
    MAX_TEXT_CHARS,
    NOT_FOUND,
    NOT_FOUND_CODE,
    PersistedQueries,
    sha256_hex,
)
from schema import extensions as schema_extensions
from tests.helpers import create_record, create_user_with_token, register
from tests.live_helpers import SUBSCRIBE, WsClient, running_server
from tests.processes import REDIS_URL, require_redis

if TYPE_CHECKING:
    import httpx
    import pytest

    from tests.conftest import Api


def a_query() -> str:
    """A text no other test sends (so its hash is new to the server and its caches)."""
    return f"query Me {{ me {{ id name }} }} # {uuid.uuid4().hex}"


def persisted(text: str | None = None, sha256: str | None = None) -> dict[str, Any]:
    digest = sha256 or sha256_hex(text or "")
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def post(
    api: Api, token: str, *, query: str | None, extensions: dict[str, Any]
) -> httpx.Response:
    body: dict[str, Any] = {"extensions": extensions, "variables": {}}
    if query is not None:
        body["query"] = query
    return await api.client.post(
        "/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
    )


async def get(api: Api, token: str, extensions: dict[str, Any], **params: str) -> httpx.Response:
    return await api.client.get(
        "/graphql",
        params={"extensions": json.dumps(extensions), **params},
        # Apollo's HttpLink accepts */*: this must not be taken for a browser asking for GraphiQL.
        headers={"Authorization": f"Bearer {token}", "Accept": "*/*"},
    )


def only_error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body.get("data") is None, body
    (error,) = body["errors"]
    return error


async def test_an_unknown_hash_answers_not_found_then_the_text_registers_it(api: Api) -> None:
    token, admin_id = await register(api)
    text = a_query()
    for response in (
        await post(api, token, query=None, extensions=persisted(text)),
        await get(api, token, persisted(text)),
    ):
        error = only_error(response)
        # What Apollo's link looks for (message or code) to send the text again.
        assert error["message"] == NOT_FOUND
        assert error["extensions"]["code"] == NOT_FOUND_CODE

    registered = await post(api, token, query=text, extensions=persisted(text))
    assert registered.json() == {"data": {"me": {"id": admin_id, "name": "Ada Admin"}}}

    for response in (
        await post(api, token, query=None, extensions=persisted(text)),
        await get(api, token, persisted(text), operationName="Me"),
    ):
        assert response.status_code == 200
        assert response.json() == {"data": {"me": {"id": admin_id, "name": "Ada Admin"}}}


async def test_a_hash_that_does_not_match_the_text_is_refused_and_not_kept(api: Api) -> None:
    token, _ = await register(api)
    text = a_query()
    wrong = sha256_hex(text + " ")
    error = only_error(await post(api, token, query=text, extensions=persisted(sha256=wrong)))
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "is not the sha256 of `query`" in error["message"]
    error = only_error(await post(api, token, query=None, extensions=persisted(sha256=wrong)))
    assert error["message"] == NOT_FOUND


async def test_a_malformed_persisted_query_is_refused(api: Api) -> None:
    token, _ = await register(api)
    cases = [
        ({"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}}, "version 2"),
        ({"persistedQuery": {"version": 1, "sha256Hash": "XYZ"}}, "64 lowercase hex digits"),
        ({"persistedQuery": "abc"}, "must be an object"),
    ]
    for extensions, says in cases:
        error = only_error(await post(api, token, query=None, extensions=extensions))
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert says in error["message"]


async def test_a_document_that_does_not_validate_is_not_kept(api: Api) -> None:
    token, _ = await register(api)
    text = f"query {{ me {{ noSuchField }} }} # {uuid.uuid4().hex}"
    error = only_error(await post(api, token, query=text, extensions=persisted(text)))
    assert "noSuchField" in error["message"]
    error = only_error(await post(api, token, query=None, extensions=persisted(text)))
    assert error["message"] == NOT_FOUND


async def test_a_persisted_mutation_runs_over_post_but_not_get(api: Api) -> None:
    token, _ = await register(api)
    text = f'mutation {{ createDepartment(input: {{name: "D-{uuid.uuid4().hex}"}}) {{ id }} }}'
    first = await post(api, token, query=text, extensions=persisted(text))
    assert "errors" not in first.json(), first.json()
    again = await post(api, token, query=None, extensions=persisted(text))
    assert "errors" not in again.json(), again.json()
    error = only_error(await get(api, token, persisted(text)))
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "POST" in error["message"]


async def test_a_hashed_request_runs_the_kept_document_without_parsing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, admin_id = await register(api)
    text = a_query()
    parses = 0
    parse_document = Parser.parse_document

    def counting(self: Parser) -> Any:
        nonlocal parses
        parses += 1
        return parse_document(self)

    monkeypatch.setattr(Parser, "parse_document", counting)
    await post(api, token, query=text, extensions=persisted(text))
    assert parses == 1
    entry = api.services.persisted_queries.entry(sha256_hex(text))
    assert entry is not None and entry.document is not None
    # Not found in the general parse cache either: the persisted document is what runs.
    parse_cache = getattr(schema_extensions, "_parse", None)
    if parse_cache is not None:
        parse_cache.cache_clear()
    response = await post(api, token, query=None, extensions=persisted(text))
    assert response.json() == {"data": {"me": {"id": admin_id, "name": "Ada Admin"}}}
    assert parses == 1


async def test_the_store_keeps_the_most_recently_used_hashes(api: Api) -> None:
    token, _ = await register(api)
    store = api.services.persisted_queries
    bound = store.max_entries
    store.max_entries = 2
    try:
        texts = [a_query() for _ in range(3)]
        for text in texts:
            await post(api, token, query=text, extensions=persisted(text))
        assert len(store) == 2
        first = await post(api, token, query=None, extensions=persisted(texts[0]))
        assert only_error(first)["message"] == NOT_FOUND
        last = await post(api, token, query=None, extensions=persisted(texts[2]))
        assert "errors" not in last.json()
    finally:
        store.max_entries = bound


async def test_a_very_long_text_runs_but_is_not_kept(api: Api) -> None:
    token, _ = await register(api)
    text = f"query {{ me {{ id }} }} # {'x' * MAX_TEXT_CHARS}"
    response = await post(api, token, query=text, extensions=persisted(text))
    assert "errors" not in response.json()
    error = only_error(await post(api, token, query=None, extensions=persisted(text)))
    assert error["message"] == NOT_FOUND


async def test_the_store_bounds_the_characters_it_keeps() -> None:
    from graphql import parse

    store = PersistedQueries(max_entries=100, max_total_chars=100)
    texts = [f"{{ me {{ id }} }} # {n:040}" for n in range(4)]  # 58 characters each
    for text in texts:
        await store.remember(sha256_hex(text), text, parse(text))
    assert len(store) == 1
    assert store.entry(sha256_hex(texts[-1])) is not None


async def test_with_redis_a_hash_registered_on_one_process_is_known_to_another() -> None:
    await require_redis()
    one = PersistedQueries(max_entries=10, redis_url=REDIS_URL, ttl_seconds=60)
    other = PersistedQueries(max_entries=10, redis_url=REDIS_URL, ttl_seconds=60)
    try:
        text = a_query()
        sha256 = sha256_hex(text)
        from graphql import parse

        await one.remember(sha256, text, parse(text))
        request = GraphQLRequestData(
            query=None, variables=None, operation_name=None, extensions=persisted(text)
        )
        assert await other.prepare(request) is None
        assert request.query == text
        unknown = GraphQLRequestData(
            query=None, variables=None, operation_name=None, extensions=persisted(a_query())
        )
        refusal = await other.prepare(unknown)
        assert refusal is not None and refusal.message == NOT_FOUND
    finally:
        await one.close()
        await other.close()


async def test_a_subscription_over_the_websocket_may_send_its_hash_alone(api: Api) -> None:
    admin, admin_id = await register(api)
    sam, _ = await create_user_with_token(api, admin, superiorId=admin_id)
    account = await create_record(api, sam, "Sam's account")
    posted = await api.ok(
        "mutation($input: PostSalesRecordInput!) { postSalesRecord(input: $input) { id } }",
        {"input": {"content": "Visited them", "accountId": account}},
        token=sam,
    )
    text = f"{SUBSCRIBE} # {uuid.uuid4().hex}"
    extensions = persisted(text)
    async with running_server(api.services) as url, WsClient.connect(url, sam) as client:
        await client.acknowledged()
        await client.send({"id": "1", "type": "subscribe", "payload": {"extensions": extensions}})
        refused = await client.receive()
        assert refused["type"] == "error" and refused["id"] == "1", refused
        assert refused["payload"][0]["message"] == NOT_FOUND
        assert refused["payload"][0]["extensions"]["code"] == NOT_FOUND_CODE

        mismatch = {"query": text + " ", "extensions": extensions}
        await client.send({"id": "2", "type": "subscribe", "payload": mismatch})
        refused = await client.receive()
        assert refused["type"] == "error" and refused["id"] == "2", refused
        assert refused["payload"][0]["extensions"]["code"] == "BAD_REQUEST"

        # The text with its hash runs and is kept; then the hash alone runs it too.
        for op_id, payload in (
            ("3", {"query": text, "extensions": extensions}),
            ("4", {"extensions": extensions}),
        ):
            await client.send({"id": op_id, "type": "subscribe", "payload": payload})
        assert await client.nothing_within(0.3)
        await api.ok(
            'mutation($id: ID!) { reply(itemId: $id, content: "Good") { id } }',
            {"id": posted["postSalesRecord"]["id"]},
            token=admin,
        )
        delivered = {}
        while len(delivered) < 2:
            message = await client.receive()
            assert message["type"] == "next", message
            delivered[message["id"]] = message["payload"]["data"]["notifications"]["kind"]
        assert delivered == {"3": "REPLY", "4": "REPLY"}
