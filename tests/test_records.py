"""createRecord, updateRecord, record and records: validation, permissions, filters, paging."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from tests.records_helpers import (
    CREATE_RECORD,
    RECORD,
    RECORDS,
    TRANSITION,
    UPDATE_RECORD,
    Org,
    new_org,
)

if TYPE_CHECKING:
    from tests.conftest import Api

# (object type, bad values, the field the error must name)
BAD_VALUES: list[tuple[str, dict[str, Any], str]] = [
    ("ACCOUNT", {"name": "A", "colour": "red"}, "colour"),
    ("OPPORTUNITY", {"name": "O", "amount": "12"}, "amount"),
    ("ACCOUNT", {"name": "A", "accountNo": 5}, "accountNo"),
    ("OPPORTUNITY", {"name": "O", "probability": True}, "probability"),
    ("ACCOUNT", {"name": "A", "inHighseas": "yes"}, "inHighseas"),
    ("ACCOUNT", {"name": "A", "industry": "MINING"}, "industry"),
    ("CAMPAIGN", {"name": "C", "channels": ["ONLINE", "MOON"]}, "channels"),
    ("CAMPAIGN", {"name": "C", "channels": "ONLINE"}, "channels"),
    ("CONTACT", {"name": "C", "birthday": "2026-13-01"}, "birthday"),
    ("CONTACT", {"name": "C", "birthday": 20260101}, "birthday"),
    ("VISIT", {"name": "V", "plannedAt": "2026-01-31T09:00:00"}, "plannedAt"),
    ("VISIT", {"name": "V", "plannedAt": "tomorrow"}, "plannedAt"),
    ("ACCOUNT", {"name": "A", "email": "not-an-email"}, "email"),
    ("ACCOUNT", {"name": "A", "phone": "call me"}, "phone"),
    ("ACCOUNT", {"name": "A", "website": "ftp://example.com"}, "website"),
    ("CONTACT", {"name": "C", "accountId": "usr_1"}, "accountId"),
    ("SALES_ORDER", {"name": "S", "currentConfirmerId": "usr_999999999"}, "currentConfirmerId"),
    ("SALES_ORDER", {"name": "S", "currentConfirmerId": "rec_1"}, "currentConfirmerId"),
    ("ACCOUNT", {"name": "A", "status": "SLEEPING"}, "status"),
    ("ACCOUNT", {"name": "A", "accountNo": "x" * 501}, "accountNo"),
    ("ACCOUNT", {"name": 42}, "name"),
    ("ACCOUNT", {"name": None}, "name"),
]
BAD_ON_CREATE_ONLY: list[tuple[str, dict[str, Any], str]] = [
    ("ACCOUNT", {"industry": "RETAIL"}, "name"),
    ("ACCOUNT", {"name": "   "}, "name"),
    ("ACCOUNT", {"name": ""}, "name"),
]
NOT_AN_OBJECT: list[Any] = [["name", "A"], "A", 3, None]


def case_id(case: tuple[str, dict[str, Any], str]) -> str:
    return f"{case[0]}-{case[2]}"


async def create_error(
    api: Api, org: Org, object_type: str, values: Any, owner_id: str | None = None
) -> dict[str, Any]:
    variables = {"type": object_type, "values": values, "ownerId": owner_id}
    return await api.error(CREATE_RECORD, variables, org.admin.token)


def without_ids(message: str) -> str:
    return re.sub(r"\b(rec|usr)_\d+\b", "<id>", message)


# -- createRecord: bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("case", BAD_VALUES + BAD_ON_CREATE_ONLY, ids=case_id)
async def test_create_record_with_bad_value_is_bad_user_input_naming_the_field(
    api: Api, case: tuple[str, dict[str, Any], str]
) -> None:
    object_type, values, field = case
    org = await new_org(api)
    error = await create_error(api, org, object_type, values)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert field in error["message"]
    assert await org.total(org.admin, object_type) == 0


@pytest.mark.parametrize("values", NOT_AN_OBJECT, ids=repr)
async def test_create_record_with_values_not_an_object_is_bad_user_input(
    api: Api, values: Any
) -> None:
    org = await new_org(api)
    variables = {"type": "ACCOUNT", "values": values}
    body = await api.raw(CREATE_RECORD, variables, org.admin.token)
    error = body["errors"][0]
    if values is None:  # JSON! refuses null before the resolver runs
        assert "values" in error["message"]
    else:
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["field"] == "values"
        assert "values" in error["message"]
    assert await org.total(org.admin) == 0


async def test_create_record_with_lookup_to_missing_record_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    error = await create_error(api, org, "CONTACT", {"name": "C", "accountId": "rec_999999999"})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "accountId"}
    assert "accountId" in error["message"]
    assert await org.total(org.admin, "CONTACT") == 0


async def test_create_record_with_lookup_to_record_of_wrong_type_is_bad_user_input(
    api: Api,
) -> None:
    org = await new_org(api)
    other_contact = await org.record(org.admin, "CONTACT")
    error = await create_error(api, org, "CONTACT", {"name": "C", "accountId": other_contact})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "accountId"}
    assert await org.total(org.admin, "CONTACT") == 1


async def test_lookup_to_unreadable_record_reads_exactly_like_a_missing_one(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    hidden = await org.record(bob, "ACCOUNT")
    variables = {"type": "CONTACT", "values": {"name": "C", "accountId": hidden}}
    refused = await api.error(CREATE_RECORD, variables, ann.token)
    variables["values"]["accountId"] = "rec_999999999"
    missing = await api.error(CREATE_RECORD, variables, ann.token)
    assert (
        refused["extensions"]
        == missing["extensions"]
        == {
            "code": "BAD_USER_INPUT",
            "field": "accountId",
        }
    )
    assert without_ids(refused["message"]) == without_ids(missing["message"])
    assert "Bob" not in refused["message"]
    assert await org.total(ann, "CONTACT") == 0


async def test_lookup_to_invalid_record_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT")
    await org.invalidate(org.admin, account)
    error = await create_error(api, org, "CONTACT", {"name": "C", "accountId": account})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "accountId"}


async def test_a_user_field_names_a_user_of_the_enterprise(api: Api) -> None:
    """The one user field (an order's current confirmer) is written by the confirmation, from
    the users an order is submitted to, which must be of the enterprise."""
    org = await new_org(api)
    ann = await org.user("Ann")
    order = await org.record(org.admin, "SALES_ORDER", status="WITHDRAWN")
    await org.transition(org.admin, order, "RESUBMIT", confirmerIds=[ann.id])
    query = "query($id: ID!) { record(id: $id) { ... on SalesOrder { currentConfirmerId } } }"
    data = await api.ok(query, {"id": order}, org.admin.token)
    assert data["record"]["currentConfirmerId"] == ann.id

    stranger = (await new_org(api, "Eve")).admin
    other = await org.record(org.admin, "SALES_ORDER", status="WITHDRAWN")
    variables = {"id": other, "transition": "RESUBMIT", "input": {"confirmerIds": [stranger.id]}}
    error = await api.error(TRANSITION, variables, org.admin.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.confirmerIds"}


async def test_create_record_with_a_status_is_bad_user_input_naming_transition_record(
    api: Api,
) -> None:
    org = await new_org(api)
    variables = {"type": "ACCOUNT", "values": {"name": "A", "status": "REPORTING"}}
    error = await api.error(CREATE_RECORD, variables, org.admin.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "status"}
    assert "transitionRecord" in error["message"]
    assert "starts as ASSIGNED" in error["message"]
    assert await org.total(org.admin, "ACCOUNT") == 0


# -- createRecord: who may create and for whom ---------------------------------------------------


async def test_create_record_without_the_create_permission_is_forbidden(api: Api) -> None:
    org = await new_org(api)
    nobody = await org.user("Nobody", roles=[])
    variables = {"type": "ACCOUNT", "values": {"name": "A"}}
    error = await api.error(CREATE_RECORD, variables, nobody.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "Account.create" in error["message"]
    assert await org.total(org.admin) == 0


async def test_create_record_of_a_type_the_role_cannot_create_is_forbidden(api: Api) -> None:
    org = await new_org(api)
    seller = await org.user("Sam")  # SALES cannot create products
    error = await api.error(
        CREATE_RECORD, {"type": "PRODUCT", "values": {"name": "P"}}, seller.token
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "Product.create" in error["message"]


async def test_create_record_for_a_non_subordinate_owner_is_forbidden(api: Api) -> None:
    org = await new_org(api)
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    variables = {"type": "ACCOUNT", "values": {"name": "A"}, "ownerId": boss.id}
    error = await api.error(CREATE_RECORD, variables, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["extensions"]["field"] == "ownerId"
    assert await org.total(org.admin) == 0


async def test_create_record_for_a_subordinate_at_any_depth_makes_them_owner(api: Api) -> None:
    org = await new_org(api)
    boss = await org.user("Boss")
    lead = await org.user("Lead", superior=boss)
    ann = await org.user("Ann", superior=lead)
    account = await org.record(boss, "ACCOUNT", owner=ann)
    query = "query($id: ID!) { record(id: $id) { owner { id } team { user { id } teamRole } } }"
    data = await api.ok(query, {"id": account}, ann.token)
    assert data["record"]["owner"]["id"] == ann.id
    assert data["record"]["team"] == [{"user": {"id": ann.id}, "teamRole": "OWNER"}]


async def test_admin_may_create_a_record_for_anyone(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(org.admin, "ACCOUNT", owner=ann)
    assert await org.listed_ids(ann) == [account]


async def test_create_record_for_an_unknown_owner_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    error = await create_error(api, org, "ACCOUNT", {"name": "A"}, owner_id="usr_999999999")
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "ownerId"}


async def test_create_record_without_a_token_is_unauthenticated(api: Api) -> None:
    error = await api.error(CREATE_RECORD, {"type": "ACCOUNT", "values": {"name": "A"}})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


# -- updateRecord: bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("case", BAD_VALUES, ids=case_id)
async def test_update_record_with_bad_value_is_refused_and_changes_nothing(
    api: Api, case: tuple[str, dict[str, Any], str]
) -> None:
    object_type, values, field = case
    org = await new_org(api)
    record_id = await org.record(org.admin, object_type, "Before")
    before = await org.get(org.admin, record_id)
    bad = {k: v for k, v in values.items() if k != "name" or field == "name"}
    error = await api.error(UPDATE_RECORD, {"id": record_id, "values": bad}, org.admin.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert field in error["message"]
    assert await org.get(org.admin, record_id) == before


async def test_update_record_with_a_later_bad_field_writes_none_of_the_good_ones(
    api: Api,
) -> None:
    org = await new_org(api)
    record_id = await org.record(org.admin, "ACCOUNT", "Before", industry="RETAIL")
    before = await org.get(org.admin, record_id)
    values = {"name": "After", "industry": "FINANCE", "email": "nope"}
    error = await api.error(UPDATE_RECORD, {"id": record_id, "values": values}, org.admin.token)
    assert error["extensions"]["field"] == "email"
    assert await org.get(org.admin, record_id) == before


async def test_update_record_with_an_unreadable_lookup_is_refused_and_changes_nothing(
    api: Api,
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    hidden = await org.record(bob, "ACCOUNT")
    contact = await org.record(ann, "CONTACT")
    before = await org.get(ann, contact)
    error = await api.error(
        UPDATE_RECORD, {"id": contact, "values": {"name": "X", "accountId": hidden}}, ann.token
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "accountId"}
    assert await org.get(ann, contact) == before


@pytest.mark.parametrize("values", [["name", "A"], "A", 3], ids=repr)
async def test_update_record_with_values_not_an_object_is_bad_user_input(
    api: Api, values: Any
) -> None:
    org = await new_org(api)
    record_id = await org.record(org.admin, "ACCOUNT")
    error = await api.error(UPDATE_RECORD, {"id": record_id, "values": values}, org.admin.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "values"}


async def test_update_record_changes_only_the_given_fields_and_null_clears(api: Api) -> None:
    org = await new_org(api)
    record_id = await org.record(org.admin, "ACCOUNT", "Old", industry="RETAIL", level="A")
    updated = await org.update(org.admin, record_id, level=None, phone="+1 555 0100")
    assert updated["name"] == "Old"
    assert updated["values"] == {"name": "Old", "industry": "RETAIL", "phone": "+1 555 0100"}


async def test_update_record_with_a_status_is_bad_user_input_and_changes_nothing(
    api: Api,
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(org.admin, "ACCOUNT", "Kept", owner=ann)
    values = {"name": "Changed", "status": "UNASSIGNED"}
    error = await api.error(UPDATE_RECORD, {"id": account, "values": values}, ann.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "status"}
    assert "transitionRecord" in error["message"]
    record = await org.get(ann, account)
    assert record is not None
    assert (record["name"], record["status"]) == ("Kept", "ASSIGNED")


async def test_update_record_sets_updated_by(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(org.admin, "ACCOUNT", owner=ann)
    query = """
    mutation($id: ID!) {
      updateRecord(id: $id, values: {level: "A"}) { status updatedBy { id } }
    }"""
    data = await api.ok(query, {"id": account}, ann.token)
    assert data["updateRecord"] == {"status": "ASSIGNED", "updatedBy": {"id": ann.id}}


# -- updateRecord: who may edit ------------------------------------------------------------------


async def edit_as(org: Org, who: Any, record_id: str, name: str) -> dict[str, Any]:
    return await org.update(who, record_id, name=name)


async def test_owner_may_edit(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT")
    assert (await edit_as(org, ann, account, "By owner"))["name"] == "By owner"


async def test_superior_of_owner_at_any_depth_may_edit(api: Api) -> None:
    org = await new_org(api)
    boss = await org.user("Boss")
    lead = await org.user("Lead", superior=boss)
    ann = await org.user("Ann", superior=lead)
    account = await org.record(ann, "ACCOUNT")
    assert (await edit_as(org, boss, account, "By boss"))["name"] == "By boss"


async def test_read_write_team_member_may_edit(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, access="READ_WRITE")
    assert (await edit_as(org, carl, account, "By member"))["name"] == "By member"


async def test_superior_of_read_write_team_member_may_edit(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    boss = await org.user("Boss")
    carl = await org.user("Carl", superior=boss)
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, access="READ_WRITE")
    assert (await edit_as(org, boss, account, "By member's boss"))["name"] == "By member's boss"


async def test_read_write_sharing_party_may_edit(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    await org.share("ACCOUNT", "READ_WRITE", fromUserId=ann.id, toUserId=dora.id)
    assert (await edit_as(org, dora, account, "By sharing"))["name"] == "By sharing"


async def test_read_only_team_member_may_not_edit_and_is_told_who_may(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT", "Kept")
    await org.add_member(ann, account, carl, access="READ_ONLY")
    error = await api.error(
        UPDATE_RECORD, {"id": account, "values": {"name": "Changed"}}, carl.token
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "the owner" in error["message"]
    assert "Read & Write" in error["message"]
    assert (await org.get(ann, account))["name"] == "Kept"  # type: ignore[index]


async def test_superior_of_read_only_team_member_may_not_edit(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    boss = await org.user("Boss")
    carl = await org.user("Carl", superior=boss)
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, access="READ_ONLY")
    error = await api.error(UPDATE_RECORD, {"id": account, "values": {"name": "X"}}, boss.token)
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_read_only_sharing_party_may_not_edit(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    await org.share("ACCOUNT", "READ_ONLY", fromUserId=ann.id, toUserId=dora.id)
    error = await api.error(UPDATE_RECORD, {"id": account, "values": {"name": "X"}}, dora.token)
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_account_not_effective_cannot_be_edited_even_by_its_owner(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Kept", status="NOT_EFFECTIVE")
    error = await api.error(UPDATE_RECORD, {"id": account, "values": {"name": "X"}}, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "NOT_EFFECTIVE" in error["message"]
    assert (await org.get(ann, account))["name"] == "Kept"  # type: ignore[index]


async def test_account_with_approval_in_progress_cannot_be_edited(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Kept", status="REPORTING")  # approval in progress
    error = await api.error(UPDATE_RECORD, {"id": account, "values": {"name": "X"}}, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "approval status is not In Progress" in error["message"]


async def test_account_with_approval_approved_can_be_edited(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", status="ASSIGNED")  # approved
    assert (await edit_as(org, ann, account, "Edited"))["name"] == "Edited"


async def test_received_payment_cannot_be_edited_by_its_owner(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    payment = await org.record(ann, "PAYMENT", "Kept", status="RECEIVED")
    error = await api.error(UPDATE_RECORD, {"id": payment, "values": {"name": "X"}}, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "Payment Finance" in error["message"]


async def test_received_payment_can_be_edited_by_payment_finance(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    fiona = await org.user("Fiona", roles=["PAYMENT_FINANCE"])
    payment = await org.record(ann, "PAYMENT", status="RECEIVED")
    await org.add_member(ann, payment, fiona, access="READ_ONLY")
    assert (await edit_as(org, fiona, payment, "By finance"))["name"] == "By finance"


async def test_received_payment_is_edited_by_payment_finance_outside_its_team(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    fiona = await org.user("Fiona", roles=["PAYMENT_FINANCE"])
    payment = await org.record(ann, "PAYMENT", status="RECEIVED")
    assert (await edit_as(org, fiona, payment, "By finance"))["name"] == "By finance"


async def test_received_payment_is_not_found_for_a_finance_role_of_another_type(
    api: Api,
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    rita = await org.user("Rita", roles=["REFUND_FINANCE"])
    payment = await org.record(ann, "PAYMENT", status="RECEIVED")
    error = await api.error(UPDATE_RECORD, {"id": payment, "values": {"name": "X"}}, rita.token)
    assert error["extensions"]["code"] == "NOT_FOUND"


# -- unreadable records do not exist -------------------------------------------------------------


async def test_update_of_unreadable_record_is_not_found_like_a_missing_one(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    hidden = await org.record(bob, "ACCOUNT", "Secret plans")
    refused = await api.error(UPDATE_RECORD, {"id": hidden, "values": {"name": "X"}}, ann.token)
    missing = await api.error(
        UPDATE_RECORD, {"id": "rec_999999999", "values": {"name": "X"}}, ann.token
    )
    assert refused["extensions"] == missing["extensions"] == {"code": "NOT_FOUND"}
    assert without_ids(refused["message"]) == without_ids(missing["message"])
    assert "Secret" not in refused["message"]
    assert (await org.get(bob, hidden))["name"] == "Secret plans"  # type: ignore[index]


async def test_update_with_bad_values_on_unreadable_record_is_still_not_found(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    hidden = await org.record(bob, "ACCOUNT")
    error = await api.error(UPDATE_RECORD, {"id": hidden, "values": {"nope": 1}}, ann.token)
    assert error["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("record_id", ["rec_999999999", "usr_1", "garbage", ""])
async def test_record_with_an_unknown_or_malformed_id_is_null(api: Api, record_id: str) -> None:
    org = await new_org(api)
    data = await api.ok(RECORD, {"id": record_id}, org.admin.token)
    assert data["record"] is None


async def test_record_the_caller_cannot_read_is_null(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    hidden = await org.record(bob, "ACCOUNT")
    assert await org.get(ann, hidden) is None
    assert await org.get(bob, hidden) is not None


async def test_records_of_another_enterprise_are_invisible_even_to_its_admin(api: Api) -> None:
    org = await new_org(api)
    other = await new_org(api, "Eve")
    account = await org.record(org.admin, "ACCOUNT")
    assert await other.get(other.admin, account) is None
    assert await other.total(other.admin) == 0
    error = await api.error(
        UPDATE_RECORD, {"id": account, "values": {"name": "X"}}, other.admin.token
    )
    assert error["extensions"]["code"] == "NOT_FOUND"


# -- records: filters ----------------------------------------------------------------------------


async def test_records_lists_only_readable_records_with_matching_total(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    mine = [await org.record(ann, "ACCOUNT", f"Mine {i}") for i in range(3)]
    await org.record(bob, "ACCOUNT", "Not mine")
    await org.record(ann, "CONTACT", "Other type")
    page = await org.listing(ann, "ACCOUNT")
    assert [edge["node"]["id"] for edge in page["edges"]] == mine[::-1]
    assert page["totalCount"] == 3
    assert page["pageInfo"]["hasNextPage"] is False


async def test_records_filter_by_status(api: Api) -> None:
    org = await new_org(api)
    reporting = await org.record(org.admin, "ACCOUNT", status="REPORTING")
    unassigned = await org.record(org.admin, "ACCOUNT", status="UNASSIGNED")
    await org.record(org.admin, "ACCOUNT")
    only = await org.listed_ids(org.admin, "ACCOUNT", {"status": ["REPORTING"]})
    assert only == [reporting]
    both = await org.listed_ids(org.admin, "ACCOUNT", {"status": ["REPORTING", "UNASSIGNED"]})
    assert both == [unassigned, reporting]
    assert await org.total(org.admin, "ACCOUNT", {"status": ["REPORTING", "UNASSIGNED"]}) == 2


async def test_records_filter_by_a_status_of_another_type_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    variables = {"type": "ACCOUNT", "filter": {"status": ["ON_SHELF"]}}
    error = await api.error(RECORDS, variables, org.admin.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "status"}
    assert "ON_SHELF" in error["message"]


async def test_records_filter_by_owner(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    anns = await org.record(ann, "ACCOUNT")
    await org.record(bob, "ACCOUNT")
    assert await org.listed_ids(org.admin, "ACCOUNT", {"ownerId": ann.id}) == [anns]
    assert await org.total(org.admin, "ACCOUNT", {"ownerId": ann.id}) == 1


async def test_records_filter_by_an_owner_the_caller_cannot_see_lists_nothing(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    await org.record(bob, "ACCOUNT")
    assert await org.listed_ids(ann, "ACCOUNT", {"ownerId": bob.id}) == []
    assert await org.total(ann, "ACCOUNT", {"ownerId": bob.id}) == 0


async def test_total_counts_a_record_reached_through_several_grants_once_under_filters(
    api: Api,
) -> None:
    """A manager reaches accounts through their own, a report's, a team, a department they
    head and a sharing rule, several at once: every filter's totalCount is the number of
    records its list shows, each once, whichever grants open them."""
    org = await new_org(api)
    manager = await org.user("Manager")
    report = await org.user("Report", superior=manager)
    outsider = await org.user("Outsider")
    sharer = await org.user("Sharer")
    headed = await org.department("Headed", head=manager)
    member = await org.user("Member", department=headed)
    await org.share("ACCOUNT", fromUserId=sharer.id, toUserId=manager.id)

    async def account(name: str, owner: Any, team: tuple[Any, ...] = ()) -> str:
        record = await org.record(org.admin, "ACCOUNT", name, owner=owner)
        for person in team:
            await org.add_member(owner, record, person)
        return record

    seen = {
        await account("own alpha", manager): manager,
        await account("report alpha", report, (manager,)): report,
        await account("team alpha", outsider, (report,)): outsider,
        await account("team beta", outsider, (report, manager)): outsider,
        await account("shared beta", sharer, (report,)): sharer,
        await account("shared alpha", sharer): sharer,
        await account("headed beta", member, (report, outsider)): member,
    }
    names = {record: (await org.get(org.admin, record) or {})["name"] for record in seen}
    await account("hidden alpha", outsider)
    await org.record(org.admin, "CONTACT", "team contact", owner=outsider)
    gone = await account("invalid alpha", report, (manager,))
    await org.invalidate(report, gone)

    filters: list[tuple[dict[str, Any] | None, set[str]]] = [
        (None, set(seen)),
        ({"nameContains": "alpha"}, {r for r in seen if "alpha" in names[r]}),
        ({"nameContains": "beta"}, {r for r in seen if "beta" in names[r]}),
    ]
    for person in (manager, report, outsider, sharer, member):
        filters.append(({"ownerId": person.id}, {r for r, o in seen.items() if o == person}))
    for record_filter, expected in filters:
        listed = await org.listed_ids(manager, "ACCOUNT", record_filter)
        assert set(listed) == expected, record_filter
        assert len(listed) == len(expected), record_filter
        assert await org.total(manager, "ACCOUNT", record_filter) == len(expected), record_filter


async def test_records_filter_by_a_malformed_owner_id_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    error = await api.error(
        RECORDS, {"type": "ACCOUNT", "filter": {"ownerId": "dep_1"}}, org.admin.token
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "ownerId"}


async def test_records_filter_name_contains_is_case_insensitive(api: Api) -> None:
    org = await new_org(api)
    acme = await org.record(org.admin, "ACCOUNT", "ACME Holdings")
    small = await org.record(org.admin, "ACCOUNT", "small acme shop")
    await org.record(org.admin, "ACCOUNT", "Globex")
    assert await org.listed_ids(org.admin, "ACCOUNT", {"nameContains": "Acme"}) == [small, acme]


async def test_records_filter_name_contains_matches_percent_and_underscore_literally(
    api: Api,
) -> None:
    org = await new_org(api)
    percent = await org.record(org.admin, "ACCOUNT", "100% Cotton")
    underscore = await org.record(org.admin, "ACCOUNT", "snake_case Ltd")
    await org.record(org.admin, "ACCOUNT", "100 Cotton")
    await org.record(org.admin, "ACCOUNT", "snakeXcase Ltd")
    backslash = await org.record(org.admin, "ACCOUNT", "back\\slash")
    assert await org.listed_ids(org.admin, "ACCOUNT", {"nameContains": "0%"}) == [percent]
    assert await org.listed_ids(org.admin, "ACCOUNT", {"nameContains": "e_c"}) == [underscore]
    assert await org.listed_ids(org.admin, "ACCOUNT", {"nameContains": "%"}) == [percent]
    assert await org.listed_ids(org.admin, "ACCOUNT", {"nameContains": "_"}) == [underscore]
    assert await org.listed_ids(org.admin, "ACCOUNT", {"nameContains": "k\\s"}) == [backslash]


async def test_records_filter_updated_since(api: Api) -> None:
    org = await new_org(api)
    old = await org.record(org.admin, "ACCOUNT", "Old")
    untouched = await org.record(org.admin, "ACCOUNT", "Untouched")
    query = "mutation($id: ID!) { updateRecord(id: $id, values: {}) { updatedAt } }"
    touched = await api.ok(query, {"id": old}, org.admin.token)
    since = datetime.fromisoformat(touched["updateRecord"]["updatedAt"])
    in_plus_two = since.astimezone(UTC).astimezone(timezone(timedelta(hours=2))).isoformat()
    listed = await org.listed_ids(org.admin, "ACCOUNT", {"updatedSince": in_plus_two})
    assert old in listed
    stamps = await api.ok(
        "query($id: ID!) { record(id: $id) { updatedAt } }", {"id": untouched}, org.admin.token
    )
    untouched_at = datetime.fromisoformat(stamps["record"]["updatedAt"])
    assert (untouched in listed) == (untouched_at >= since)
    future = (since + timedelta(days=1)).isoformat()
    assert await org.listed_ids(org.admin, "ACCOUNT", {"updatedSince": future}) == []
    past = (since - timedelta(days=1)).isoformat()
    assert await org.listed_ids(org.admin, "ACCOUNT", {"updatedSince": past}) == [
        untouched,
        old,
    ]


async def test_records_filter_updated_since_without_offset_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    variables = {"type": "ACCOUNT", "filter": {"updatedSince": "2026-01-01T00:00:00"}}
    error = await api.error(RECORDS, variables, org.admin.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "updatedSince" in error["message"]


async def test_records_filters_combine(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    wanted = await org.record(ann, "ACCOUNT", "Acme North", owner=ann, status="REPORTING")
    await org.record(ann, "ACCOUNT", "Acme South", owner=ann)
    await org.record(org.admin, "ACCOUNT", "Acme East", status="REPORTING")
    record_filter = {"status": ["REPORTING"], "ownerId": ann.id, "nameContains": "acme"}
    assert await org.listed_ids(org.admin, "ACCOUNT", record_filter) == [wanted]


# -- records: paging -----------------------------------------------------------------------------


async def test_records_paging_returns_every_record_once_newest_first(api: Api) -> None:
    org = await new_org(api)
    created = [await org.record(org.admin, "CONTACT", f"Contact {i}") for i in range(7)]
    seen: list[str] = []
    totals: set[int] = set()
    after = None
    pages = 0
    while True:
        page = await org.listing(org.admin, "CONTACT", first=3, after=after)
        seen += [edge["node"]["id"] for edge in page["edges"]]
        totals.add(page["totalCount"])
        pages += 1
        if page["edges"]:
            assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == created[::-1]
    assert totals == {7}
    assert pages == 3


async def test_records_page_size_defaults_to_twenty(api: Api) -> None:
    org = await new_org(api)
    for i in range(21):
        await org.record(org.admin, "COMPETITOR", f"Rival {i}")
    page = await org.listing(org.admin, "COMPETITOR")
    assert len(page["edges"]) == 20
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["totalCount"] == 21


@pytest.mark.parametrize("first", [101, -1])
async def test_records_page_size_out_of_range_is_bad_user_input(api: Api, first: int) -> None:
    org = await new_org(api)
    error = await api.error(RECORDS, {"type": "ACCOUNT", "first": first}, org.admin.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}


async def test_records_page_of_one_hundred_is_allowed(api: Api) -> None:
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT")
    page = await org.listing(org.admin, "ACCOUNT", first=100)
    assert [edge["node"]["id"] for edge in page["edges"]] == [account]


@pytest.mark.parametrize("cursor", ["not-a-cursor", "Yzp4", "c:12", "%%%"])
async def test_records_with_a_bad_after_cursor_is_bad_user_input(api: Api, cursor: str) -> None:
    org = await new_org(api)
    error = await api.error(RECORDS, {"type": "ACCOUNT", "after": cursor}, org.admin.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}
