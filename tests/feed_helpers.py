"""GraphQL helpers for the follow-up activity tests (feed items, actions, tasks, scenes).

Built on `tests.records_helpers` (Org, Person, new_org), so a test reads like the product:

    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = await post(org, ann, "Called them", related=[account])
    assert await feed_ids(org, ann) == [item["id"]]
"""

from __future__ import annotations

from typing import Any

from tests.conftest import unique_email
from tests.records_helpers import PASSWORD, Org, Person, new_org

__all__ = [
    "ITEM_FIELDS",
    "Org",
    "Person",
    "feed",
    "feed_ids",
    "feed_item",
    "feed_total",
    "new_org",
    "post",
    "post_error",
    "update_item",
    "user_ids",
]

ITEM_FIELDS = """
  id type content
  author { id name }
  relatedTo { id name objectType }
  account { id }
  mentions { id }
  cc { id }
  likeCount likedByMe replyCount favoritedByMe followedByMe
"""

POST = f"""
mutation($input: PostSalesRecordInput!) {{
  postSalesRecord(input: $input) {{ {ITEM_FIELDS} }}
}}"""

UPDATE_ITEM = f"""
mutation($id: ID!, $input: UpdateFeedItemInput!) {{
  updateFeedItem(id: $id, input: $input) {{ {ITEM_FIELDS} }}
}}"""

FEED = """
query($scene: FeedScene!, $recordId: ID, $types: [FeedItemType!], $first: Int, $after: String) {
  feed(scene: $scene, recordId: $recordId, types: $types, first: $first, after: $after) {
    totalCount
    edges { cursor node { id type content relatedTo { id } } }
    pageInfo { hasNextPage endCursor }
  }
}"""

FEED_ITEM = f"""
query($id: ID!) {{ feedItem(id: $id) {{ {ITEM_FIELDS} }} }}"""

CREATE_USER = """
mutation($input: CreateUserInput!) { createUser(input: $input) { id } }"""


async def post(
    org: Org,
    who: Person,
    content: str = "Met the buyer; they want a quote.",
    *,
    related: list[str] | None = None,
    account: str | None = None,
    mentions: list[str] | None = None,
    cc: list[str] | None = None,
    type: str | None = None,
) -> dict[str, Any]:
    """`postSalesRecord` as `who`; the new item (ITEM_FIELDS)."""
    data = await org.api.ok(
        POST, {"input": _post_input(content, related, account, mentions, cc, type)}, who.token
    )
    return data["postSalesRecord"]


async def post_error(
    org: Org,
    who: Person,
    content: str = "Met the buyer; they want a quote.",
    *,
    related: list[str] | None = None,
    account: str | None = None,
    mentions: list[str] | None = None,
    cc: list[str] | None = None,
    type: str | None = None,
) -> dict[str, Any]:
    """The first error of a `postSalesRecord` that must fail."""
    return await org.api.error(
        POST, {"input": _post_input(content, related, account, mentions, cc, type)}, who.token
    )


def _post_input(
    content: str,
    related: list[str] | None,
    account: str | None,
    mentions: list[str] | None,
    cc: list[str] | None,
    type: str | None,
) -> dict[str, Any]:
    given: dict[str, Any] = {"content": content}
    for key, value in (
        ("relatedTo", related),
        ("accountId", account),
        ("mentions", mentions),
        ("cc", cc),
        ("type", type),
    ):
        if value is not None:
            given[key] = value
    return given


async def update_item(org: Org, who: Person, item_id: str, **changes: Any) -> dict[str, Any]:
    """`updateFeedItem`; `changes` use the input names (`content`, `accountId`)."""
    data = await org.api.ok(UPDATE_ITEM, {"id": item_id, "input": changes}, who.token)
    return data["updateFeedItem"]


async def feed(
    org: Org,
    who: Person,
    scene: str = "WORK",
    *,
    record: str | None = None,
    types: list[str] | None = None,
    first: int | None = 100,
    after: str | None = None,
) -> dict[str, Any]:
    """One page of a feed as `who` (the FeedItemConnection)."""
    variables = {
        "scene": scene,
        "recordId": record,
        "types": types,
        "first": first,
        "after": after,
    }
    data = await org.api.ok(FEED, variables, who.token)
    return data["feed"]


async def feed_ids(
    org: Org,
    who: Person,
    scene: str = "WORK",
    *,
    record: str | None = None,
    types: list[str] | None = None,
) -> list[str]:
    """The ids of the first 100 items of a feed, newest first; checks totalCount agrees."""
    page = await feed(org, who, scene, record=record, types=types)
    ids = [edge["node"]["id"] for edge in page["edges"]]
    assert page["totalCount"] == len(ids)
    return ids


async def feed_total(org: Org, who: Person, scene: str = "WORK", record: str | None = None) -> int:
    return (await feed(org, who, scene, record=record, first=0))["totalCount"]


async def feed_item(org: Org, who: Person, item_id: str) -> dict[str, Any] | None:
    """`feedItem(id)` as `who` (null when they may not see it)."""
    data = await org.api.ok(FEED_ITEM, {"id": item_id}, who.token)
    return data["feedItem"]


async def user_ids(org: Org, count: int) -> list[str]:
    """`count` new users (not logged in) of the org; their ids."""
    found = []
    for number in range(count):
        given = {"name": f"Person {number}", "email": unique_email(), "password": PASSWORD}
        data = await org.api.ok(CREATE_USER, {"input": given}, org.admin.token)
        found.append(data["createUser"]["id"])
    return found
