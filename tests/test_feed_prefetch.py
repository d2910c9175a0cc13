"""A feed page loads what its selection reads of the items right after the page; one item
(`feedItem`) reads the same fields through the DataLoaders. Both must give the same answer,
for every field, every kind of feed, aliases, fragments and several reply pages per item."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import event

from crmfeed.app import Services, create_app
from store import feed, visibility
from tests.conftest import Api
from tests.feed_helpers import Org, Person, new_org, post, update_item

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

EVERY_FIELD = """
  id type content createdAt updatedAt
  author { id name }
  relatedTo { id name objectType }
  account { id name }
  mentions { id name }
  cc { id name }
  likeCount likedByMe replyCount favoritedByMe followedByMe
  replies(first: 3) {
    edges { cursor node { id content createdAt author { id name } mentions { id } } }
    pageInfo { hasNextPage endCursor }
  }
"""
ONE_ITEM = "query($id: ID!) {{ feedItem(id: $id) {{ {fields} }} }}"
WORK = "query {{ feed(first: {size}) {{ edges {{ node {{ {fields} }} }} }} }}"
FEEDS = {
    "work": "query {{ feed(first: 10) {{ edges {{ node {{ {fields} }} }} }} }}",
    "record feed": """query($account: ID!) {{
      feed(recordId: $account, first: 10) {{ edges {{ node {{ {fields} }} }} }} }}""",
    "Record.feed": """query($account: ID!) {{ record(id: $account) {{
      feed(first: 10) {{ edges {{ node {{ {fields} }} }} }} }} }}""",
    "scene": """query {{ feed(scene: SUBORDINATES_RECORDS, first: 10) {{
      edges {{ node {{ {fields} }} }} }} }}""",
    "myFavorites": "query {{ myFavorites(first: 10) {{ edges {{ node {{ {fields} }} }} }} }}",
    "myFollowing": "query {{ myFollowing(first: 10) {{ edges {{ node {{ {fields} }} }} }} }}",
}
REPLY = """mutation($id: ID!, $content: String!, $mentions: [ID!]) {
  reply(itemId: $id, content: $content, mentions: $mentions) { id } }"""
MARK = "mutation($id: ID!) {{ {action}(itemId: $id) {{ id }} }}"


class World:
    """The boss of Ann and Bob sees their items, and Eve's item only because it names him."""

    def __init__(self, org: Org, boss: Person, account: str, items: dict[str, str]) -> None:
        self.org = org
        self.boss = boss
        self.account = account
        self.items = items


@pytest.fixture(scope="module")
async def world(services: Services) -> AsyncIterator[World]:
    """Built once per database for this module: the tests only read."""
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield await build_world(Api(client, services))


async def build_world(api: Api) -> World:
    org = await new_org(api)
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    bob = await org.user("Bob", superior=boss)
    eve = await org.user("Eve")
    account = await org.record(ann, "ACCOUNT", "Acme")
    contact = await org.record(bob, "CONTACT", "Lu")
    secret = await org.record(eve, "ACCOUNT", "Secret")
    await org.add_member(ann, account, bob)
    plain = await post(org, ann, "Plain note", related=[account])
    busy = await post(
        org, bob, "Busy note", related=[contact], account=account, mentions=[ann.id], cc=[boss.id]
    )
    outside = await post(org, eve, "Eve's note", related=[secret], mentions=[boss.id])
    cleared = await post(org, ann, "Lookup cleared", account=account)
    await update_item(org, ann, cleared["id"], accountId=None)
    both = await post(org, bob, "Two records", related=[contact, account])
    for number in range(6):
        writer = ann if number % 2 else bob
        await api.ok(
            REPLY,
            {"id": busy["id"], "content": f"Reply {number}", "mentions": [boss.id]},
            writer.token,
        )
    await api.ok(
        REPLY, {"id": both["id"], "content": "Boss says hi", "mentions": [org.admin.id]}, boss.token
    )
    for who, action, item in (
        (ann, "like", busy),
        (boss, "like", busy),
        (boss, "favorite", busy),
        (boss, "favorite", both),
        (bob, "like", plain),
    ):
        await api.ok(MARK.format(action=action), {"id": item["id"]}, who.token)
    items = {
        "plain": plain["id"],
        "busy": busy["id"],
        "outside": outside["id"],
        "cleared": cleared["id"],
        "both": both["id"],
    }
    return World(org, boss, account, items)


async def page_nodes(
    world: World, template: str, fields: str, variables: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    data = await world.org.api.ok(
        template.format(fields=fields, size=10), variables, world.boss.token
    )
    connection = next(iter(data.values()))
    if "feed" in connection:
        connection = connection["feed"]
    return [edge["node"] for edge in connection["edges"]]


async def one_item(world: World, item_id: str, fields: str) -> dict[str, Any]:
    data = await world.org.api.ok(ONE_ITEM.format(fields=fields), {"id": item_id}, world.boss.token)
    assert data["feedItem"] is not None
    return data["feedItem"]


async def statements(world: World, query: str, variables: dict[str, Any] | None = None) -> int:
    api = world.org.api
    log = api.count_statements()
    log.active = True
    try:
        await api.ok(query, variables, world.boss.token)
    finally:
        log.active = False
    return len(log.statements)


@pytest.mark.parametrize("feed", list(FEEDS))
async def test_every_item_field_of_a_page_equals_the_one_item_answer(
    world: World, feed: str
) -> None:
    nodes = await page_nodes(world, FEEDS[feed], EVERY_FIELD, {"account": world.account})
    assert nodes
    for node in nodes:
        assert node == await one_item(world, node["id"], EVERY_FIELD)


async def test_a_work_page_reads_the_items_relations(world: World) -> None:
    nodes = {n["id"]: n for n in await page_nodes(world, FEEDS["work"], EVERY_FIELD)}
    assert set(nodes) == set(world.items.values())
    busy = nodes[world.items["busy"]]
    assert (busy["likeCount"], busy["likedByMe"], busy["replyCount"]) == (2, True, 6)
    assert (busy["favoritedByMe"], busy["followedByMe"]) == (True, False)
    assert [e["node"]["content"] for e in busy["replies"]["edges"]] == [
        "Reply 0",
        "Reply 1",
        "Reply 2",
    ]
    assert busy["replies"]["pageInfo"]["hasNextPage"] is True
    assert busy["account"]["name"] == "Acme"
    assert [u["name"] for u in busy["cc"]] == ["Boss"]
    assert [u["name"] for u in busy["mentions"]] == ["Ann"]
    both = nodes[world.items["both"]]
    assert sorted(r["name"] for r in both["relatedTo"]) == ["Acme", "Lu"]
    assert (both["followedByMe"], both["replyCount"]) == (True, 1)
    outside = nodes[world.items["outside"]]
    assert (outside["relatedTo"], outside["account"]) == ([], None)
    cleared = nodes[world.items["cleared"]]
    assert cleared["account"] is None
    assert [r["name"] for r in cleared["relatedTo"]] == ["Acme"]
    plain = nodes[world.items["plain"]]
    assert (plain["likeCount"], plain["likedByMe"], plain["replies"]["edges"]) == (1, False, [])


async def test_every_field_costs_the_same_few_statements_for_2_and_for_5_items(
    world: World,
) -> None:
    # Over the page with ids only: relatedTo (and account), the named users, the stats with
    # the first replies and their authors, the reply mentions, the mentioned users.
    costs = set()
    for size in (2, 5):
        ids_only = await statements(world, WORK.format(size=size, fields="id"))
        every = await statements(world, WORK.format(size=size, fields=EVERY_FIELD))
        costs.add(every - ids_only)
    assert costs == {5}


async def executed_statements(
    world: World, query: str, variables: dict[str, Any], token: str
) -> list[Any]:
    """The statement objects one request hands to SQLAlchemy, in order."""
    executed: list[Any] = []

    def seen(_conn: Any, statement: Any, *_: Any) -> None:
        executed.append(statement)

    engine = world.org.api.services.engine.sync_engine
    event.listen(engine, "before_execute", seen)
    try:
        await world.org.api.ok(query, variables, token)
    finally:
        event.remove(engine, "before_execute", seen)
    return executed


@pytest.mark.parametrize("feed", sorted(FEEDS))
async def test_a_repeated_page_reuses_every_statement_object(world: World, feed: str) -> None:
    # A statement built anew for each request makes SQLAlchemy walk all of it (the visibility
    # expression included) for its cache key again; a reused one has its key memoized.
    query = FEEDS[feed].format(fields=EVERY_FIELD)
    variables = {"account": world.account}
    viewers = [world.boss, world.org.admin]
    for viewer in viewers:
        # One request first, so that both compared ones find the viewer's reach remembered
        # (`store.feed._remembered`) or both not: a remembered few change the plan.
        await executed_statements(world, query, variables, viewer.token)
        first = await executed_statements(world, query, variables, viewer.token)
        again = await executed_statements(world, query, variables, viewer.token)
        assert len(first) >= 2  # the viewer and the page at least
        rebuilt = [
            " ".join(str(statement).split())[:150]
            for statement, before in zip(again, first, strict=True)
            if statement is not before
        ]
        assert rebuilt == []


async def test_a_wide_viewer_skips_the_reach_statement_for_a_while(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every viewer is wide (more open records than NARROW_REACH): the first page asks, then the
    # walk is chosen without asking until REMEMBER_SECONDS have passed; the answer never changes.
    monkeypatch.setattr(visibility, "NARROW_REACH", -1)
    await check_remembered(world, monkeypatch, FEEDS["work"], saved=1)


@pytest.mark.parametrize("typed", [False, True])
async def test_a_few_open_records_are_read_by_the_page_statement_for_a_while(
    world: World, monkeypatch: pytest.MonkeyPatch, typed: bool
) -> None:
    # The boss has few open records: after the first page, an untyped WORK page on SQLite reads
    # them in its own statement until REMEMBER_SECONDS have passed. A typed page, and every
    # page on PostgreSQL, passes them as values, so it reads them each time.
    work = FEEDS["work"]
    query = work.replace("feed(", "feed(types: [POST, SALES_RECORD], ") if typed else work
    sqlite = world.org.api.services.engine.dialect.name == "sqlite"
    await check_remembered(world, monkeypatch, query, saved=1 if sqlite and not typed else 0)


async def check_remembered(
    world: World, monkeypatch: pytest.MonkeyPatch, feed_query: str, saved: int
) -> None:
    """Pages after the first save `saved` statements while the reach is remembered, none once
    it has expired; every page gives the same answer."""
    query = feed_query.format(fields="id content")
    viewer = world.boss
    monkeypatch.setattr(feed, "REMEMBER_SECONDS", 3600.0)
    feed._remembered.clear()
    first, first_answer = await counted(world, query, viewer.token)
    again, again_answer = await counted(world, query, viewer.token)
    assert again == first - saved
    assert again_answer == first_answer
    assert first_answer["feed"]["edges"]
    monkeypatch.setattr(feed, "REMEMBER_SECONDS", 0.0)
    feed._remembered.clear()
    await counted(world, query, viewer.token)
    expired, expired_answer = await counted(world, query, viewer.token)
    assert expired == first
    assert expired_answer == first_answer


async def counted(world: World, query: str, token: str) -> tuple[int, dict[str, Any]]:
    api = world.org.api
    log = api.count_statements()
    log.active = True
    try:
        data = await api.ok(query, None, token)
    finally:
        log.active = False
    return len(log.statements), data


ALIASED = """
query($after: String) {
  feed(first: 10) {
    edges { node { ...Item ... on FeedItem { likes: likeCount } } }
    more: edges {
      node {
        id
        short: replies(first: 1) { ...Replies }
        long: replies(first: 4) { ...Replies }
        later: replies(first: 2, after: $after) { ...Replies }
        replies { ...Replies }
      }
    }
  }
}
fragment Item on FeedItem { id lookup: account { id } ... @include(if: true) { mine: likedByMe } }
fragment Replies on ReplyConnection {
  edges { cursor node { content author { name } } }
  pageInfo { hasNextPage endCursor }
}"""
ALIASED_ITEM = """
query($id: ID!, $after: String) {
  feedItem(id: $id) {
    id lookup: account { id } mine: likedByMe likes: likeCount
    short: replies(first: 1) { ...Replies }
    long: replies(first: 4) { ...Replies }
    later: replies(first: 2, after: $after) { ...Replies }
    replies { ...Replies }
  }
}
fragment Replies on ReplyConnection {
  edges { cursor node { content author { name } } }
  pageInfo { hasNextPage endCursor }
}"""


async def test_aliases_fragments_and_several_reply_pages_per_item(world: World) -> None:
    api, token = world.org.api, world.boss.token
    first = await one_item(
        world, world.items["busy"], "replies(first: 2) { pageInfo { endCursor } }"
    )
    variables = {"after": first["replies"]["pageInfo"]["endCursor"]}
    data = (await api.ok(ALIASED, variables, token))["feed"]
    assert len(data["edges"]) == len(data["more"]) == len(world.items)
    for edge, more in zip(data["edges"], data["more"], strict=True):
        node = {**edge["node"], **more["node"]}
        alone = await api.ok(ALIASED_ITEM, {"id": node["id"], **variables}, token)
        assert node == alone["feedItem"]
    busy = next(e["node"] for e in data["more"] if e["node"]["id"] == world.items["busy"])
    contents = {
        key: [e["node"]["content"] for e in busy[key]["edges"]] for key in busy if key != "id"
    }
    assert contents == {
        "short": ["Reply 0"],
        "long": ["Reply 0", "Reply 1", "Reply 2", "Reply 3"],
        "later": ["Reply 2", "Reply 3"],
        "replies": [f"Reply {n}" for n in range(6)],
    }
    # Over ids only: `edges` loads relatedTo and the stats; `more: edges` its four reply pages.
    ids_only = await statements(world, WORK.format(size=10, fields="id"))
    assert await statements(world, ALIASED, variables) == ids_only + 6


async def test_skipped_fields_are_not_loaded(world: World) -> None:
    query = """query($with: Boolean!) { feed(first: 10) { edges { node {
      id likeCount @include(if: $with) relatedTo @skip(if: true) { id } } } } }"""
    # One request first, so that every counted one finds the viewer's reach remembered
    # (`store.feed._remembered`): a page that has to look it up costs one statement more.
    await statements(world, WORK.format(size=10, fields="id"))
    ids_only = await statements(world, WORK.format(size=10, fields="id"))
    assert await statements(world, query, {"with": False}) == ids_only
    assert await statements(world, query, {"with": True}) == ids_only + 1
    nodes = (await world.org.api.ok(query, {"with": True}, world.boss.token))["feed"]["edges"]
    likes = {e["node"]["id"]: e["node"]["likeCount"] for e in nodes}
    assert likes[world.items["busy"]] == 2


async def test_a_bad_reply_page_in_a_feed_is_refused_like_for_one_item(world: World) -> None:
    api, token = world.org.api, world.boss.token
    fields = "id replies(first: -1) { edges { cursor } }"
    in_page = await api.error(WORK.format(size=10, fields=fields), None, token)
    alone = await api.error(ONE_ITEM.format(fields=fields), {"id": world.items["busy"]}, token)
    assert in_page["message"] == alone["message"] == "first must be 0 or more."
    assert in_page["extensions"]["code"] == alone["extensions"]["code"] == "BAD_USER_INPUT"


RECORD_FEEDS = """query($first: Int!) { records(objectType: ACCOUNT, first: $first) { edges { node {
  id feed(first: 2) { edges { node {
    id likeCount relatedTo { id } replies(first: 1) { edges { node { content } } }
  } } }
} } } }"""


async def test_each_feed_of_a_records_list_costs_the_same_few_statements(api: Api) -> None:
    org = await new_org(api)
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    for number in range(4):
        account = await org.record(ann, "ACCOUNT", f"Account {number}")
        for note in range(2):
            item = await post(org, ann, f"Note {note}", related=[account])
            await api.ok(REPLY, {"id": item["id"], "content": f"Hi {number}"}, boss.token)
    counts = {}
    for first in (2, 4):
        log = api.count_statements()
        log.active = True
        try:
            data = await api.ok(RECORD_FEEDS, {"first": first}, boss.token)
        finally:
            log.active = False
        counts[first] = len(log.statements)
        records = [edge["node"] for edge in data["records"]["edges"]]
        assert len(records) == first
        for record in records:
            items = [edge["node"] for edge in record["feed"]["edges"]]
            assert len(items) == 2
            for item in items:
                assert item["relatedTo"] == [{"id": record["id"]}]
                assert item["likeCount"] == 0
                (reply,) = item["replies"]["edges"]
                assert reply["node"]["content"].startswith("Hi ")
    # Each record's feed costs the same: its page, relatedTo, the stats with the first replies.
    assert counts[4] - counts[2] == 2 * 3
