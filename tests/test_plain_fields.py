"""crmfeed/execution.py reads plain fields itself: answers and errors are graphql-core's own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension

from crmfeed.execution import PlainFieldExecution, plain_fields
from schema.build import build_schema
from schema.extensions import ParseCache
from tests.conftest import test_settings as settings_for_tests


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Child:
    name: str
    required: str


@strawberry.type
class Leaf:
    name: str
    when: datetime
    colour: Colour
    count: int
    maybe: str | None
    required: str  # set to None on one instance: graphql-core's non-null error
    broken: str  # a property that raises on one instance
    child: Child | None  # None on one instance, a child with a null `required` on another

    def __init__(self, index: int) -> None:
        self.name = f"leaf {index}"
        self.when = datetime(2026, 1, index + 1, tzinfo=UTC)
        self.colour = Colour.RED if index % 2 else Colour.BLUE
        self.count = index
        self.maybe = None if index % 2 else "here"
        self.required = None if index == 2 else "yes"  # type: ignore[assignment]
        self.child = (
            None
            if index == 0
            else Child(name=f"child {index}", required=None if index == 3 else "yes")
        )  # type: ignore[arg-type]
        self._index = index

    def __getattribute__(self, name: str) -> Any:
        if name == "broken" and object.__getattribute__(self, "_index") == 1:
            raise ValueError("cannot read broken")
        if name == "count" and object.__getattribute__(self, "_index") == 3:
            return asyncio.sleep(0, result=30)  # an awaitable, as a relation not prefetched
        if name == "broken":
            return "fine"
        return object.__getattribute__(self, name)

    @strawberry.field
    def shout(self, info: strawberry.Info, times: int = 1, suffix: str = "!") -> str | None:
        """A resolver with arguments and Info: called directly, its literals kept."""
        if times < 0:
            raise ValueError("times must be 0 or more")
        return f"{self.name.upper() * times}{suffix} ({info.path.key})"


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Person(Named):
    age: int


@strawberry.type
class Place(Named):
    city: str


@strawberry.type
class Query:
    @strawberry.field
    def leaves(self) -> list[Leaf] | None:
        return [Leaf(index) for index in range(4)]

    @strawberry.field
    def named(self) -> list[Named]:
        return [
            Person(name="Ann", age=3),
            Place(name="Home", city="Oslo"),
            Person(name="Bo", age=5),
        ]


QUERY = """{
  leaves { name when colour count maybe alias: name
    ... on Leaf { colour }
  }
  again: leaves { required }
  more: leaves { broken }
  children: leaves { child { name required } }
}"""


RESOLVERS = """query($times: Int!) {
  leaves {
    shout(times: 2) again: shout(times: $times, suffix: "?") plain: shout bad: shout(times: -1)
  }
  named { name ... on Person { age } ... on Place { city } }
}"""


def answer(
    schema: strawberry.Schema, query: str = QUERY, variables: dict[str, Any] | None = None
) -> tuple[Any, list[tuple[str, list[Any]]]]:
    result = asyncio.run(schema.execute(query, variable_values=variables))
    errors = sorted((error.message, list(error.path or ())) for error in result.errors or ())
    return result.data, errors


def test_answers_and_errors_are_graphql_cores() -> None:
    plain = strawberry.Schema(query=Query)
    fast = strawberry.Schema(query=Query)
    fast.execution_context_class = PlainFieldExecution.for_schema(fast)
    assert set(fast.execution_context_class.plain["Leaf"]) == {
        "name",
        "when",
        "colour",
        "count",
        "maybe",
        "required",
        "broken",
        "child",
        "shout",  # a resolver, called directly
    }
    expected = answer(plain)
    assert answer(fast) == expected
    data, errors = expected
    assert data["leaves"][3]["count"] == 30
    assert data["leaves"][0]["colour"] == "BLUE"
    assert data["again"] is None  # a non-null field's null nulls the non-null list
    assert data["children"][0] == {"child": None}
    assert data["children"][1] == {"child": {"name": "child 1", "required": "yes"}}
    assert data["children"][3] == {"child": None}  # its non-null `required` was null
    assert [path for _message, path in errors] == [
        ["children", 3, "child", "required"],
        ["again", 2, "required"],
        ["more", 1, "broken"],
    ]


class CountResolves(SchemaExtension):
    calls = 0

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        CountResolves.calls += 1
        return _next(root, info, *args, **kwargs)


def test_an_extension_that_wraps_resolvers_still_sees_every_plain_field() -> None:
    schema = strawberry.Schema(query=Query, extensions=[CountResolves])
    schema.execution_context_class = PlainFieldExecution.for_schema(schema)
    CountResolves.calls = 0
    asyncio.run(schema.execute("{ leaves { name maybe } }"))
    assert CountResolves.calls == 1 + 4 * 2


def test_the_feed_items_columns_and_relations_are_read_as_plain_fields() -> None:
    fields = plain_fields(build_schema(settings_for_tests("sqlite+aiosqlite:///:memory:"))._schema)
    assert {"id", "type", "content", "createdAt", "author", "likeCount"} <= set(fields["FeedItem"])
    assert "replies" not in fields["FeedItem"]  # a resolver with arguments
    assert {"id", "name"} <= set(fields["User"])


def test_resolvers_called_directly_answer_as_strawberry_does() -> None:
    plain = strawberry.Schema(query=Query, types=[Person, Place])
    # The parse cache gives each request the same document, so its literal arguments are kept.
    fast = strawberry.Schema(query=Query, types=[Person, Place], extensions=[ParseCache])
    fast.execution_context_class = PlainFieldExecution.for_schema(fast)
    assert "shout" in fast.execution_context_class.plain["Leaf"]
    expected = answer(plain, RESOLVERS, {"times": 3})
    assert expected == (
        {
            "leaves": [
                {
                    "shout": f"LEAF {n}LEAF {n}! (shout)",
                    "again": f"LEAF {n}LEAF {n}LEAF {n}? (again)",
                    "plain": f"LEAF {n}! (plain)",
                    "bad": None,
                }
                for n in range(4)
            ],
            "named": [
                {"name": "Ann", "age": 3},
                {"name": "Home", "city": "Oslo"},
                {"name": "Bo", "age": 5},
            ],
        },
        sorted(("times must be 0 or more", ["leaves", n, "bad"]) for n in range(4)),
    )
    kept = fast.execution_context_class.kept_arguments
    for times in (3, 3, 1):  # from the second run on, the literal arguments are kept ones
        variables = {"times": times}
        assert answer(fast, RESOLVERS, variables) == answer(plain, RESOLVERS, variables)
    # `shout(times: 2)`, `shout` and `shout(times: -1)` (coerced, not converted: it raises)
    # are literals; `shout(times: $times)` is converted at each call.
    assert len(kept) == 3
