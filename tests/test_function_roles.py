"""Function roles reach their records: a finance or order role reads every record of the object
types its scope covers, in lists, counts, lookups, feeds, notifications and `explainAccess`
(reason FUNCTION_ROLE), and may then act on them as the action tables say; nothing else.

The scopes are written out here, from the seed's tables, not imported from the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.feed_helpers import feed_ids, feed_item, feed_total, post
from tests.processes import follow, inbox, reply
from tests.records_helpers import ADD_MEMBERS, UPDATE_RECORD, Org, Person, new_org

if TYPE_CHECKING:
    from tests.conftest import Api

SCOPES: dict[str, set[str]] = {
    "ORDER_ADMIN": {"SALES_ORDER", "RETURN_FORM"},
    "ORDER_FINANCE": {"SALES_ORDER", "RETURN_FORM"},
    "PAYMENT_FINANCE": {"PAYMENT"},
    "REFUND_FINANCE": {"REFUND"},
    "INVOICE_FINANCE": {"INVOICING_APPLICATION"},
}
TYPES = ["SALES_ORDER", "RETURN_FORM", "PAYMENT", "REFUND", "INVOICING_APPLICATION", "ACCOUNT"]

EXPLAIN = """
query($id: ID!, $userId: ID) {
  explainAccess(recordId: $id, userId: $userId) {
    canRead canWrite followUpOpen followUpReason reasons { rule functionRole viaUser { id } }
  }
}"""
CHANGE_OWNER = """
mutation($id: ID!, $owner: ID!) { changeOwner(id: $id, newOwnerId: $owner) { id owner { id } } }"""
FORWARD_RECORD = """
mutation($id: ID!, $to: [ID!]!) { forwardRecord(id: $id, toUserIds: $to) }"""


@pytest.fixture
async def org(api: Api) -> Org:
    return await new_org(api)


async def one_of_each(org: Org, owner: Person) -> dict[str, str]:
    """One record of every type in `TYPES`, owned by `owner`."""
    return {t: await org.record(owner, t, f"{t} of {owner.name}") for t in TYPES}


async def explain(org: Org, record_id: str, subject: Person) -> dict[str, Any]:
    data = await org.api.ok(EXPLAIN, {"id": record_id, "userId": subject.id}, org.admin.token)
    return data["explainAccess"]


@pytest.mark.parametrize("role", list(SCOPES))
async def test_a_function_role_lists_counts_and_reads_exactly_its_object_types(
    org: Org, role: str
) -> None:
    ann = await org.user("Ann")
    records = await one_of_each(org, ann)
    clerk = await org.user("Clerk", roles=[role])
    for object_type, record_id in records.items():
        covered = object_type in SCOPES[role]
        assert await org.listed_ids(clerk, object_type) == ([record_id] if covered else [])
        assert await org.total(clerk, object_type) == (1 if covered else 0)
        assert await org.can_read(clerk, record_id) is covered, object_type


async def test_a_role_reads_records_of_every_owner_but_not_invalid_ones(org: Org) -> None:
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    fiona = await org.user("Fiona", roles=["PAYMENT_FINANCE"])
    kept = await org.record(ann, "PAYMENT", "Kept")
    voided = await org.record(bob, "PAYMENT", "Voided")
    assert await org.listed_ids(fiona, "PAYMENT") == [voided, kept]
    await org.invalidate(bob, voided)
    assert await org.listed_ids(fiona, "PAYMENT") == [kept]
    assert await org.total(fiona, "PAYMENT") == 1
    assert await org.can_read(fiona, voided) is False


async def test_roles_add_up_with_the_other_grants(org: Org) -> None:
    ann = await org.user("Ann")
    records = await one_of_each(org, ann)
    both = await org.user("Both", roles=["SALES", "PAYMENT_FINANCE", "REFUND_FINANCE"])
    own = await org.record(both, "ACCOUNT", "Own account")
    assert await org.listed_ids(both, "ACCOUNT") == [own]
    assert await org.listed_ids(both, "PAYMENT") == [records["PAYMENT"]]
    assert await org.listed_ids(both, "REFUND") == [records["REFUND"]]
    assert await org.listed_ids(both, "SALES_ORDER") == []


async def test_explain_access_names_the_function_role(org: Org) -> None:
    ann = await org.user("Ann")
    records = await one_of_each(org, ann)
    olga = await org.user("Olga", roles=["SALES", "ORDER_FINANCE"])
    answer = await explain(org, records["SALES_ORDER"], olga)
    assert answer["canRead"] is True
    role = {"rule": "FUNCTION_ROLE", "functionRole": "ORDER_FINANCE", "viaUser": None}
    assert answer["reasons"] == [role]
    # a confirming order whose first confirmer has not confirmed: Order Finance may edit it
    assert answer["canWrite"] is True
    assert answer["followUpOpen"] is True
    assert "Order Finance" in answer["followUpReason"]
    closed = await explain(org, records["ACCOUNT"], olga)
    assert closed == {
        "canRead": False,
        "canWrite": False,
        "followUpOpen": False,
        "followUpReason": "Closed: this user may not read the record.",
        "reasons": [],
    }


async def test_explain_access_lists_the_role_beside_the_other_reasons(org: Org) -> None:
    both = await org.user("Both", roles=["ORDER_ADMIN", "ORDER_FINANCE"])
    order = await org.record(org.admin, "SALES_ORDER", "SO-1", owner=both)
    rules = [(r["rule"], r["functionRole"]) for r in (await explain(org, order, both))["reasons"]]
    assert rules == [
        ("OWNER", None),
        ("FUNCTION_ROLE", "ORDER_ADMIN"),
        ("FUNCTION_ROLE", "ORDER_FINANCE"),
    ]


async def test_order_finance_acts_on_an_order_as_the_tables_say(org: Org) -> None:
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    olga = await org.user("Olga", roles=["ORDER_FINANCE"])
    order = await org.record(ann, "SALES_ORDER", "SO-1")
    account = await org.record(ann, "ACCOUNT", "Acme")

    # edit: a confirming order whose first confirmer has not confirmed
    assert (await org.update(olga, order, name="SO-1 checked"))["name"] == "SO-1 checked"
    # change owner: Order Finance is named in the change-owner table for Sales Orders, not
    # for Return Forms (there only the Order Administrator is)
    data = await org.api.ok(CHANGE_OWNER, {"id": order, "owner": carl.id}, olga.token)
    assert data["changeOwner"]["owner"] == {"id": carl.id}
    returned = await org.record(ann, "RETURN_FORM", "RF-1")
    error = await org.api.error(CHANGE_OWNER, {"id": returned, "owner": carl.id}, olga.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "Order Administrators" in error["message"]
    # add team members: standard writers only
    members = [{"userId": ann.id, "teamRole": "REGULAR_MEMBER", "access": "READ_ONLY"}]
    error = await org.api.error(ADD_MEMBERS, {"id": order, "members": members}, olga.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    # an account is outside the role's scope: it does not exist for her
    error = await org.api.error(UPDATE_RECORD, {"id": account, "values": {"name": "X"}}, olga.token)
    assert error["extensions"] == {"code": "NOT_FOUND"}
    assert (await org.get(ann, account))["name"] == "Acme"  # type: ignore[index]


async def test_payment_finance_edits_and_invalidates_any_payment(org: Org) -> None:
    ann = await org.user("Ann")
    fiona = await org.user("Fiona", roles=["PAYMENT_FINANCE"])
    payment = await org.record(ann, "PAYMENT", "Down payment")
    assert (await org.update(fiona, payment, name="Checked"))["name"] == "Checked"
    await org.invalidate(fiona, payment)
    assert await org.listed_ids(ann, "PAYMENT") == []


async def test_the_role_sees_the_follow_up_activity_of_its_records(org: Org) -> None:
    ann = await org.user("Ann")
    records = await one_of_each(org, ann)
    olga = await org.user("Olga", roles=["ORDER_FINANCE"])
    about_order = await post(org, ann, "Delivery date?", related=[records["SALES_ORDER"]])
    about_account = await post(org, ann, "Met the buyer", related=[records["ACCOUNT"]])
    about_both = await post(
        org, ann, "Order and account", related=[records["ACCOUNT"], records["RETURN_FORM"]]
    )
    assert await feed_ids(org, olga) == [about_both["id"], about_order["id"]]
    assert await feed_total(org, olga) == 2
    assert await feed_ids(org, olga, record=records["SALES_ORDER"]) == [about_order["id"]]
    assert await feed_item(org, olga, about_account["id"]) is None
    # relatedTo lists only what she may read
    shown = await feed_item(org, olga, about_both["id"])
    assert shown is not None
    assert [r["id"] for r in shown["relatedTo"]] == [records["RETURN_FORM"]]


async def test_the_role_is_notified_about_what_it_may_read(org: Org) -> None:
    ann = await org.user("Ann")
    records = await one_of_each(org, ann)
    olga = await org.user("Olga", roles=["ORDER_ADMIN"])
    item = await post(org, ann, "Shipping next week", related=[records["SALES_ORDER"]])
    await follow(org.api, olga, item["id"])
    await reply(org.api, ann, item["id"], "Shipped")
    for object_type in ("SALES_ORDER", "ACCOUNT"):
        await org.api.ok(FORWARD_RECORD, {"id": records[object_type], "to": [olga.id]}, ann.token)
    replied, order_card, account_card = await inbox(org.api, olga)
    assert replied["kind"] == "REPLY"
    assert order_card["forward"]["canOpen"] is True
    assert account_card["forward"]["canOpen"] is False
