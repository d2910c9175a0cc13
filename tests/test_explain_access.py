"""explainAccess: the data permission inspector (seed 004 FAQ 2)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.records_helpers import UPDATE_RECORD, Org, Person, new_org

if TYPE_CHECKING:
    from tests.conftest import Api

EXPLAIN = """
query($id: ID!, $userId: ID) {
  explainAccess(recordId: $id, userId: $userId) {
    canRead canWrite followUpOpen followUpReason
    reasons { rule viaUser { id } teamRole sharingRule { id } department { id } }
  }
}"""


async def explain(
    org: Org, who: Person, record_id: str, subject: Person | None = None
) -> dict[str, Any]:
    variables = {"id": record_id, "userId": subject.id if subject else None}
    data = await org.api.ok(EXPLAIN, variables, who.token)
    return data["explainAccess"]


def reason(
    rule: str,
    via: Person | None = None,
    team_role: str | None = None,
    sharing_rule: str | None = None,
    department: str | None = None,
) -> dict[str, Any]:
    return {
        "rule": rule,
        "viaUser": {"id": via.id} if via else None,
        "teamRole": team_role,
        "sharingRule": {"id": sharing_rule} if sharing_rule else None,
        "department": {"id": department} if department else None,
    }


# -- reasons -------------------------------------------------------------------------------------


async def test_owner_reason(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT")
    answer = await explain(org, ann, account)
    assert answer["reasons"] == [reason("OWNER", via=ann)]
    assert answer["canRead"] is True
    assert answer["canWrite"] is True
    assert answer["followUpOpen"] is True


async def test_superior_of_owner_reason_names_the_owner(api: Api) -> None:
    org = await new_org(api)
    boss = await org.user("Boss")
    lead = await org.user("Lead", superior=boss)
    ann = await org.user("Ann", superior=lead)
    account = await org.record(ann, "ACCOUNT")
    answer = await explain(org, boss, account)
    assert answer["reasons"] == [reason("SUPERIOR_OF_OWNER", via=ann)]
    assert answer["canWrite"] is True
    assert answer["followUpOpen"] is True


async def test_team_member_reason_names_the_team_role(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, "CO_FOLLOWER", "READ_ONLY")
    answer = await explain(org, carl, account)
    assert answer["reasons"] == [reason("TEAM_MEMBER", via=carl, team_role="CO_FOLLOWER")]
    assert answer["canRead"] is True
    assert answer["canWrite"] is False


async def test_read_write_team_member_can_write(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, "REGULAR_MEMBER", "READ_WRITE")
    answer = await explain(org, carl, account)
    assert answer["reasons"] == [reason("TEAM_MEMBER", via=carl, team_role="REGULAR_MEMBER")]
    assert answer["canWrite"] is True


async def test_superior_of_team_member_reason_names_the_subordinate_member(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    boss = await org.user("Boss")
    carl = await org.user("Carl", superior=boss)
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, "AFTER_SALES", "READ_WRITE")
    answer = await explain(org, boss, account)
    assert answer["reasons"] == [
        reason("SUPERIOR_OF_TEAM_MEMBER", via=carl, team_role="AFTER_SALES")
    ]
    assert answer["canWrite"] is True


async def test_sharing_reason_names_the_rule(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    rule = await org.share("ACCOUNT", "READ_ONLY", fromUserId=ann.id, toUserId=dora.id)
    answer = await explain(org, dora, account)
    assert answer["reasons"] == [reason("SHARING", sharing_rule=rule)]
    assert answer["canWrite"] is False


async def test_sharing_reason_through_departments_and_read_write(api: Api) -> None:
    org = await new_org(api)
    sales = await org.department("Sales")
    east = await org.department("Sales East", parent=sales)
    service = await org.department("Service")
    desk = await org.department("Service Desk", parent=service)
    seller = await org.user("Sid", department=east)
    agent = await org.user("Agnes", department=desk)
    account = await org.record(seller, "ACCOUNT")
    rule = await org.share("ACCOUNT", "READ_WRITE", fromDepartmentId=sales, toDepartmentId=service)
    answer = await explain(org, agent, account)
    assert answer["reasons"] == [reason("SHARING", sharing_rule=rule)]
    assert answer["canWrite"] is True


async def test_department_head_reason_names_the_department(api: Api) -> None:
    org = await new_org(api)
    head = await org.user("Helen")
    sales = await org.department("Sales", head=head)
    east = await org.department("Sales East", parent=sales)
    seller = await org.user("Sid", department=east)
    account = await org.record(seller, "ACCOUNT")
    answer = await explain(org, head, account)
    assert answer["reasons"] == [reason("DEPARTMENT_HEAD", department=sales)]
    assert answer["canRead"] is True
    assert answer["followUpOpen"] is True


async def test_crm_admin_reason_and_can_write_agrees_with_update(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT")
    answer = await explain(org, org.admin, account)
    assert answer["reasons"] == [reason("CRM_ADMIN")]
    assert answer["canRead"] is True
    assert answer["followUpOpen"] is True
    body = await api.raw(UPDATE_RECORD, {"id": account, "values": {"name": "X"}}, org.admin.token)
    assert answer["canWrite"] is (not body.get("errors"))


async def test_every_reason_that_holds_is_listed(api: Api) -> None:
    org = await new_org(api)
    boss = await org.user("Boss")
    sales = await org.department("Sales", head=boss)
    ann = await org.user("Ann", superior=boss, department=sales)
    carl = await org.user("Carl", superior=boss)
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, boss, "REGULAR_MEMBER", "READ_ONLY")
    await org.add_member(ann, account, carl, "CO_FOLLOWER", "READ_ONLY")
    rule = await org.share("ACCOUNT", fromUserId=ann.id, toUserId=boss.id)
    answer = await explain(org, boss, account)
    assert answer["reasons"] == [
        reason("SUPERIOR_OF_OWNER", via=ann),
        reason("TEAM_MEMBER", via=boss, team_role="REGULAR_MEMBER"),
        reason("SUPERIOR_OF_TEAM_MEMBER", via=carl, team_role="CO_FOLLOWER"),
        reason("SHARING", sharing_rule=rule),
        reason("DEPARTMENT_HEAD", department=sales),
    ]


async def test_can_write_is_false_when_the_status_forbids_editing(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", status="NOT_EFFECTIVE")
    answer = await explain(org, ann, account)
    assert answer["canRead"] is True
    assert answer["canWrite"] is False


# -- who may ask ---------------------------------------------------------------------------------


async def test_admin_may_explain_another_users_access(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, "REGULAR_MEMBER", "READ_WRITE")
    answer = await explain(org, org.admin, account, subject=carl)
    assert answer["reasons"] == [reason("TEAM_MEMBER", via=carl, team_role="REGULAR_MEMBER")]
    assert answer["canWrite"] is True


async def test_admin_explaining_a_user_without_access_gets_no_reasons(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(ann, "ACCOUNT")
    answer = await explain(org, org.admin, account, subject=bob)
    assert answer["canRead"] is False
    assert answer["canWrite"] is False
    assert answer["reasons"] == []
    assert answer["followUpOpen"] is False


async def test_user_may_explain_their_own_access_by_id(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT")
    answer = await explain(org, ann, account, subject=ann)
    assert answer["reasons"] == [reason("OWNER", via=ann)]


async def test_non_admin_explaining_another_user_is_forbidden(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    variables = {"id": account, "userId": carl.id}
    error = await api.error(EXPLAIN, variables, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_explaining_an_unreadable_record_is_not_found(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    hidden = await org.record(bob, "ACCOUNT")
    refused = await api.error(EXPLAIN, {"id": hidden}, ann.token)
    missing = await api.error(EXPLAIN, {"id": "rec_999999999"}, ann.token)
    assert refused["extensions"]["code"] == missing["extensions"]["code"] == "NOT_FOUND"


async def test_explaining_for_an_unknown_user_is_not_found(api: Api) -> None:
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT")
    variables = {"id": account, "userId": "usr_999999999"}
    error = await api.error(EXPLAIN, variables, org.admin.token)
    assert error["extensions"]["code"] == "NOT_FOUND"


# -- follow-up activity: seed 004 FAQ 2 ----------------------------------------------------------


async def test_situation_1_team_role_disabled_closes_follow_up(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, "REGULAR_MEMBER", "READ_WRITE")
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "DISABLED")
    answer = await explain(org, carl, account)
    assert answer["canRead"] is True
    assert answer["followUpOpen"] is False
    assert "Disabled" in answer["followUpReason"]
    assert "REGULAR_MEMBER" in answer["followUpReason"]


async def test_situation_1_team_role_read_only_opens_follow_up(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, "REGULAR_MEMBER", "READ_ONLY")
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "DISABLED")
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "READ_ONLY")
    answer = await explain(org, carl, account)
    assert answer["followUpOpen"] is True
    assert "REGULAR_MEMBER" in answer["followUpReason"]


async def test_disabling_one_role_leaves_other_roles_open(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, "CO_FOLLOWER")
    await org.set_follow_up("ACCOUNT", "REGULAR_MEMBER", "DISABLED")
    assert (await explain(org, carl, account))["followUpOpen"] is True


async def test_disabling_a_role_on_contacts_leaves_accounts_open(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, "REGULAR_MEMBER")
    await org.set_follow_up("CONTACT", "REGULAR_MEMBER", "DISABLED")
    assert (await explain(org, carl, account))["followUpOpen"] is True


async def test_situation_2_inherited_through_a_disabled_subordinate_is_closed(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    boss = await org.user("Boss")
    carl = await org.user("Carl", superior=boss)
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, "AFTER_SALES", "READ_ONLY")
    await org.set_follow_up("ACCOUNT", "AFTER_SALES", "DISABLED")
    answer = await explain(org, boss, account)
    assert answer["canRead"] is True
    assert answer["reasons"] == [
        reason("SUPERIOR_OF_TEAM_MEMBER", via=carl, team_role="AFTER_SALES")
    ]
    assert answer["followUpOpen"] is False
    assert "Carl" in answer["followUpReason"]
    assert "Disabled" in answer["followUpReason"]


async def test_situation_2_inherited_through_a_read_only_subordinate_is_open(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    boss = await org.user("Boss")
    carl = await org.user("Carl", superior=boss)
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, "AFTER_SALES", "READ_ONLY")
    answer = await explain(org, boss, account)
    assert answer["followUpOpen"] is True
    assert "Carl" in answer["followUpReason"]


async def test_situation_2_one_open_subordinate_is_enough(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    boss = await org.user("Boss")
    carl = await org.user("Carl", superior=boss)
    dora = await org.user("Dora", superior=boss)
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, "AFTER_SALES")
    await org.add_member(ann, account, dora, "CO_FOLLOWER")
    await org.set_follow_up("ACCOUNT", "AFTER_SALES", "DISABLED")
    answer = await explain(org, boss, account)
    assert answer["followUpOpen"] is True
    assert "Dora" in answer["followUpReason"]


@pytest.mark.parametrize("opens", [False, True])
async def test_situation_3_sharing_opens_follow_up_only_when_the_setting_is_on(
    api: Api, opens: bool
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    await org.share("ACCOUNT", "READ_WRITE", fromUserId=ann.id, toUserId=dora.id)
    await org.sharing_opens_follow_up(opens)
    answer = await explain(org, dora, account)
    assert answer["canRead"] is True
    assert answer["followUpOpen"] is opens
    if not opens:
        assert "sharingOpensFollowUp" in answer["followUpReason"]


async def test_situation_3_turning_the_setting_back_on_reopens_follow_up(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    await org.share("ACCOUNT", fromUserId=ann.id, toUserId=dora.id)
    await org.sharing_opens_follow_up(False)
    assert (await explain(org, dora, account))["followUpOpen"] is False
    await org.sharing_opens_follow_up(True)
    assert (await explain(org, dora, account))["followUpOpen"] is True


async def test_sharing_setting_off_does_not_close_an_open_team_role(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    await org.share("ACCOUNT", fromUserId=ann.id, toUserId=dora.id)
    await org.add_member(ann, account, dora, "CO_FOLLOWER")
    await org.sharing_opens_follow_up(False)
    assert (await explain(org, dora, account))["followUpOpen"] is True


async def test_closed_reason_lists_both_a_disabled_role_and_the_sharing_setting(
    api: Api,
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    await org.share("ACCOUNT", fromUserId=ann.id, toUserId=dora.id)
    await org.add_member(ann, account, dora, "CO_FOLLOWER")
    await org.set_follow_up("ACCOUNT", "CO_FOLLOWER", "DISABLED")
    await org.sharing_opens_follow_up(False)
    answer = await explain(org, dora, account)
    assert answer["followUpOpen"] is False
    assert "Disabled" in answer["followUpReason"]
    assert "sharingOpensFollowUp" in answer["followUpReason"]


async def test_owner_follow_up_stays_open_whatever_the_owner_role_setting(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT")
    await org.set_follow_up("ACCOUNT", "OWNER", "DISABLED")
    assert (await explain(org, ann, account))["followUpOpen"] is True


async def test_superior_of_owner_follow_up_stays_open_when_roles_are_disabled(api: Api) -> None:
    org = await new_org(api)
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    account = await org.record(ann, "ACCOUNT")
    for role in ("OWNER", "REGULAR_MEMBER", "CO_FOLLOWER", "AFTER_SALES"):
        await org.set_follow_up("ACCOUNT", role, "DISABLED")
    assert (await explain(org, boss, account))["followUpOpen"] is True
