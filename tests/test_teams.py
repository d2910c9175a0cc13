"""Related teams: addTeamMembers, removeTeamMember and changeOwner."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.records_helpers import ADD_MEMBERS, UPDATE_RECORD, Org, Person, new_org

if TYPE_CHECKING:
    from tests.conftest import Api

TEAM = """
query($id: ID!) { record(id: $id) { owner { id } team { user { id } teamRole access } } }"""
REMOVE_MEMBER = """
mutation($id: ID!, $userId: ID!) {
  removeTeamMember(recordId: $id, userId: $userId) { id team { user { id } } }
}"""
CHANGE_OWNER = """
mutation($id: ID!, $newOwnerId: ID!, $oldOwner: OldOwnerHandling, $access: DataAccess,
         $role: TeamRole) {
  changeOwner(id: $id, newOwnerId: $newOwnerId, oldOwner: $oldOwner, oldOwnerAccess: $access,
              oldOwnerTeamRole: $role) {
    id owner { id } team { user { id } teamRole access }
  }
}"""


def member(person: Person, role: str = "REGULAR_MEMBER", access: str = "READ_ONLY") -> dict:
    return {"userId": person.id, "teamRole": role, "access": access}


async def team_of(org: Org, who: Person, record_id: str) -> list[dict[str, Any]]:
    data = await org.api.ok(TEAM, {"id": record_id}, who.token)
    return [
        {"user": m["user"]["id"], "teamRole": m["teamRole"], "access": m["access"]}
        for m in data["record"]["team"]
    ]


async def add_error(
    org: Org, who: Person, record_id: str, members: list[dict], also: list[str] | None = None
) -> dict[str, Any]:
    variables = {"id": record_id, "members": members, "also": also}
    return await org.api.error(ADD_MEMBERS, variables, who.token)


# -- addTeamMembers: access it gives -------------------------------------------------------------


async def test_read_only_member_can_read_the_record(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    assert not await org.can_read(carl, account)
    await org.add_member(ann, account, carl, access="READ_ONLY")
    assert await org.can_read(carl, account)
    assert await org.listed_ids(carl) == [account]


async def test_added_members_appear_in_the_team_after_the_owner(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    data = await api.ok(
        ADD_MEMBERS,
        {
            "id": account,
            "members": [member(carl, "CO_FOLLOWER"), member(dora, "AFTER_SALES", "READ_WRITE")],
        },
        ann.token,
    )
    assert data["addTeamMembers"]["team"][0] == {
        "user": {"id": ann.id},
        "teamRole": "OWNER",
        "access": "READ_WRITE",
    }
    assert await team_of(org, ann, account) == [
        {"user": ann.id, "teamRole": "OWNER", "access": "READ_WRITE"},
        {"user": carl.id, "teamRole": "CO_FOLLOWER", "access": "READ_ONLY"},
        {"user": dora.id, "teamRole": "AFTER_SALES", "access": "READ_WRITE"},
    ]


async def test_read_write_member_can_edit(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, access="READ_WRITE")
    assert (await org.update(carl, account, name="Edited by Carl"))["name"] == "Edited by Carl"


async def test_superior_of_a_member_at_any_depth_can_read(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    boss = await org.user("Boss")
    lead = await org.user("Lead", superior=boss)
    carl = await org.user("Carl", superior=lead)
    account = await org.record(ann, "ACCOUNT")
    assert not await org.can_read(boss, account)
    await org.add_member(ann, account, carl)
    assert await org.can_read(lead, account)
    assert await org.can_read(boss, account)
    assert await org.total(boss) == 1


async def test_adding_an_existing_member_again_updates_role_and_access(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, "REGULAR_MEMBER", "READ_ONLY")
    await org.add_member(ann, account, carl, "CO_FOLLOWER", "READ_WRITE")
    assert await team_of(org, ann, account) == [
        {"user": ann.id, "teamRole": "OWNER", "access": "READ_WRITE"},
        {"user": carl.id, "teamRole": "CO_FOLLOWER", "access": "READ_WRITE"},
    ]


async def test_read_only_member_may_not_add_members(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, access="READ_ONLY")
    error = await add_error(org, carl, account, [member(dora)])
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert not await org.can_read(dora, account)


async def test_read_write_member_may_add_members(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, access="READ_WRITE")
    await org.add_member(carl, account, dora)
    assert await org.can_read(dora, account)


async def test_adding_members_to_an_unassigned_account_is_forbidden(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT", status="UNASSIGNED")
    error = await add_error(org, ann, account, [member(carl)])
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "UNASSIGNED" in error["message"]
    assert not await org.can_read(carl, account)


async def test_adding_members_to_an_unreadable_record_is_not_found(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    hidden = await org.record(bob, "ACCOUNT")
    error = await add_error(org, ann, hidden, [member(ann)])
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert not await org.can_read(ann, hidden)


# -- addTeamMembers: bad input -------------------------------------------------------------------


async def test_team_role_the_object_does_not_have_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    lead = await org.record(ann, "SALES_LEAD")
    error = await add_error(org, ann, lead, [member(carl, "AFTER_SALES")])
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "members.teamRole"
    assert "AFTER_SALES" in error["message"]
    assert await team_of(org, ann, lead) == [
        {"user": ann.id, "teamRole": "OWNER", "access": "READ_WRITE"}
    ]


async def test_owner_team_role_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    error = await add_error(org, ann, account, [member(carl, "OWNER", "READ_WRITE")])
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "changeOwner" in error["message"]
    assert not await org.can_read(carl, account)


@pytest.mark.parametrize("user_id", ["usr_999999999", "dep_1", "nobody"])
async def test_unknown_user_is_bad_user_input(api: Api, user_id: str) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    members = [member(carl), {"userId": user_id, "teamRole": "CO_FOLLOWER", "access": "READ_ONLY"}]
    error = await add_error(org, ann, account, members)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "members.userId"
    assert not await org.can_read(carl, account)


async def test_user_of_another_enterprise_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    stranger = (await new_org(api, "Eve")).admin
    account = await org.record(org.admin, "ACCOUNT")
    error = await add_error(org, org.admin, account, [member(stranger)])
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert await org.api.ok(TEAM, {"id": account}, stranger.token) == {"record": None}


async def test_duplicate_user_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    members = [member(carl), member(carl, "CO_FOLLOWER")]
    error = await add_error(org, ann, account, members)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == "members"
    assert not await org.can_read(carl, account)


async def test_empty_member_list_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT")
    error = await add_error(org, org.admin, account, [])
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "members"}


async def test_bad_second_member_writes_nothing(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    dora = await org.user("Dora")
    opportunity = await org.record(ann, "OPPORTUNITY")
    error = await add_error(org, ann, opportunity, [member(carl), member(dora, "AFTER_SALES")])
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert not await org.can_read(carl, opportunity)


# -- addTeamMembers: also to related records -----------------------------------------------------


async def test_members_added_to_an_account_also_join_its_contact_and_opportunity(
    api: Api,
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    contact = await org.record(ann, "CONTACT", accountId=account)
    opportunity = await org.record(ann, "OPPORTUNITY", accountId=account)
    unrelated = await org.record(ann, "CONTACT")
    await org.add_member(
        ann, account, carl, "CO_FOLLOWER", "READ_WRITE", also=[contact, opportunity]
    )
    joined = {"user": carl.id, "teamRole": "CO_FOLLOWER", "access": "READ_WRITE"}
    for record_id in (account, contact, opportunity):
        assert joined in await team_of(org, ann, record_id)
    assert set(await org.listed_ids(carl, "CONTACT")) == {contact}
    assert not await org.can_read(carl, unrelated)


async def test_also_add_to_an_unrelated_record_is_refused_and_writes_nothing(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    other_account = await org.record(ann, "ACCOUNT")
    unrelated = await org.record(ann, "CONTACT", accountId=other_account)
    error = await add_error(org, ann, account, [member(carl)], also=[unrelated])
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "alsoAddToRecordIds"}
    assert "not related" in error["message"]
    assert not await org.can_read(carl, account)
    assert not await org.can_read(carl, unrelated)


async def test_also_add_from_a_contact_is_refused(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    contact = await org.record(ann, "CONTACT", accountId=account)
    error = await add_error(org, ann, contact, [member(carl)], also=[account])
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "alsoAddToRecordIds"}
    assert not await org.can_read(carl, contact)
    assert not await org.can_read(carl, account)


async def test_also_add_to_an_unreadable_record_reads_like_a_missing_one(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    hidden = await org.record(bob, "CONTACT", owner=bob)
    refused = await add_error(org, ann, account, [member(carl)], also=[hidden])
    missing = await add_error(org, ann, account, [member(carl)], also=["rec_999999999"])
    assert (
        refused["extensions"]
        == missing["extensions"]
        == {
            "code": "BAD_USER_INPUT",
            "field": "alsoAddToRecordIds",
        }
    )
    assert refused["message"].replace(hidden, "<id>") == missing["message"].replace(
        "rec_999999999", "<id>"
    )
    assert not await org.can_read(carl, account)


async def test_second_target_refusing_the_role_writes_nothing_on_the_first(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    opportunity = await org.record(ann, "OPPORTUNITY", accountId=account)
    error = await add_error(org, ann, account, [member(carl, "AFTER_SALES")], also=[opportunity])
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Opportunity" in error["message"]
    assert not await org.can_read(carl, account)
    assert not await org.can_read(carl, opportunity)


async def test_second_target_the_caller_may_not_change_writes_nothing_on_the_first(
    api: Api,
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    bobs_contact = await org.record(org.admin, "CONTACT", owner=bob, accountId=account)
    await org.add_member(bob, bobs_contact, ann, access="READ_ONLY")
    error = await add_error(org, ann, account, [member(carl)], also=[bobs_contact])
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert not await org.can_read(carl, account)
    assert not await org.can_read(carl, bobs_contact)


# -- removeTeamMember ----------------------------------------------------------------------------


async def test_removed_member_loses_access(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, access="READ_WRITE")
    data = await api.ok(REMOVE_MEMBER, {"id": account, "userId": carl.id}, ann.token)
    assert data["removeTeamMember"]["team"] == [{"user": {"id": ann.id}}]
    assert not await org.can_read(carl, account)
    assert await org.total(carl) == 0
    error = await api.error(UPDATE_RECORD, {"id": account, "values": {"name": "X"}}, carl.token)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_superior_of_removed_member_loses_access(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    boss = await org.user("Boss")
    carl = await org.user("Carl", superior=boss)
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl)
    await api.ok(REMOVE_MEMBER, {"id": account, "userId": carl.id}, ann.token)
    assert not await org.can_read(boss, account)


async def test_removing_the_owner_is_refused(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT")
    error = await api.error(REMOVE_MEMBER, {"id": account, "userId": ann.id}, ann.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "userId"}
    assert "changeOwner" in error["message"]
    assert await team_of(org, ann, account) == [
        {"user": ann.id, "teamRole": "OWNER", "access": "READ_WRITE"}
    ]


async def test_removing_a_non_member_is_refused(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    error = await api.error(REMOVE_MEMBER, {"id": account, "userId": carl.id}, ann.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "userId"}


async def test_read_only_member_may_not_remove_members(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl)
    await org.add_member(ann, account, dora)
    error = await api.error(REMOVE_MEMBER, {"id": account, "userId": dora.id}, carl.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert await org.can_read(dora, account)


async def test_removing_from_an_unreadable_record_is_not_found(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    hidden = await org.record(bob, "ACCOUNT")
    error = await api.error(REMOVE_MEMBER, {"id": hidden, "userId": bob.id}, ann.token)
    assert error["extensions"]["code"] == "NOT_FOUND"


# -- changeOwner ---------------------------------------------------------------------------------


async def change_owner(org: Org, who: Person, record_id: str, new: Person, **options: Any) -> dict:
    variables = {"id": record_id, "newOwnerId": new.id, **options}
    data = await org.api.ok(CHANGE_OWNER, variables, who.token)
    return data["changeOwner"]


async def test_change_owner_removing_the_old_owner_takes_their_access(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(ann, "ACCOUNT")
    changed = await change_owner(org, ann, account, bob, oldOwner="REMOVE")
    assert changed["owner"] == {"id": bob.id}
    assert changed["team"] == [
        {"user": {"id": bob.id}, "teamRole": "OWNER", "access": "READ_WRITE"}
    ]
    assert not await org.can_read(ann, account)
    assert await org.listed_ids(bob) == [account]


async def test_change_owner_removes_the_old_owner_by_default(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(ann, "ACCOUNT")
    await change_owner(org, ann, account, bob)
    assert not await org.can_read(ann, account)


async def test_old_owner_removed_keeps_access_another_rule_grants(api: Api) -> None:
    org = await new_org(api)
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    account = await org.record(boss, "ACCOUNT")
    await change_owner(org, boss, account, ann)
    assert await org.can_read(boss, account)  # still Ann's superior


async def test_change_owner_keeping_the_old_owner_as_member(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(ann, "ACCOUNT")
    changed = await change_owner(
        org,
        ann,
        account,
        bob,
        oldOwner="KEEP_AS_MEMBER",
        access="READ_WRITE",
        role="CO_FOLLOWER",
    )
    assert changed["team"] == [
        {"user": {"id": bob.id}, "teamRole": "OWNER", "access": "READ_WRITE"},
        {"user": {"id": ann.id}, "teamRole": "CO_FOLLOWER", "access": "READ_WRITE"},
    ]
    assert (await org.update(ann, account, name="Still editing"))["name"] == "Still editing"


async def test_old_owner_kept_read_only_can_read_but_not_edit(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(ann, "ACCOUNT")
    await change_owner(org, ann, account, bob, oldOwner="KEEP_AS_MEMBER", access="READ_ONLY")
    assert {"user": ann.id, "teamRole": "REGULAR_MEMBER", "access": "READ_ONLY"} in (
        await team_of(org, bob, account)
    )
    assert await org.can_read(ann, account)
    error = await api.error(UPDATE_RECORD, {"id": account, "values": {"name": "X"}}, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_new_owner_who_was_a_member_becomes_owner_only(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, "CO_FOLLOWER", "READ_ONLY")
    changed = await change_owner(org, ann, account, carl)
    assert changed["team"] == [
        {"user": {"id": carl.id}, "teamRole": "OWNER", "access": "READ_WRITE"}
    ]


async def test_change_owner_keeping_old_owner_with_a_role_the_object_lacks_is_refused(
    api: Api,
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    lead = await org.record(ann, "SALES_LEAD")
    variables = {
        "id": lead,
        "newOwnerId": bob.id,
        "oldOwner": "KEEP_AS_MEMBER",
        "role": "AFTER_SALES",
    }
    error = await api.error(CHANGE_OWNER, variables, ann.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "oldOwnerTeamRole"}
    assert not await org.can_read(bob, lead)


async def test_change_owner_to_the_current_owner_is_refused(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT")
    error = await api.error(CHANGE_OWNER, {"id": account, "newOwnerId": ann.id}, ann.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "newOwnerId"}


@pytest.mark.parametrize("new_owner", ["usr_999999999", "rec_1"])
async def test_change_owner_to_an_unknown_user_is_refused(api: Api, new_owner: str) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT")
    error = await api.error(CHANGE_OWNER, {"id": account, "newOwnerId": new_owner}, ann.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "newOwnerId"}
    assert await org.can_read(ann, account)


async def test_read_write_member_may_not_change_owner(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, access="READ_WRITE")
    error = await api.error(CHANGE_OWNER, {"id": account, "newOwnerId": carl.id}, carl.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "the owner" in error["message"]
    assert (await api.ok(TEAM, {"id": account}, ann.token))["record"]["owner"] == {"id": ann.id}


async def test_change_owner_of_a_lead_in_a_status_nobody_may_is_forbidden(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    lead = await org.record(ann, "SALES_LEAD", status="UNASSIGNED")
    error = await api.error(CHANGE_OWNER, {"id": lead, "newOwnerId": bob.id}, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "UNASSIGNED" in error["message"]


async def test_change_owner_of_an_account_in_highseas_is_forbidden(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(ann, "ACCOUNT", status="UNASSIGNED")  # in the highseas
    error = await api.error(CHANGE_OWNER, {"id": account, "newOwnerId": bob.id}, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "highseas" in error["message"]


async def test_change_owner_without_the_function_permission_is_forbidden(api: Api) -> None:
    org = await new_org(api)
    nobody = await org.user("Nobody", roles=[])
    bob = await org.user("Bob")
    account = await org.record(org.admin, "ACCOUNT", owner=nobody)
    error = await api.error(CHANGE_OWNER, {"id": account, "newOwnerId": bob.id}, nobody.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "Account.changeOwner" in error["message"]


async def test_change_owner_of_an_unreadable_record_is_not_found(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    hidden = await org.record(bob, "ACCOUNT")
    error = await api.error(CHANGE_OWNER, {"id": hidden, "newOwnerId": ann.id}, ann.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert not await org.can_read(ann, hidden)
