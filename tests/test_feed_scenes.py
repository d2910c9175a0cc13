"""The feeds: WORK, a record's feed, the seven CRM Information scenes (seed 001)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import pytest

from crmfeed.app import create_app
from tests.conftest import Api
from tests.feed_helpers import Org, Person, feed, feed_ids, new_org, post

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from crmfeed.app import Services

RECORD_FEED = """
query($id: ID!, $types: [FeedItemType!], $first: Int, $after: String) {
  record(id: $id) {
    feed(types: $types, first: $first, after: $after) {
      totalCount
      edges { node { id type } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""


@pytest.fixture
async def org(api: Api) -> Org:
    return await new_org(api)


# -- WORK and record feeds -----------------------------------------------------------------------


async def test_work_feed_is_newest_first(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    contact = await org.record(ann, "CONTACT", "Lu")
    posted = [
        (await post(org, ann, "First", related=[account]))["id"],
        (await post(org, ann, "Second", related=[contact]))["id"],
        (await post(org, ann, "Third", related=[account]))["id"],
    ]
    assert await feed_ids(org, ann) == posted[::-1]


async def test_types_filter_lists_only_the_given_types(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    opportunity = await org.record(ann, "OPPORTUNITY", "Deal")
    sales = (await post(org, ann, related=[account]))["id"]
    service = (await post(org, ann, related=[account], type="SERVICE_RECORD"))["id"]
    await org.update(ann, opportunity, salesStage="PROPOSAL")
    [process] = await feed_ids(org, ann, types=["SALES_PROCESS"])
    assert await feed_ids(org, ann, types=["SERVICE_RECORD"]) == [service]
    assert await feed_ids(org, ann, types=["SALES_RECORD", "SALES_PROCESS"]) == [process, sales]
    assert await feed_ids(org, ann, types=["TASK"]) == []
    assert await feed_ids(org, ann, record=account, types=["SALES_RECORD"]) == [sales]
    assert await feed_ids(org, ann, "MY_ACCOUNTS", types=["SERVICE_RECORD"]) == [service]


async def test_keyset_paging_continues_where_the_last_page_ended_despite_new_items(
    org: Org,
) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    old = [(await post(org, ann, f"Old {n}", related=[account]))["id"] for n in range(5)]
    page1 = await feed(org, ann, first=2)
    assert [e["node"]["id"] for e in page1["edges"]] == [old[4], old[3]]
    assert page1["pageInfo"]["hasNextPage"] is True
    assert page1["pageInfo"]["endCursor"] == page1["edges"][-1]["cursor"]
    new = [(await post(org, ann, f"New {n}", related=[account]))["id"] for n in range(2)]
    page2 = await feed(org, ann, first=2, after=page1["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in page2["edges"]] == [old[2], old[1]]
    assert page2["totalCount"] == 7
    page3 = await feed(org, ann, first=2, after=page2["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in page3["edges"]] == [old[0]]
    assert page3["pageInfo"]["hasNextPage"] is False
    assert await feed_ids(org, ann) == new[::-1] + old[::-1]


async def test_a_cursor_that_is_not_from_the_list_is_refused(org: Org) -> None:
    ann = await org.user("Ann")
    error = await org.api.error(
        'query { feed(after: "not-a-cursor") { totalCount } }', token=ann.token
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


async def test_feed_of_a_record_i_cannot_read_is_not_found(org: Org) -> None:
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(bob, "ACCOUNT", "Bob's")
    await post(org, bob, related=[account])
    query = "query($r: ID!) { feed(recordId: $r) { totalCount } }"
    hidden = await org.api.error(query, {"r": account}, ann.token)
    missing = await org.api.error(query, {"r": "rec_999999999"}, ann.token)
    assert hidden["extensions"]["code"] == missing["extensions"]["code"] == "NOT_FOUND"
    assert hidden["message"].replace(account, "ID") == missing["message"].replace(
        "rec_999999999", "ID"
    )


async def test_record_feed_lists_only_that_records_activity(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    other = await org.record(ann, "ACCOUNT", "Other")
    contact = await org.record(ann, "CONTACT", "Lu")
    mine = [
        (await post(org, ann, "A", related=[account]))["id"],
        (await post(org, ann, "B", related=[contact], account=account))["id"],
        (await post(org, ann, "C", related=[account], type="SERVICE_RECORD"))["id"],
    ]
    await post(org, ann, "Elsewhere", related=[other])
    data = await org.api.ok(RECORD_FEED, {"id": account}, ann.token)
    connection = data["record"]["feed"]
    assert [e["node"]["id"] for e in connection["edges"]] == mine[::-1]
    assert connection["totalCount"] == 3
    typed = await org.api.ok(RECORD_FEED, {"id": account, "types": ["SERVICE_RECORD"]}, ann.token)
    assert [e["node"]["id"] for e in typed["record"]["feed"]["edges"]] == [mine[2]]


async def test_record_feed_pages_by_cursor(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    posted = [(await post(org, ann, f"N{n}", related=[account]))["id"] for n in range(3)]
    first = await org.api.ok(RECORD_FEED, {"id": account, "first": 2}, ann.token)
    connection = first["record"]["feed"]
    assert [e["node"]["id"] for e in connection["edges"]] == [posted[2], posted[1]]
    after = connection["pageInfo"]["endCursor"]
    rest = await org.api.ok(RECORD_FEED, {"id": account, "first": 2, "after": after}, ann.token)
    assert [e["node"]["id"] for e in rest["record"]["feed"]["edges"]] == [posted[0]]
    assert rest["record"]["feed"]["pageInfo"]["hasNextPage"] is False


# -- the CRM Information scenes (seed 001) -------------------------------------------------------


@dataclass
class SceneWorld:
    """`me` with subordinates, a headed department and records of every kind; `items` maps a
    label to the id of the one item posted on that label's record."""

    org: Org
    me: Person
    items: dict[str, str] = field(default_factory=dict)


async def scene_world(org: Org) -> SceneWorld:
    me = await org.user("Me")
    sub = await org.user("Sub", superior=me)
    deep = await org.user("Deep", superior=sub)
    outsider = await org.user("Outsider")
    headed = await org.department("Headed", head=me)
    nested = await org.department("Nested", parent=headed)
    staff = await org.user("Staff", department=headed)
    nested_staff = await org.user("NestedStaff", department=nested)
    world = SceneWorld(org, me)

    async def item(label: str, who: Person, object_type: str) -> str:
        record = await org.record(who, object_type, label)
        world.items[label] = (await post(org, who, label, related=[record]))["id"]
        return record

    await item("my account", me, "ACCOUNT")
    await item("my contact", me, "CONTACT")
    await item("my opportunity", me, "OPPORTUNITY")
    await item("my lead", me, "SALES_LEAD")
    served = await org.record(outsider, "ACCOUNT", "served")
    await org.add_member(outsider, served, sub, role="AFTER_SALES")
    world.items["outsider account served by sub"] = (
        await post(org, outsider, "served", related=[served])
    )["id"]
    served_contact = await org.record(outsider, "CONTACT", "served contact")
    await org.add_member(outsider, served_contact, sub, role="REGULAR_MEMBER")
    world.items["outsider contact served by sub"] = (
        await post(org, outsider, "served contact", related=[served_contact])
    )["id"]
    await item("sub account", sub, "ACCOUNT")
    await item("sub contact", sub, "CONTACT")
    await item("deep opportunity", deep, "OPPORTUNITY")
    await item("sub lead", sub, "SALES_LEAD")
    await item("staff account", staff, "ACCOUNT")
    await item("nested contact", nested_staff, "CONTACT")
    await item("staff lead", staff, "SALES_LEAD")
    await item("outsider account", outsider, "ACCOUNT")
    return world


SCENE_ITEMS = {
    "MY_ACCOUNTS": {"my account"},
    "MY_CONTACTS": {"my contact"},
    "MY_OPPORTUNITIES": {"my opportunity"},
    "MY_SALES_LEADS": {"my lead"},
    # the owner sits in the related team, so the sub's own account is "followed" by them too
    "SUBORDINATES_TEAM_ACCOUNTS": {"outsider account served by sub", "sub account"},
    "SUBORDINATES_RECORDS": {"sub account", "sub contact", "deep opportunity"},
    "MY_DEPARTMENTS_RECORDS": {"staff account", "nested contact"},
    "WORK": {
        "my account",
        "my contact",
        "my opportunity",
        "my lead",
        "outsider account served by sub",
        "outsider contact served by sub",
        "sub account",
        "sub contact",
        "deep opportunity",
        "sub lead",
        "staff account",
        "nested contact",
        "staff lead",
    },
}


@pytest.fixture(scope="module")
async def world(services: Services) -> AsyncIterator[SceneWorld]:
    """Built once per database for this module: the scene tests only read."""
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield await scene_world(await new_org(Api(client, services)))


@pytest.mark.parametrize("scene", list(SCENE_ITEMS))
async def test_each_scene_lists_the_activity_of_its_records(world: SceneWorld, scene: str) -> None:
    org = world.org
    labels = {item_id: label for label, item_id in world.items.items()}
    listed = await feed_ids(org, world.me, scene)
    assert {labels[item_id] for item_id in listed} == SCENE_ITEMS[scene]
    assert listed == sorted(listed, key=lambda i: int(i.split("_")[1]), reverse=True)


async def test_a_scene_lists_only_items_i_may_see(org: Org) -> None:
    me = await org.user("Me")
    sub = await org.user("Sub", superior=me)
    outsider = await org.user("Outsider")
    served = await org.record(outsider, "ACCOUNT", "Served")
    await org.add_member(outsider, served, sub, role="REGULAR_MEMBER")
    item = await post(org, outsider, related=[served])
    assert await feed_ids(org, me, "SUBORDINATES_TEAM_ACCOUNTS") == [item["id"]]
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "DISABLED")
    assert await org.can_read(me, served)
    assert await feed_ids(org, me, "SUBORDINATES_TEAM_ACCOUNTS") == []


async def test_a_scene_does_not_list_activity_of_an_invalid_record(org: Org) -> None:
    me = await org.user("Me")
    sub = await org.user("Sub", superior=me)
    account = await org.record(sub, "ACCOUNT", "Doomed")
    await post(org, sub, related=[account])
    await org.invalidate(sub, account)
    assert await feed_ids(org, me, "SUBORDINATES_RECORDS") == []


async def test_a_scene_lists_items_about_several_records_once(org: Org) -> None:
    me = await org.user("Me")
    account = await org.record(me, "ACCOUNT", "Acme")
    other = await org.record(me, "ACCOUNT", "Other")
    item = await post(org, me, related=[account, other])
    assert await feed_ids(org, me, "MY_ACCOUNTS") == [item["id"]]
