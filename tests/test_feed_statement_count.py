"""A feed page costs a fixed number of SQL statements whatever its size."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from crmfeed.app import Services, create_app
from store import feed
from tests.conftest import Api
from tests.feed_helpers import Org, Person, new_org, post

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

ITEM_SELECTION = """
  id type content
  author { id name }
  relatedTo { id name }
  account { id }
  mentions { id name }
  cc { id name }
  likeCount likedByMe replyCount favoritedByMe followedByMe
  replies(first: 3) { edges { node { content author { name } } } }
"""
WORK_PAGE = "query {{ feed(first: {size}) {{ edges {{ node {{ {item} }} }} }} }}"
WORK_PAGE_WITH_TOTALS = """query {{ feed(first: {size}) {{
  totalCount pageInfo {{ hasNextPage endCursor }}
  edges {{ cursor node {{ {item} replies(first: 3) {{ edges {{ node {{ mentions {{ id }} }} }} }}
  }} }} }} }}"""
RECORD_PAGE = """query($id: ID!) {{ record(id: $id) {{ id name
  feed(first: {size}) {{ edges {{ node {{ {item} }} }} }} }} }}"""
MARKED_PAGE = "query {{ myFavorites(first: {size}) {{ edges {{ node {{ {item} }} }} }} }}"
REPLY = """mutation($id: ID!, $content: String!, $mentions: [ID!]) {
  reply(itemId: $id, content: $content, mentions: $mentions) { id } }"""
MARK = "mutation($id: ID!) {{ {action}(itemId: $id) {{ id }} }}"
ITEMS = 52


class Busy:
    """An org with ITEMS items on one account, with replies, likes, mentions and cc."""

    def __init__(self, org: Org, boss: Person, account: str) -> None:
        self.org = org
        self.boss = boss
        self.account = account


@pytest.fixture(scope="module")
async def busy(services: Services) -> AsyncIterator[Busy]:
    """Built once per database for this module: the tests only read."""
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield await build_busy(Api(client, services))


async def build_busy(api: Api) -> Busy:
    org = await new_org(api)
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    bob = await org.user("Bob", superior=boss)
    account = await org.record(ann, "ACCOUNT", "Acme")
    contact = await org.record(bob, "CONTACT", "Lu")
    await org.add_member(ann, account, bob)
    await org.add_member(bob, contact, ann)
    for number in range(ITEMS):
        author, other = (ann, bob) if number % 2 else (bob, ann)
        item = await post(
            org,
            author,
            f"Note {number}",
            related=[contact],
            account=account,
            mentions=[other.id],
            cc=[boss.id],
        )
        replies = 4 if number % 3 == 0 else number % 2
        for reply_number in range(replies):
            await api.ok(
                REPLY,
                {"id": item["id"], "content": f"Reply {reply_number}", "mentions": [boss.id]},
                other.token,
            )
        await api.ok(MARK.format(action="like"), {"id": item["id"]}, other.token)
        if number % 3 == 0:
            await api.ok(MARK.format(action="like"), {"id": item["id"]}, boss.token)
            await api.ok(MARK.format(action="favorite"), {"id": item["id"]}, boss.token)
    return Busy(org, boss, account)


async def statements(busy: Busy, template: str, size: int, variables: dict | None = None) -> int:
    """SQL statements of one request as the boss, checking it returned `size` full items."""
    api = busy.org.api
    log = api.count_statements()
    log.active = True
    try:
        data = await api.ok(
            template.format(size=size, item=ITEM_SELECTION), variables, busy.boss.token
        )
    finally:
        log.active = False
    connection = next(iter(data.values()))
    if "feed" in connection:
        connection = connection["feed"]
    nodes = [edge["node"] for edge in connection["edges"]]
    assert len(nodes) == size
    assert all(len(n["relatedTo"]) == 2 and n["account"] and n["mentions"] for n in nodes)
    assert all(n["cc"] == [{"id": busy.boss.id, "name": "Boss"}] for n in nodes)
    assert all(n["likeCount"] >= 1 for n in nodes)
    assert all(n["followedByMe"] is False for n in nodes)
    assert any(n["likedByMe"] and n["favoritedByMe"] for n in nodes)
    assert any(len(n["replies"]["edges"]) == 3 and n["replyCount"] == 4 for n in nodes)
    return len(log.statements)


async def work_statements(busy: Busy, template: str, size: int) -> tuple[int, int]:
    """Statements of a Work request before the viewer's open records are remembered, and of
    the same request right after (`store.feed._remembered`)."""
    feed._remembered.clear()
    return await statements(busy, template, size), await statements(busy, template, size)


def on_sqlite(busy: Busy) -> bool:
    return busy.org.api.services.engine.dialect.name == "sqlite"


async def test_work_feed_page_costs_six_statements_for_5_and_for_50_items(busy: Busy) -> None:
    # The viewer, the records open to them (capped: it picks how the page is read), the page,
    # relatedTo, the named users, the stats with the first replies and their authors. Once the
    # boss's few open records are remembered, SQLite reads them inside the page statement.
    remembered = 5 if on_sqlite(busy) else 6
    assert await work_statements(busy, WORK_PAGE, 5) == (6, remembered)
    assert await work_statements(busy, WORK_PAGE, 50) == (6, remembered)


async def test_totals_and_reply_mentions_add_a_fixed_number_of_statements(busy: Busy) -> None:
    # + totalCount (the count; on PostgreSQL the capped open records again first), + the reply
    # mentions, + the mentioned users (the boss is no item author)
    expected = (9, 8) if on_sqlite(busy) else (10, 10)
    assert await work_statements(busy, WORK_PAGE_WITH_TOTALS, 5) == expected
    assert await work_statements(busy, WORK_PAGE_WITH_TOTALS, 50) == expected


async def test_record_feed_page_cost_does_not_grow_with_its_size(busy: Busy) -> None:
    variables = {"id": busy.account}
    small = await statements(busy, RECORD_PAGE, 5, variables)
    large = await statements(busy, RECORD_PAGE, 50, variables)
    assert small == large == 6


async def test_my_favorites_page_cost_does_not_grow_with_its_size(busy: Busy) -> None:
    small = await statements(busy, MARKED_PAGE, 5)
    large = await statements(busy, MARKED_PAGE, 18)
    assert small == large == 5
