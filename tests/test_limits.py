"""Query limits (depth, aliases, tokens, cost, page size), error masking and introspection."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import strawberry

from crmfeed.app import Services, create_app
from resolvers.errors import NotFound
from schema.build import build_schema
from schema.extensions import extensions
from tests.conftest import Api
from tests.conftest import test_settings as settings_for_tests
from tests.helpers import register

if TYPE_CHECKING:
    from pathlib import Path

    from crmfeed.settings import Settings

INTROSPECTION = "{ __schema { queryType { name } } }"
USERS_PAGE_FIELDS = """
  edges { node {
    id name email createdAt roles department { id name } superior { id name }
  } }
"""


def settings(tmp_path: Path, **overrides: object) -> Settings:
    base = settings_for_tests(f"sqlite+aiosqlite:///{tmp_path / 'limits.db'}")
    return base.model_copy(update=overrides)


def nested_superiors(depth: int) -> str:
    """`{ me { superior { ... { id } } } }` whose innermost field is at `depth`.

    Strawberry's QueryDepthLimiter counts the root field (`me`) as depth 0.
    """
    inner = "id"
    for _ in range(depth - 1):
        inner = f"superior {{ {inner} }}"
    return f"{{ me {{ {inner} }} }}"


def assert_limit(error: dict, *words: str) -> None:
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED", error
    for word in words:
        assert word in error["message"]


# -- depth ---------------------------------------------------------------------------------------


async def test_a_query_at_the_depth_limit_runs(api: Api) -> None:
    token, _ = await register(api)
    data = await api.ok(nested_superiors(12), token=token)
    assert data["me"]["superior"] is None


async def test_a_query_over_the_depth_limit_is_refused(api: Api) -> None:
    token, _ = await register(api)
    error = await api.error(nested_superiors(13), token=token)
    assert_limit(error, "depth", "12")


async def test_depth_hidden_in_fragments_is_counted(api: Api) -> None:
    token, _ = await register(api)
    query = (
        "query { me { ...A } } "
        "fragment A on User { superior { ...B } } "
        "fragment B on User { superior { superior { ...C } } } "
        "fragment C on User { superior { superior { superior { superior { ...D } } } } } "
        "fragment D on User { superior { superior { superior { superior { superior { id } } } } } }"
    )
    error = await api.error(query, token=token)
    assert_limit(error, "depth")


async def test_depth_refusal_runs_no_resolver(api: Api) -> None:
    log = api.count_statements()
    log.active = True
    await api.error(nested_superiors(30), token="any")
    log.active = False
    assert log.statements == []


# -- aliases -------------------------------------------------------------------------------------


def aliased_fields(count: int) -> str:
    return " ".join(f"a{i}: id" for i in range(count))


async def test_fifteen_aliases_pass(api: Api) -> None:
    token, _ = await register(api)
    data = await api.ok(f"{{ me {{ {aliased_fields(15)} }} }}", token=token)
    assert len(data["me"]) == 15


async def test_sixteen_aliases_are_refused(api: Api) -> None:
    token, _ = await register(api)
    error = await api.error(f"{{ me {{ {aliased_fields(16)} }} }}", token=token)
    assert_limit(error, "16 aliases", "15")


async def test_aliases_hidden_in_a_fragment_are_counted(api: Api) -> None:
    token, _ = await register(api)
    query = (
        f"query {{ me {{ ...F {aliased_fields(8)} }} }} fragment F on User {{ "
        f"{' '.join(f'b{i}: name' for i in range(8))} }}"
    )
    error = await api.error(query, token=token)
    assert_limit(error, "16 aliases")


async def test_aliases_of_a_mutation_are_counted(api: Api) -> None:
    fields = " ".join(
        f'l{i}: login(email: "nobody@example.com", password: "x") {{ token }}' for i in range(16)
    )
    log = api.count_statements()
    log.active = True
    error = await api.error(f"mutation {{ {fields} }}")
    log.active = False
    assert_limit(error, "aliases")
    assert log.statements == []


# -- tokens --------------------------------------------------------------------------------------


async def test_a_document_over_two_thousand_tokens_is_refused(api: Api) -> None:
    token, _ = await register(api)
    query = "{ me { " + " ".join(["id"] * 2000) + " } }"
    error = await api.error(query, token=token)
    assert_limit(error, "2000 tokens")


async def test_a_document_under_the_token_limit_runs(api: Api) -> None:
    token, admin = await register(api)
    # 237 operations of 8 tokens each (`query Qn { me { id } }`): 1,896 tokens
    query = " ".join(f"query Q{i} {{ me {{ id }} }}" for i in range(237))
    response = await api.client.post(
        "/graphql",
        json={"query": query, "operationName": "Q236"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json() == {"data": {"me": {"id": admin}}}


async def test_a_document_too_costly_to_validate_is_refused(api: Api) -> None:
    token, _ = await register(api)
    query = "{ me { " + " ".join(["id"] * 1500) + " } }"
    error = await api.error(query, token=token)
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED"


# -- cost ----------------------------------------------------------------------------------------


async def test_a_query_whose_cost_exceeds_five_thousand_is_refused(api: Api) -> None:
    token, _ = await register(api)
    pages = " ".join(f"p{i}: users(first: 100) {{ {USERS_PAGE_FIELDS} }}" for i in range(4))
    error = await api.error(f"{{ {pages} }}", token=token)
    assert_limit(error, "cost", "5000")
    assert error["extensions"]["cost"] > error["extensions"]["maxCost"] == 5000


async def test_a_page_size_from_a_variable_counts_as_the_largest_page(api: Api) -> None:
    token, _ = await register(api)
    pages = " ".join(f"p{i}: users(first: $n) {{ {USERS_PAGE_FIELDS} }}" for i in range(4))
    error = await api.error(f"query($n: Int) {{ {pages} }}", {"n": 1}, token=token)
    assert_limit(error, "cost")


async def test_the_same_pages_with_small_first_run(api: Api) -> None:
    token, admin = await register(api)
    pages = " ".join(f"p{i}: users(first: 5) {{ {USERS_PAGE_FIELDS} }}" for i in range(4))
    data = await api.ok(f"{{ {pages} }}", token=token)
    assert [edge["node"]["id"] for edge in data["p3"]["edges"]] == [admin]


async def test_cost_refusal_runs_no_resolver(api: Api) -> None:
    pages = " ".join(f"p{i}: users(first: 100) {{ {USERS_PAGE_FIELDS} }}" for i in range(4))
    log = api.count_statements()
    log.active = True
    await api.error(f"{{ {pages} }}", token="any")
    log.active = False
    assert log.statements == []


async def test_a_page_over_one_hundred_is_refused(api: Api) -> None:
    token, _ = await register(api)
    error = await api.error(
        "{ records(objectType: ACCOUNT, first: 101) { edges { node { id } } } }", token=token
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "first" in error["message"]
    assert "100" in error["message"]


async def test_a_normal_query_passes_every_limit(api: Api) -> None:
    token, admin = await register(api)
    query = """
    query Dashboard {
      me { id name email roles department { id name } superior { id } }
      departments { id name parent { id } head { id } }
      users(first: 50) { totalCount edges { cursor node { id name } }
                         pageInfo { hasNextPage endCursor } }
      records(objectType: ACCOUNT, first: 20) { totalCount edges { node { id name } } }
    }"""
    data = await api.ok(query, token=token)
    assert data["me"]["id"] == admin
    assert data["users"]["totalCount"] == 1


# -- error masking -------------------------------------------------------------------------------


@strawberry.type
class FailingQuery:
    @strawberry.field
    def broken(self) -> str | None:
        raise RuntimeError("secret connection string postgres://admin:hunter2@db")

    @strawberry.field
    def missing(self) -> str | None:
        raise NotFound("No widget with id wid_1 exists.")


def failing_schema(tmp_path: Path) -> strawberry.Schema:
    return strawberry.Schema(query=FailingQuery, extensions=extensions(settings(tmp_path)))


async def test_unexpected_errors_are_masked(tmp_path: Path) -> None:
    result = await failing_schema(tmp_path).execute("{ broken }")
    assert result.errors is not None
    [error] = result.errors
    assert error.message == "Unexpected error."
    formatted = str(error.formatted)
    assert "secret" not in formatted
    assert "hunter2" not in formatted


async def test_our_own_errors_keep_their_message_and_code(tmp_path: Path) -> None:
    result = await failing_schema(tmp_path).execute("{ missing }")
    assert result.errors is not None
    [error] = result.errors
    assert error.message == "No widget with id wid_1 exists."
    assert error.extensions == {"code": "NOT_FOUND"}


async def test_one_masked_field_leaves_its_siblings_errors_alone(tmp_path: Path) -> None:
    result = await failing_schema(tmp_path).execute("{ broken missing }")
    assert result.errors is not None
    messages = sorted(error.message for error in result.errors)
    assert messages == ["No widget with id wid_1 exists.", "Unexpected error."]


async def test_not_found_over_http_keeps_its_message_and_code(api: Api) -> None:
    token, _ = await register(api)
    error = await api.error(
        'mutation { updateUser(id: "usr_999999999", input: {name: "X"}) { id } }', token=token
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["message"] == "No user with id usr_999999999 exists."


async def test_graphql_syntax_errors_are_not_masked(api: Api) -> None:
    error = await api.error("{ me { id ")
    assert error["message"].startswith("Syntax Error")


# -- introspection -------------------------------------------------------------------------------


async def test_introspection_works_by_default(api: Api) -> None:
    data = await api.ok(INTROSPECTION)
    assert data["__schema"]["queryType"]["name"] == "Query"


async def test_introspection_can_be_turned_off(tmp_path: Path) -> None:
    schema = build_schema(settings(tmp_path, allow_introspection=False))
    result = await schema.execute(INTROSPECTION)
    assert result.errors is not None
    assert "introspection" in result.errors[0].message
    assert result.errors[0].extensions == {"code": "FORBIDDEN"}
    result = await schema.execute('{ __type(name: "User") { name } }')
    assert result.errors is not None


async def test_typename_still_works_without_introspection(tmp_path: Path) -> None:
    schema = build_schema(settings(tmp_path, allow_introspection=False))
    result = await schema.execute("{ __typename }")
    assert result.errors is None
    assert result.data == {"__typename": "Query"}


async def test_an_app_without_introspection_refuses_it_over_http(tmp_path: Path) -> None:
    services = Services.create(settings(tmp_path, allow_introspection=False))
    try:
        transport = httpx.ASGITransport(app=create_app(services))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/graphql", json={"query": INTROSPECTION})
    finally:
        await services.engine.dispose()
    body = response.json()
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_limits_follow_the_settings(tmp_path: Path) -> None:
    schema = build_schema(settings(tmp_path, max_aliases=2, max_query_depth=3))
    result = await schema.execute("{ a: __typename b: __typename c: __typename }")
    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "LIMIT_EXCEEDED"}
    result = await schema.execute(nested_superiors(4))
    assert result.errors is not None
    assert result.errors[0].extensions == {"code": "LIMIT_EXCEEDED"}
