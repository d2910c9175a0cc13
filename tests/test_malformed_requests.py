"""Malformed requests to /graphql get a 4xx with a GraphQL-shaped error saying what is wrong.

A body that is not a JSON object, not UTF-8, nested too deep or too large; a JSON list (no
batching); a wrong content type; bad GET parameters; a subscription sent over HTTP; text
arguments that are too long or not valid text. None of them is an internal error, and none
reaches the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import CREATE_RECORD, LOGIN, register
from tests.processes import fresh_postgres_schema, postgres_env, server_processes
from tests.records_helpers import new_org

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import httpx

    from tests.conftest import Api

MIB = 1024 * 1024
JSON_TYPE = {"content-type": "application/json"}
RECORDS = """
query($filter: RecordFilter) {
  records(objectType: ACCOUNT, filter: $filter, first: 5) { totalCount }
}"""
SUBSCRIPTION = "subscription { notifications(after: null) { cursor } }"


def refusal(response: httpx.Response, status: int, code: str, *words: str) -> dict[str, Any]:
    """The only error of a refused request; its status, code and message words are checked."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body.get("data") is None, body
    assert len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert error["extensions"]["code"] == code, error
    for word in words:
        assert word in error["message"], error
    return error


async def post_bytes(api: Api, body: bytes, content_type: str | None = "application/json"):
    headers = {} if content_type is None else {"content-type": content_type}
    return await api.client.post("/graphql", content=body, headers=headers)


async def post(api: Api, payload: Any, token: str | None = None) -> httpx.Response:
    """POST `payload` as JSON (ASCII-escaped, so lone surrogates travel as `\\ud800`)."""
    headers = {**JSON_TYPE, **({"Authorization": f"Bearer {token}"} if token else {})}
    return await api.client.post("/graphql", content=json.dumps(payload), headers=headers)


# -- the body ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "what"),
    [(b"null", "null"), (b"42", "a number"), (b'"{ __typename }"', "a string"), (b"true", "")],
    ids=["null", "number", "string", "boolean"],
)
async def test_a_body_that_is_not_a_json_object_is_a_bad_request(
    api: Api, body: bytes, what: str
) -> None:
    response = await post_bytes(api, body)
    refusal(response, 400, "BAD_REQUEST", "JSON object", what)


async def test_a_body_that_is_not_utf8_is_a_bad_request(api: Api) -> None:
    response = await post_bytes(api, b'{"query": "{ __typename }", "operationName": "\xff\xfe"}')
    refusal(response, 400, "BAD_REQUEST", "UTF-8")


async def test_a_body_that_is_not_json_is_a_bad_request(api: Api) -> None:
    response = await post_bytes(api, b'{"query": "{ __typename }"')
    refusal(response, 400, "BAD_REQUEST", "not valid JSON")


@pytest.mark.parametrize(
    ("value", "words"),
    [(b"NaN", ("NaN",)), (b"-Infinity", ("Infinity",)), (b"1" * 5000, ("5,000 digits",))],
    ids=["nan", "infinity", "5000-digits"],
)
async def test_numbers_json_does_not_have_are_a_bad_request(
    api: Api, value: bytes, words: tuple[str, ...]
) -> None:
    body = b'{"query": "{ __typename }", "variables": {"n": ' + value + b"}}"
    refusal(await post_bytes(api, body), 400, "BAD_REQUEST", "not valid JSON", *words)


async def test_a_refusal_quoting_a_lone_surrogate_is_still_json(api: Api) -> None:
    response = await post(api, {"query": "{ __typename }", "operationName": "\ud800"})
    error = refusal(response, 400, "BAD_REQUEST", "Unknown operation")
    assert "\ud800" in error["message"]


async def test_a_document_without_a_single_operation_to_run_is_a_bad_request(api: Api) -> None:
    response = await post(api, {"query": "fragment F on Query { __typename }"})
    refusal(response, 400, "BAD_REQUEST", "operationName")


async def test_an_empty_body_is_a_bad_request(api: Api) -> None:
    response = await post_bytes(api, b"")
    refusal(response, 400, "BAD_REQUEST", "empty")


@pytest.mark.parametrize("depth", [33, 10_000])
async def test_json_nested_too_deep_is_a_bad_request(api: Api, depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    response = await post_bytes(api, nested)
    refusal(response, 400, "BAD_REQUEST", "nested deeper than 32")
    body = b'{"query": "{ __typename }", "variables": {"a": ' + nested + b"}}"
    response = await post_bytes(api, body)
    refusal(response, 400, "BAD_REQUEST", "nested deeper than 32")


async def test_json_nested_32_deep_is_parsed(api: Api) -> None:
    # The body object is level 1, `variables` 2, its value 3..32.
    nested = b"[" * 30 + b"]" * 30
    body = b'{"query": "{ __typename }", "variables": {"a": ' + nested + b"}}"
    response = await post_bytes(api, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_json_list_is_refused_as_batching(api: Api) -> None:
    response = await post(api, [{"query": "{ __typename }"}, {"query": "{ __typename }"}])
    refusal(response, 400, "BAD_REQUEST", "Batching is not supported", "one operation")


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({}, ("query",)),
        ({"query": ""}, ("query",)),
        ({"query": 5}, ("query", "string")),
        ({"query": "{ __typename }", "variables": [1]}, ("variables", "object")),
        ({"query": "{ __typename }", "variables": "{}"}, ("variables", "object")),
        ({"query": "{ __typename }", "operationName": 5}, ("operationName", "string")),
        ({"query": "{ __typename }", "extensions": 5}, ("extensions", "object")),
    ],
    ids=[
        "no-query",
        "empty-query",
        "query-number",
        "variables-list",
        "variables-string",
        "operation-name-number",
        "extensions-number",
    ],
)
async def test_a_body_with_misshapen_members_is_a_bad_request(
    api: Api, payload: dict[str, Any], words: tuple[str, ...]
) -> None:
    refusal(await post(api, payload), 400, "BAD_REQUEST", *words)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_sent_as_json_is_refused(
    api: Api, content_type: str | None
) -> None:
    response = await post_bytes(api, b'{"query": "{ __typename }"}', content_type)
    refusal(response, 415, "BAD_REQUEST", "application/json")


async def test_a_multipart_request_without_its_boundary_is_refused(api: Api) -> None:
    """File uploads (importRecords, startImport) come as multipart/form-data; one that does
    not name its boundary cannot be read."""
    response = await post_bytes(api, b'{"query": "{ __typename }"}', "multipart/form-data")
    refusal(response, 400, "BAD_REQUEST", "boundary")


async def test_json_with_a_charset_is_accepted(api: Api) -> None:
    response = await post_bytes(
        api, b'{"query": "{ __typename }"}', "application/json; charset=utf-8"
    )
    assert response.json() == {"data": {"__typename": "Query"}}


# -- size ----------------------------------------------------------------------------------------


def padded_query(size: int) -> bytes:
    """A valid body of exactly `size` bytes (the query padded with spaces)."""
    head, tail = b'{"query": "{ __typename }', b'"}'
    return head + b" " * (size - len(head) - len(tail)) + tail


async def test_a_body_at_the_size_limit_is_served(api: Api) -> None:
    response = await post_bytes(api, padded_query(MIB))
    assert response.status_code == 200, response.text[:300]
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_body_over_the_size_limit_is_refused_with_413(api: Api) -> None:
    response = await post_bytes(api, padded_query(MIB + 1))
    refusal(response, 413, "LIMIT_EXCEEDED", "1,048,576 bytes")


async def test_a_streamed_body_over_the_size_limit_is_refused_with_413(api: Api) -> None:
    """Without a Content-Length (chunked), the guard counts what arrives."""
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"query": "{ __typename }'
        for _ in range(64):
            sent += 1
            yield b" " * 65_536
        yield b'"}'

    response = await api.client.post("/graphql", content=chunks(), headers=JSON_TYPE)
    refusal(response, 413, "LIMIT_EXCEEDED", "1,048,576 bytes")
    assert "content-length" not in response.request.headers


# -- GET -----------------------------------------------------------------------------------------


async def get(api: Api, query_string: str) -> httpx.Response:
    return await api.client.get("/graphql?" + query_string, headers={"accept": "application/json"})


@pytest.mark.parametrize(
    ("query_string", "words"),
    [
        ("query={__typename}&variables={", ("variables", "not valid JSON")),
        ("query={__typename}&variables=[1]", ("variables", "JSON object")),
        ("query={__typename}&variables=5", ("variables", "JSON object")),
        ("query={__typename}&extensions=x", ("extensions", "not valid JSON")),
        ("query={__typename}&query={me{id}}", ("query", "once")),
        ("query=%7B__typename%7D%ff", ("UTF-8",)),
        ("", ("query",)),
        ("variables={}", ("query",)),
        ("query=mutation{logout}", ("Mutations", "POST")),
    ],
    ids=[
        "variables-not-json",
        "variables-list",
        "variables-number",
        "extensions-not-json",
        "query-twice",
        "not-utf8",
        "no-query",
        "variables-without-query",
        "mutation",
    ],
)
async def test_get_with_malformed_parameters_is_a_bad_request(
    api: Api, query_string: str, words: tuple[str, ...]
) -> None:
    refusal(await get(api, query_string), 400, "BAD_REQUEST", *words)


async def test_get_with_variables_runs_the_query(api: Api) -> None:
    response = await get(
        api,
        "query=query($n:Int){records(objectType:ACCOUNT,first:$n){totalCount}}&variables="
        + json.dumps({"n": 1}),
    )
    refusal(response, 200, "UNAUTHENTICATED")


async def test_other_methods_are_refused_with_405(api: Api) -> None:
    response = await api.client.put("/graphql", json={"query": "{ __typename }"})
    refusal(response, 405, "BAD_REQUEST", "GET", "POST")
    assert response.headers["allow"] == "GET, POST"


# -- subscriptions over HTTP ---------------------------------------------------------------------


async def test_a_subscription_sent_with_post_is_told_to_use_the_websocket(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    token, _ = await register(api)
    with caplog.at_level(logging.ERROR):
        response = await post(api, {"query": SUBSCRIPTION}, token)
    refusal(response, 400, "BAD_REQUEST", "websocket", "same URL")
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []


async def test_a_subscription_sent_with_get_is_told_to_use_the_websocket(api: Api) -> None:
    response = await get(api, "query=" + SUBSCRIPTION)
    refusal(response, 400, "BAD_REQUEST", "websocket")


# -- GraphQL documents that cannot run -----------------------------------------------------------


async def test_a_syntax_error_is_a_bad_request(api: Api) -> None:
    refusal(await post(api, {"query": "{ me { id "}), 400, "BAD_REQUEST", "Syntax Error")


async def test_a_document_that_does_not_validate_is_a_bad_request(api: Api) -> None:
    response = await post(api, {"query": "{ noSuchField }"})
    refusal(response, 400, "BAD_REQUEST", "noSuchField")


async def test_a_missing_variable_is_a_bad_request(api: Api) -> None:
    response = await post(api, {"query": LOGIN, "variables": {"email": "a@example.com"}})
    refusal(response, 400, "BAD_REQUEST", "$password")


async def test_a_refusal_while_running_keeps_status_200(api: Api) -> None:
    response = await post(api, {"query": "{ me { id } }"})
    refusal(response, 200, "UNAUTHENTICATED")


# -- text arguments ------------------------------------------------------------------------------


async def test_a_50000_character_name_filter_is_refused_as_a_variable(api: Api) -> None:
    org = await new_org(api)
    log = api.count_statements()
    log.active = True
    response = await post(
        api,
        {"query": RECORDS, "variables": {"filter": {"nameContains": "a" * 50_000}}},
        org.admin.token,
    )
    log.active = False
    error = refusal(response, 400, "BAD_USER_INPUT", "nameContains", "10,000")
    assert error["extensions"]["field"] == "nameContains"
    assert log.statements == []


async def test_a_50000_character_name_filter_is_refused_as_a_literal(api: Api) -> None:
    org = await new_org(api)
    query = '{ records(objectType: ACCOUNT, filter: {nameContains: "%s"}) { totalCount } }'
    response = await post(api, {"query": query % ("é" * 50_000)}, org.admin.token)
    error = refusal(response, 400, "BAD_USER_INPUT", "filter.nameContains", "10,000")
    assert error["extensions"]["field"] == "nameContains"


async def test_a_name_filter_longer_than_any_name_is_refused(api: Api) -> None:
    org = await new_org(api)
    variables = {"filter": {"nameContains": "a" * 501}}
    response = await post(api, {"query": RECORDS, "variables": variables}, org.admin.token)
    error = refusal(response, 200, "BAD_USER_INPUT", "nameContains", "500")
    assert error["extensions"]["field"] == "nameContains"


async def test_a_name_filter_as_long_as_a_name_runs(api: Api) -> None:
    org = await new_org(api)
    name = "Acme " + "x" * 495
    await org.record(org.admin, "ACCOUNT", name)
    variables = {"filter": {"nameContains": name}}
    data = await api.ok(RECORDS, variables, token=org.admin.token)
    assert data["records"]["totalCount"] == 1


@pytest.mark.parametrize(
    ("text", "words"),
    [("\ud800", ("not valid text", "U+D800")), ("ab\x00c", ("not valid text", "U+0000"))],
    ids=["lone-surrogate", "nul"],
)
async def test_invalid_text_in_a_variable_is_refused(
    api: Api, text: str, words: tuple[str, ...]
) -> None:
    org = await new_org(api)
    for variables, field in [
        ({"email": text, "password": "x"}, "email"),
        ({"email": "a@example.com", "password": f"pass{text}word"}, "password"),
    ]:
        response = await post(api, {"query": LOGIN, "variables": variables})
        error = refusal(response, 400, "BAD_USER_INPUT", f"${field}", *words)
        assert error["extensions"]["field"] == field
    log = api.count_statements()
    log.active = True
    variables = {"objectType": "ACCOUNT", "values": {"name": f"Acme{text}"}}
    response = await post(api, {"query": CREATE_RECORD, "variables": variables}, org.admin.token)
    log.active = False
    error = refusal(response, 400, "BAD_USER_INPUT", "$values.name", *words)
    assert error["extensions"]["field"] == "name"
    assert log.statements == []
    assert await org.total(org.admin) == 0


async def test_invalid_text_in_a_json_key_is_refused(api: Api) -> None:
    org = await new_org(api)
    variables = {"objectType": "ACCOUNT", "values": {"name": "Acme", "\ud800": "x"}}
    response = await post(api, {"query": CREATE_RECORD, "variables": variables}, org.admin.token)
    refusal(response, 400, "BAD_USER_INPUT", "not valid text")


@pytest.mark.parametrize(
    "literal", ['"\\ud800"', '"ab\\u0000c"'], ids=["escaped-lone-surrogate", "escaped-nul"]
)
async def test_invalid_text_in_a_literal_is_refused(api: Api, literal: str) -> None:
    org = await new_org(api)
    query = (
        f"mutation {{ createRecord(objectType: ACCOUNT, values: {{name: {literal}}}) {{ id }} }}"
    )
    response = await post(api, {"query": query}, org.admin.token)
    error = response.json()["errors"][0]
    assert response.status_code == 400, response.text
    assert error["extensions"]["code"] in {"BAD_USER_INPUT", "BAD_REQUEST"}, error
    assert await org.total(org.admin) == 0


async def test_a_raw_lone_surrogate_in_the_query_text_is_a_bad_request(api: Api) -> None:
    body = b'{"query": "{ me(x: \\"\\ud800\\") { id } }"}'
    refusal(await post_bytes(api, body), 400, "BAD_REQUEST", "U+D800")


async def test_text_of_the_longest_allowed_length_is_accepted(api: Api) -> None:
    org = await new_org(api)
    variables = {"objectType": "ACCOUNT", "values": {"name": "Acme", "address": "x" * 10_000}}
    await api.ok(CREATE_RECORD, variables, token=org.admin.token)
    variables["values"]["address"] = "x" * 10_001
    response = await post(api, {"query": CREATE_RECORD, "variables": variables}, org.admin.token)
    error = refusal(response, 400, "BAD_USER_INPUT", "$values.address", "10,000")
    assert error["extensions"]["field"] == "address"
    assert await org.total(org.admin) == 1


# -- a real server, raw bytes --------------------------------------------------------------------


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, Any]]:
    """Send raw bytes on a new connection; the status and JSON body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 30)
        return int(lines[0].split()[1]), json.loads(body)
    finally:
        writer.close()


def http_post(body: bytes, *headers: str) -> bytes:
    head = ["POST /graphql HTTP/1.1", "Host: 127.0.0.1", *headers, "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def test_a_real_server_refuses_malformed_bytes_and_keeps_serving(tmp_path: Path) -> None:
    async with fresh_postgres_schema() as schema:
        env = postgres_env(schema, BROADCAST_URL="memory://", MAX_BODY_SIZE="4096")
        async with server_processes(tmp_path, {"A": env}) as (server,):
            port = server.port
            json_type = "Content-Type: application/json"

            # Not UTF-8, and `null`: 400.
            body = b'{"query": "{ __typename }", "operationName": "\xff"}'
            status, answer = await exchange(
                port, http_post(body, json_type, f"Content-Length: {len(body)}")
            )
            assert (status, answer["errors"][0]["extensions"]["code"]) == (400, "BAD_REQUEST")
            assert "UTF-8" in answer["errors"][0]["message"]
            status, answer = await exchange(
                port, http_post(b"null", json_type, "Content-Length: 4")
            )
            assert status == 400, answer

            # Announced too large: refused without the body being sent at all.
            status, answer = await exchange(
                port, http_post(b"", json_type, "Content-Length: 1000000")
            )
            assert (status, answer["errors"][0]["extensions"]["code"]) == (413, "LIMIT_EXCEEDED")

            # Chunked, growing past the limit while it arrives.
            chunk = b" " * 3000
            chunked = b"".join(
                b"%x\r\n%s\r\n" % (len(part), part)
                for part in [b'{"query": "{ __typename }', chunk, chunk, b'"}']
            )
            status, answer = await exchange(
                port,
                http_post(chunked + b"0\r\n\r\n", json_type, "Transfer-Encoding: chunked"),
            )
            assert status == 413, answer

            # Still serving, and nothing was an internal error.
            body = b'{"query": "{ __typename }"}'
            status, answer = await exchange(
                port, http_post(body, json_type, f"Content-Length: {len(body)}")
            )
            assert (status, answer) == (200, {"data": {"__typename": "Query"}})
            assert "Traceback" not in server.log()
