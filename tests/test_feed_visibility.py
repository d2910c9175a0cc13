"""Who sees a feed item (seed 000 and seed 004 FAQ 2 situations 1-3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.feed_helpers import (
    Org,
    Person,
    feed,
    feed_ids,
    feed_item,
    feed_total,
    new_org,
    post,
)

if TYPE_CHECKING:
    from tests.conftest import Api

LIKE = "mutation($id: ID!) { like(itemId: $id) { id likeCount } }"
REPLY = 'mutation($id: ID!) { reply(itemId: $id, content: "Hi") { id } }'
RECORD_FEED = """
query($id: ID!) { record(id: $id) { id feed(first: 50) { totalCount edges { node { id } } } } }"""


@pytest.fixture
async def org(api: Api) -> Org:
    return await new_org(api)


async def sees(org: Org, who: Person, item_id: str) -> bool:
    """`who` sees the item in WORK and through feedItem (both agree)."""
    listed = item_id in await feed_ids(org, who)
    opened = await feed_item(org, who, item_id) is not None
    assert listed == opened, f"WORK feed says {listed}, feedItem says {opened}"
    return listed


async def record_feed(org: Org, who: Person, record_id: str) -> list[str]:
    """Item ids of `Record.feed` as `who`; checks `feed(recordId:)` agrees."""
    data = await org.api.ok(RECORD_FEED, {"id": record_id}, who.token)
    connection = data["record"]["feed"]
    ids = [edge["node"]["id"] for edge in connection["edges"]]
    assert connection["totalCount"] == len(ids)
    assert await feed_ids(org, who, record=record_id) == ids
    return ids


# -- the people an item names --------------------------------------------------------------------


async def test_author_sees_their_own_item(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = await post(org, ann, related=[account])
    assert await sees(org, ann, item["id"])


async def test_mentioned_and_cc_users_see_an_item_about_a_record_they_cannot_read(
    org: Org,
) -> None:
    ann = await org.user("Ann")
    mia = await org.user("Mia")
    cid = await org.user("Cid")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = await post(org, ann, related=[account], account=account, mentions=[mia.id], cc=[cid.id])
    for named in (mia, cid):
        assert await sees(org, named, item["id"])
        assert not await org.can_read(named, account)
        seen = await feed_item(org, named, item["id"])
        assert seen is not None
        assert seen["relatedTo"] == []
        assert seen["account"] is None


# -- the record's owner side ---------------------------------------------------------------------


async def test_owner_sees_an_item_a_team_member_posted(org: Org) -> None:
    owner = await org.user("Owner")
    member = await org.user("Member")
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.add_member(owner, account, member)
    item = await post(org, member, related=[account])
    assert await sees(org, owner, item["id"])
    assert await record_feed(org, owner, account) == [item["id"]]


async def test_owners_superior_two_levels_up_sees_the_item(org: Org) -> None:
    top = await org.user("Top")
    middle = await org.user("Middle", superior=top)
    owner = await org.user("Owner", superior=middle)
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, related=[account])
    assert await sees(org, middle, item["id"])
    assert await sees(org, top, item["id"])
    seen = await feed_item(org, top, item["id"])
    assert seen is not None and [r["id"] for r in seen["relatedTo"]] == [account]


async def test_crm_admin_sees_an_item_they_are_not_named_on(org: Org) -> None:
    owner = await org.user("Owner")
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, related=[account])
    assert await sees(org, org.admin, item["id"])


async def test_heads_of_the_owners_department_and_of_its_parent_see_the_item(org: Org) -> None:
    parent_head = await org.user("ParentHead")
    head = await org.user("Head")
    parent = await org.department("Sales", head=parent_head)
    child = await org.department("Sales East", parent=parent, head=head)
    owner = await org.user("Owner", department=child)
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, related=[account])
    assert await sees(org, head, item["id"])
    assert await sees(org, parent_head, item["id"])


async def test_head_of_a_sibling_department_does_not_see_the_item(org: Org) -> None:
    sibling_head = await org.user("SiblingHead")
    parent = await org.department("Sales")
    await org.department("Sales West", parent=parent, head=sibling_head)
    east = await org.department("Sales East", parent=parent)
    owner = await org.user("Owner", department=east)
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, related=[account])
    assert not await sees(org, sibling_head, item["id"])


# -- the related team (FAQ 2, situations 1 and 2) -----------------------------------------------


async def test_read_only_team_member_and_their_superior_see_others_items(org: Org) -> None:
    owner = await org.user("Owner")
    boss = await org.user("Boss")
    member = await org.user("Member", superior=boss)
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.add_member(owner, account, member, role="REGULAR_MEMBER")
    item = await post(org, owner, related=[account])
    assert await sees(org, member, item["id"])
    assert await sees(org, boss, item["id"])


async def test_disabled_team_role_hides_others_items_though_the_member_reads_the_account(
    org: Org,
) -> None:
    owner = await org.user("Owner")
    member = await org.user("Member")
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.add_member(owner, account, member, role="REGULAR_MEMBER")
    item = await post(org, owner, related=[account])
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "DISABLED")
    assert await org.can_read(member, account)
    assert not await sees(org, member, item["id"])
    assert await record_feed(org, member, account) == []


async def test_disabled_member_still_sees_their_own_item_on_the_account(org: Org) -> None:
    owner = await org.user("Owner")
    member = await org.user("Member")
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.add_member(owner, account, member, role="REGULAR_MEMBER")
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "DISABLED")
    others = await post(org, owner, "Owner's note", related=[account])
    own = await post(org, member, "Member's note", related=[account])
    assert await record_feed(org, member, account) == [own["id"]]
    assert others["id"] not in await feed_ids(org, member)


async def test_follow_up_setting_is_per_object_type_and_team_role(org: Org) -> None:
    owner = await org.user("Owner")
    member = await org.user("Member")
    follower = await org.user("Follower")
    account = await org.record(owner, "ACCOUNT", "Acme")
    opportunity = await org.record(owner, "OPPORTUNITY", "Deal")
    await org.add_member(owner, account, member, role="REGULAR_MEMBER")
    await org.add_member(owner, account, follower, role="CO_FOLLOWER")
    await org.add_member(owner, opportunity, member, role="REGULAR_MEMBER")
    on_account = await post(org, owner, related=[account])
    on_opportunity = await post(org, owner, related=[opportunity])
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "DISABLED")
    assert not await sees(org, member, on_account["id"])
    assert await sees(org, member, on_opportunity["id"])
    assert await sees(org, follower, on_account["id"])


async def test_disabling_then_reenabling_follow_up_restores_the_members_view(org: Org) -> None:
    owner = await org.user("Owner")
    member = await org.user("Member")
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.add_member(owner, account, member, role="AFTER_SALES")
    item = await post(org, owner, related=[account])
    await org.set_follow_up("ACCOUNT", "AFTER_SALES", "DISABLED")
    assert not await sees(org, member, item["id"])
    await org.set_follow_up("ACCOUNT", "AFTER_SALES", "READ_ONLY")
    assert await sees(org, member, item["id"])


async def test_superior_of_a_disabled_member_inherits_the_setting(org: Org) -> None:
    owner = await org.user("Owner")
    boss = await org.user("Boss")
    member = await org.user("Member", superior=boss)
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.add_member(owner, account, member, role="REGULAR_MEMBER")
    item = await post(org, owner, related=[account])
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "DISABLED")
    assert await org.can_read(boss, account)
    assert not await sees(org, boss, item["id"])


async def test_superior_of_a_disabled_member_with_another_grant_still_sees_the_item(
    org: Org,
) -> None:
    boss = await org.user("Boss")
    member = await org.user("Member", superior=boss)
    department = await org.department("Key accounts", head=boss)
    owner = await org.user("Owner", department=department)
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.add_member(owner, account, member, role="REGULAR_MEMBER")
    item = await post(org, owner, related=[account])
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "DISABLED")
    assert not await sees(org, member, item["id"])
    assert await sees(org, boss, item["id"])


# -- data sharing (FAQ 2, situation 3) -----------------------------------------------------------


async def test_sharing_party_sees_items_until_sharing_is_closed_to_follow_up(org: Org) -> None:
    owner = await org.user("Owner")
    partner = await org.user("Partner")
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.share("ACCOUNT", fromUserId=owner.id, toUserId=partner.id)
    item = await post(org, owner, related=[account])
    assert await sees(org, partner, item["id"])
    await org.sharing_opens_follow_up(False)
    assert await org.can_read(partner, account)
    assert not await sees(org, partner, item["id"])
    assert await record_feed(org, partner, account) == []
    await org.sharing_opens_follow_up(True)
    assert await sees(org, partner, item["id"])


async def test_department_sharing_opens_follow_up_to_members_of_sub_departments(
    org: Org,
) -> None:
    owner = await org.user("Owner")
    partners = await org.department("Partners")
    nested = await org.department("Partners North", parent=partners)
    partner = await org.user("Partner", department=nested)
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.share("ACCOUNT", fromUserId=owner.id, toDepartmentId=partners)
    item = await post(org, owner, related=[account])
    assert await sees(org, partner, item["id"])


async def test_closing_sharing_to_follow_up_leaves_the_owners_superior_alone(org: Org) -> None:
    boss = await org.user("Boss")
    owner = await org.user("Owner", superior=boss)
    account = await org.record(owner, "ACCOUNT", "Acme")
    await org.share("ACCOUNT", fromUserId=owner.id, toUserId=boss.id)
    item = await post(org, owner, related=[account])
    await org.sharing_opens_follow_up(False)
    assert await sees(org, boss, item["id"])


# -- several related records ---------------------------------------------------------------------


async def test_item_on_a_readable_and_a_hidden_record_lists_only_the_readable_one(
    org: Org,
) -> None:
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    mine = await org.record(ann, "ACCOUNT", "Ann's account")
    hidden = await org.record(bob, "OPPORTUNITY", "Bob's deal")
    await org.add_member(bob, hidden, ann, role="REGULAR_MEMBER")
    item = await post(org, ann, related=[mine, hidden])
    await org.api.ok(
        "mutation($r: ID!, $u: ID!) { removeTeamMember(recordId: $r, userId: $u) { id } }",
        {"r": hidden, "u": ann.id},
        bob.token,
    )
    # Bob sees the item through his opportunity but may not read Ann's account.
    seen = await feed_item(org, bob, item["id"])
    assert seen is not None
    assert [r["id"] for r in seen["relatedTo"]] == [hidden]
    page = await feed(org, bob)
    assert [e["node"]["relatedTo"] for e in page["edges"]] == [[{"id": hidden}]]
    assert await feed_ids(org, bob, record=hidden) == [item["id"]]


async def test_one_open_related_record_is_enough_to_see_the_item(org: Org) -> None:
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    carl = await org.user("Carl")
    first = await org.record(ann, "ACCOUNT", "First")
    second = await org.record(org.admin, "CONTACT", "Second", owner=carl)
    await org.add_member(carl, second, ann)
    item = await post(org, ann, related=[first, second])
    assert await sees(org, carl, item["id"])
    assert not await sees(org, bob, item["id"])


# -- people with no link -------------------------------------------------------------------------


async def test_unrelated_colleague_sees_nothing(org: Org) -> None:
    owner = await org.user("Owner")
    stranger = await org.user("Stranger")
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, related=[account])
    page = await feed(org, stranger)
    assert page["totalCount"] == 0 and page["edges"] == []
    assert await feed_item(org, stranger, item["id"]) is None
    error = await org.api.error(LIKE, {"id": item["id"]}, stranger.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    missing = await org.api.error(LIKE, {"id": "itm_999999999"}, stranger.token)
    assert error["message"].replace(item["id"], "ID") == missing["message"].replace(
        "itm_999999999", "ID"
    )
    error = await org.api.error(REPLY, {"id": item["id"]}, stranger.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert (await feed_item(org, owner, item["id"]))["likeCount"] == 0  # type: ignore[index]


async def test_items_only_about_an_invalid_record_vanish_for_non_admins(org: Org) -> None:
    boss = await org.user("Boss")
    owner = await org.user("Owner", superior=boss)
    doomed = await org.record(owner, "ACCOUNT", "Doomed")
    kept = await org.record(owner, "CONTACT", "Kept")
    only_doomed = await post(org, owner, "Only doomed", related=[doomed])
    both = await post(org, owner, "Both", related=[doomed, kept])
    await org.invalidate(owner, doomed)
    assert await feed_ids(org, boss) == [both["id"]]
    seen = await feed_item(org, boss, both["id"])
    assert seen is not None and [r["id"] for r in seen["relatedTo"]] == [kept]
    assert await feed_item(org, boss, only_doomed["id"]) is None
    assert set(await feed_ids(org, org.admin)) == {only_doomed["id"], both["id"]}


async def test_restoring_an_invalid_record_brings_its_items_back(org: Org) -> None:
    boss = await org.user("Boss")
    owner = await org.user("Owner", superior=boss)
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, related=[account])
    await org.invalidate(owner, account)
    assert not await sees(org, boss, item["id"])
    await org.api.ok(
        "mutation($id: ID!) { restoreRecord(id: $id) { id } }", {"id": account}, org.admin.token
    )
    assert await sees(org, boss, item["id"])


async def test_another_enterprise_sees_nothing(org: Org) -> None:
    owner = await org.user("Owner")
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, related=[account])
    other = await new_org(org.api, "Other")
    assert await feed_total(other, other.admin) == 0
    assert await feed_item(other, other.admin, item["id"]) is None
    error = await other.api.error(LIKE, {"id": item["id"]}, other.admin.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = await other.api.error(
        "query($r: ID!) { feed(recordId: $r) { totalCount } }", {"r": account}, other.admin.token
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
