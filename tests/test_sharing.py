"""Sharing rules, follow-up access per team role, and the enterprise settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.records_helpers import CREATE_SHARING_RULE, UPDATE_RECORD, Org, new_org

if TYPE_CHECKING:
    from tests.conftest import Api

DELETE_RULE = "mutation($id: ID!) { deleteSharingRule(id: $id) }"
SHARING_RULES = """
{ sharingRules { id objectType access fromUser { id } fromDepartment { id } toUser { id }
                 toDepartment { id } } }"""
FOLLOW_UP_SETTINGS = """
query($type: ObjectType!) { followUpSettings(objectType: $type) { teamRole access } }"""
SET_FOLLOW_UP = """
mutation($type: ObjectType!, $role: TeamRole!, $access: FollowUpAccess!) {
  setFollowUpAccess(objectType: $type, teamRole: $role, access: $access)
}"""
ENTERPRISE_SETTINGS = "{ enterpriseSettings { sharingOpensFollowUp } }"
UPDATE_SETTINGS = """
mutation($input: EnterpriseSettingsInput!) {
  updateEnterpriseSettings(input: $input) { sharingOpensFollowUp }
}"""


async def rule_error(org: Org, token: str | None = None, **fields: Any) -> dict[str, Any]:
    data = {"objectType": "ACCOUNT", "access": "READ_ONLY", **fields}
    return await org.api.error(CREATE_SHARING_RULE, {"input": data}, token or org.admin.token)


async def rule_count(org: Org) -> int:
    data = await org.api.ok(SHARING_RULES, token=org.admin.token)
    return len(data["sharingRules"])


# -- who a rule opens records to -----------------------------------------------------------------


async def test_user_to_user_rule_shares_that_owners_records(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    dora = await org.user("Dora")
    anns = await org.record(ann, "ACCOUNT")
    bobs = await org.record(bob, "ACCOUNT")
    await org.share("ACCOUNT", fromUserId=ann.id, toUserId=dora.id)
    assert await org.listed_ids(dora) == [anns]
    assert await org.total(dora) == 1
    assert not await org.can_read(dora, bobs)


async def test_rule_also_shares_records_the_owner_creates_later(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    await org.share("ACCOUNT", fromUserId=ann.id, toUserId=dora.id)
    later = await org.record(ann, "ACCOUNT")
    assert await org.can_read(dora, later)


async def test_user_to_department_rule_covers_its_sub_departments(api: Api) -> None:
    org = await new_org(api)
    top = await org.department("Top")
    sales = await org.department("Sales", parent=top)
    east = await org.department("Sales East", parent=sales)
    ann = await org.user("Ann")
    in_sales = await org.user("Sid", department=sales)
    in_east = await org.user("Eli", department=east)
    in_top = await org.user("Tom", department=top)
    outside = await org.user("Out")
    account = await org.record(ann, "ACCOUNT")
    await org.share("ACCOUNT", fromUserId=ann.id, toDepartmentId=sales)
    assert await org.can_read(in_sales, account)
    assert await org.can_read(in_east, account)
    assert not await org.can_read(in_top, account)
    assert not await org.can_read(outside, account)


async def test_department_to_user_rule_covers_owners_in_sub_departments(api: Api) -> None:
    org = await new_org(api)
    top = await org.department("Top")
    sales = await org.department("Sales", parent=top)
    east = await org.department("Sales East", parent=sales)
    in_sales = await org.user("Sid", department=sales)
    in_east = await org.user("Eli", department=east)
    in_top = await org.user("Tom", department=top)
    dora = await org.user("Dora")
    from_sales = await org.record(in_sales, "ACCOUNT")
    from_east = await org.record(in_east, "ACCOUNT")
    from_top = await org.record(in_top, "ACCOUNT")
    await org.share("ACCOUNT", fromDepartmentId=sales, toUserId=dora.id)
    assert set(await org.listed_ids(dora)) == {from_sales, from_east}
    assert not await org.can_read(dora, from_top)


async def test_department_to_department_rule_covers_sub_departments_on_both_sides(
    api: Api,
) -> None:
    org = await new_org(api)
    sales = await org.department("Sales")
    sales_east = await org.department("Sales East", parent=sales)
    service = await org.department("Service")
    service_east = await org.department("Service East", parent=service)
    seller = await org.user("Sid", department=sales_east)
    other_seller = await org.user("Sam")
    agent = await org.user("Agnes", department=service_east)
    account = await org.record(seller, "ACCOUNT")
    hidden = await org.record(other_seller, "ACCOUNT")
    await org.share("ACCOUNT", fromDepartmentId=sales, toDepartmentId=service)
    assert await org.listed_ids(agent) == [account]
    assert not await org.can_read(agent, hidden)


async def test_rule_follows_a_user_who_moves_into_the_department(api: Api) -> None:
    org = await new_org(api)
    service = await org.department("Service")
    ann = await org.user("Ann")
    mover = await org.user("Mo")
    account = await org.record(ann, "ACCOUNT")
    await org.share("ACCOUNT", fromUserId=ann.id, toDepartmentId=service)
    assert not await org.can_read(mover, account)
    query = (
        "mutation($id: ID!, $dep: ID) { updateUser(id: $id, input: {departmentId: $dep}) { id } }"
    )
    await api.ok(query, {"id": mover.id, "dep": service}, org.admin.token)
    assert await org.can_read(mover, account)


async def test_rule_for_contacts_does_not_open_accounts(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    contact = await org.record(ann, "CONTACT")
    await org.share("CONTACT", fromUserId=ann.id, toUserId=dora.id)
    assert await org.can_read(dora, contact)
    assert not await org.can_read(dora, account)
    assert await org.total(dora, "ACCOUNT") == 0


async def test_read_only_rule_does_not_allow_editing(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT", "Kept")
    await org.share("ACCOUNT", "READ_ONLY", fromUserId=ann.id, toUserId=dora.id)
    error = await api.error(UPDATE_RECORD, {"id": account, "values": {"name": "X"}}, dora.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert (await org.get(ann, account))["name"] == "Kept"  # type: ignore[index]


async def test_read_write_rule_allows_editing(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    await org.share("ACCOUNT", "READ_WRITE", fromUserId=ann.id, toUserId=dora.id)
    assert (await org.update(dora, account, name="Shared edit"))["name"] == "Shared edit"


async def test_read_write_rule_to_a_department_allows_its_members_to_edit(api: Api) -> None:
    org = await new_org(api)
    service = await org.department("Service")
    ann = await org.user("Ann")
    agent = await org.user("Agnes", department=service)
    account = await org.record(ann, "ACCOUNT")
    await org.share("ACCOUNT", "READ_WRITE", fromUserId=ann.id, toDepartmentId=service)
    assert (await org.update(agent, account, name="Dept edit"))["name"] == "Dept edit"


async def test_deleting_a_rule_removes_the_access_it_gave(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    rule = await org.share("ACCOUNT", fromUserId=ann.id, toUserId=dora.id)
    assert await org.can_read(dora, account)
    assert await api.ok(DELETE_RULE, {"id": rule}, org.admin.token) == {"deleteSharingRule": True}
    assert not await org.can_read(dora, account)
    assert await org.total(dora) == 0
    assert await rule_count(org) == 0


# -- listing and bad input -----------------------------------------------------------------------


async def test_sharing_rules_lists_every_rule_with_its_ends(api: Api) -> None:
    org = await new_org(api)
    sales = await org.department("Sales")
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    first = await org.share("ACCOUNT", "READ_WRITE", fromUserId=ann.id, toDepartmentId=sales)
    second = await org.share("CONTACT", fromDepartmentId=sales, toUserId=dora.id)
    data = await api.ok(SHARING_RULES, token=org.admin.token)
    assert data["sharingRules"] == [
        {
            "id": first,
            "objectType": "ACCOUNT",
            "access": "READ_WRITE",
            "fromUser": {"id": ann.id},
            "fromDepartment": None,
            "toUser": None,
            "toDepartment": {"id": sales},
        },
        {
            "id": second,
            "objectType": "CONTACT",
            "access": "READ_ONLY",
            "fromUser": None,
            "fromDepartment": {"id": sales},
            "toUser": {"id": dora.id},
            "toDepartment": None,
        },
    ]


async def test_sharing_rules_of_another_enterprise_are_not_listed(api: Api) -> None:
    org = await new_org(api)
    other = await new_org(api, "Eve")
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    await org.share("ACCOUNT", fromUserId=ann.id, toUserId=dora.id)
    assert await rule_count(other) == 0


@pytest.mark.parametrize(
    ("ends", "field"),
    [
        ({"fromUserId": "A", "fromDepartmentId": "D", "toUserId": "B"}, "fromUserId"),
        ({"toUserId": "B"}, "fromUserId"),
        ({"fromUserId": "A", "toUserId": "B", "toDepartmentId": "D"}, "toUserId"),
        ({"fromUserId": "A"}, "toUserId"),
    ],
    ids=["both-from", "neither-from", "both-to", "neither-to"],
)
async def test_rule_needs_exactly_one_from_and_one_to(
    api: Api, ends: dict[str, str], field: str
) -> None:
    org = await new_org(api)
    sales = await org.department("Sales")
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    names = {"A": ann.id, "B": bob.id, "D": sales}
    error = await rule_error(org, **{key: names[value] for key, value in ends.items()})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert await rule_count(org) == 0


@pytest.mark.parametrize("field", ["fromUserId", "toUserId", "fromDepartmentId", "toDepartmentId"])
async def test_rule_with_an_unknown_id_is_bad_user_input(api: Api, field: str) -> None:
    org = await new_org(api)
    sales = await org.department("Sales")
    ann = await org.user("Ann")
    ends = {
        "fromUserId": ann.id if field.startswith("to") else None,
        "toDepartmentId": sales if field.startswith("from") else None,
    }
    ends[field] = "usr_999999999" if field.endswith("UserId") else "dep_999999999"
    error = await rule_error(org, **{k: v for k, v in ends.items() if v is not None})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert await rule_count(org) == 0


async def test_rule_with_an_id_of_the_wrong_kind_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    sales = await org.department("Sales")
    ann = await org.user("Ann")
    error = await rule_error(org, fromUserId=sales, toUserId=ann.id)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "fromUserId"}


async def test_rule_with_a_user_of_another_enterprise_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    stranger = (await new_org(api, "Eve")).admin
    ann = await org.user("Ann")
    error = await rule_error(org, fromUserId=ann.id, toUserId=stranger.id)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "toUserId"}


async def test_rule_from_a_user_to_themselves_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    error = await rule_error(org, fromUserId=ann.id, toUserId=ann.id)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_deleting_an_unknown_rule_is_not_found(api: Api) -> None:
    org = await new_org(api)
    error = await api.error(DELETE_RULE, {"id": "shr_999999999"}, org.admin.token)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_deleting_another_enterprises_rule_is_not_found(api: Api) -> None:
    org = await new_org(api)
    other = await new_org(api, "Eve")
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    rule = await org.share("ACCOUNT", fromUserId=ann.id, toUserId=dora.id)
    error = await api.error(DELETE_RULE, {"id": rule}, other.admin.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert await org.can_read(dora, account)


async def test_creating_a_rule_as_sales_is_forbidden(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    error = await rule_error(org, ann.token, fromUserId=ann.id, toUserId=dora.id)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert not await org.can_read(dora, account)
    assert await rule_count(org) == 0


async def test_deleting_a_rule_as_sales_is_forbidden(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    rule = await org.share("ACCOUNT", fromUserId=ann.id, toUserId=dora.id)
    error = await api.error(DELETE_RULE, {"id": rule}, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert await rule_count(org) == 1


async def test_listing_rules_as_sales_is_forbidden(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    body = await api.raw(SHARING_RULES, token=ann.token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# -- follow-up access per team role --------------------------------------------------------------


async def test_follow_up_settings_default_to_read_only_for_the_objects_team_roles(
    api: Api,
) -> None:
    org = await new_org(api)
    data = await api.ok(FOLLOW_UP_SETTINGS, {"type": "SALES_ORDER"}, org.admin.token)
    assert data["followUpSettings"] == [
        {"teamRole": "OWNER", "access": "READ_ONLY"},
        {"teamRole": "REGULAR_MEMBER", "access": "READ_ONLY"},
        {"teamRole": "AFTER_SALES", "access": "READ_ONLY"},
    ]


async def test_set_follow_up_access_changes_only_that_object_and_role(api: Api) -> None:
    org = await new_org(api)
    variables = {"type": "ACCOUNT", "role": "CO_FOLLOWER", "access": "DISABLED"}
    assert await api.ok(SET_FOLLOW_UP, variables, org.admin.token) == {"setFollowUpAccess": True}
    account = await api.ok(FOLLOW_UP_SETTINGS, {"type": "ACCOUNT"}, org.admin.token)
    assert account["followUpSettings"] == [
        {"teamRole": "OWNER", "access": "READ_ONLY"},
        {"teamRole": "REGULAR_MEMBER", "access": "READ_ONLY"},
        {"teamRole": "CO_FOLLOWER", "access": "DISABLED"},
        {"teamRole": "AFTER_SALES", "access": "READ_ONLY"},
    ]
    contact = await api.ok(FOLLOW_UP_SETTINGS, {"type": "CONTACT"}, org.admin.token)
    assert {"teamRole": "CO_FOLLOWER", "access": "READ_ONLY"} in contact["followUpSettings"]


async def test_set_follow_up_access_back_to_read_only(api: Api) -> None:
    org = await new_org(api)
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "DISABLED")
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "READ_ONLY")
    data = await api.ok(FOLLOW_UP_SETTINGS, {"type": "ACCOUNT"}, org.admin.token)
    assert {"teamRole": "REGULAR_MEMBER", "access": "READ_ONLY"} in data["followUpSettings"]


async def test_follow_up_settings_are_per_enterprise(api: Api) -> None:
    org = await new_org(api)
    other = await new_org(api, "Eve")
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "DISABLED")
    data = await api.ok(FOLLOW_UP_SETTINGS, {"type": "ACCOUNT"}, other.admin.token)
    assert {"teamRole": "REGULAR_MEMBER", "access": "READ_ONLY"} in data["followUpSettings"]


async def test_set_follow_up_access_for_a_role_the_object_lacks_is_bad_user_input(
    api: Api,
) -> None:
    org = await new_org(api)
    variables = {"type": "SALES_LEAD", "role": "AFTER_SALES", "access": "DISABLED"}
    error = await api.error(SET_FOLLOW_UP, variables, org.admin.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "teamRole"}
    assert "AFTER_SALES" in error["message"]


async def test_set_follow_up_access_as_sales_is_forbidden(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    variables = {"type": "ACCOUNT", "role": "REGULAR_MEMBER", "access": "DISABLED"}
    error = await api.error(SET_FOLLOW_UP, variables, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    data = await api.ok(FOLLOW_UP_SETTINGS, {"type": "ACCOUNT"}, org.admin.token)
    assert {"teamRole": "REGULAR_MEMBER", "access": "READ_ONLY"} in data["followUpSettings"]


# -- enterprise settings -------------------------------------------------------------------------


async def test_sharing_opens_follow_up_by_default(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    data = await api.ok(ENTERPRISE_SETTINGS, token=ann.token)
    assert data["enterpriseSettings"] == {"sharingOpensFollowUp": True}


async def test_update_enterprise_settings_turns_sharing_follow_up_off_and_on(api: Api) -> None:
    org = await new_org(api)
    off = await api.ok(UPDATE_SETTINGS, {"input": {"sharingOpensFollowUp": False}}, org.admin.token)
    assert off["updateEnterpriseSettings"] == {"sharingOpensFollowUp": False}
    data = await api.ok(ENTERPRISE_SETTINGS, token=org.admin.token)
    assert data["enterpriseSettings"] == {"sharingOpensFollowUp": False}
    unchanged = await api.ok(UPDATE_SETTINGS, {"input": {}}, org.admin.token)
    assert unchanged["updateEnterpriseSettings"] == {"sharingOpensFollowUp": False}
    on = await api.ok(UPDATE_SETTINGS, {"input": {"sharingOpensFollowUp": True}}, org.admin.token)
    assert on["updateEnterpriseSettings"] == {"sharingOpensFollowUp": True}


async def test_enterprise_settings_are_per_enterprise(api: Api) -> None:
    org = await new_org(api)
    other = await new_org(api, "Eve")
    await org.sharing_opens_follow_up(False)
    data = await api.ok(ENTERPRISE_SETTINGS, token=other.admin.token)
    assert data["enterpriseSettings"] == {"sharingOpensFollowUp": True}


async def test_update_enterprise_settings_as_sales_is_forbidden(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    error = await api.error(UPDATE_SETTINGS, {"input": {"sharingOpensFollowUp": False}}, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    data = await api.ok(ENTERPRISE_SETTINGS, token=org.admin.token)
    assert data["enterpriseSettings"] == {"sharingOpensFollowUp": True}
