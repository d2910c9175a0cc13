"""Record life cycle: invalidate (recycle bin), restore and delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.records_helpers import ADD_MEMBERS, INVALIDATE, UPDATE_RECORD, Org, Person, new_org

if TYPE_CHECKING:
    from tests.conftest import Api

RESTORE = "mutation($id: ID!) { restoreRecord(id: $id) { id status lifeStatus } }"
DELETE = "mutation($id: ID!) { deleteRecord(id: $id) }"
RECYCLE_BIN = """
query($type: ObjectType, $first: Int, $after: String) {
  recycleBin(objectType: $type, first: $first, after: $after) {
    totalCount edges { node { id objectType status lifeStatus } }
    pageInfo { hasNextPage endCursor }
  }
}"""
EXPLAIN = "query($id: ID!) { explainAccess(recordId: $id) { canRead reasons { rule } } }"


async def bin_ids(org: Org, object_type: str | None = None) -> list[str]:
    data = await org.api.ok(RECYCLE_BIN, {"type": object_type}, org.admin.token)
    return [edge["node"]["id"] for edge in data["recycleBin"]["edges"]]


async def invalidate_error(org: Org, who: Person, record_id: str) -> dict[str, Any]:
    return await org.api.error(INVALIDATE, {"id": record_id}, who.token)


# -- invalidate ----------------------------------------------------------------------------------


async def test_invalidated_record_vanishes_for_everyone_who_could_read_it(api: Api) -> None:
    org = await new_org(api)
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    carl = await org.user("Carl")
    dora = await org.user("Dora")
    account = await org.record(ann, "ACCOUNT")
    kept = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl)
    await org.add_member(ann, kept, carl)
    await org.share("ACCOUNT", fromUserId=ann.id, toUserId=dora.id)
    data = await api.ok(INVALIDATE, {"id": account}, ann.token)
    assert data["invalidateRecord"] == {"id": account, "lifeStatus": "INVALID"}
    for person in (ann, boss, carl, dora):
        assert await org.listed_ids(person) == [kept]
        assert await org.total(person) == 1
        assert not await org.can_read(person, account)


async def test_invalidated_record_is_not_listed_in_records_even_for_admins(api: Api) -> None:
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT")
    kept = await org.record(org.admin, "ACCOUNT")
    await org.invalidate(org.admin, account)
    assert await org.listed_ids(org.admin) == [kept]
    assert await org.total(org.admin) == 1


async def test_admin_sees_an_invalid_record_in_the_recycle_bin_and_by_id(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", status="REPORTING")
    await org.record(ann, "ACCOUNT")
    await org.invalidate(ann, account)
    data = await api.ok(RECYCLE_BIN, {"type": "ACCOUNT"}, org.admin.token)
    assert data["recycleBin"]["totalCount"] == 1
    assert data["recycleBin"]["edges"] == [
        {
            "node": {
                "id": account,
                "objectType": "ACCOUNT",
                "status": "REPORTING",
                "lifeStatus": "INVALID",
            }
        }
    ]
    record = await org.get(org.admin, account)
    assert record is not None
    assert record["lifeStatus"] == "INVALID"


async def test_recycle_bin_filters_by_object_type_and_lists_all_without_one(api: Api) -> None:
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT")
    contact = await org.record(org.admin, "CONTACT")
    await org.invalidate(org.admin, account)
    await org.invalidate(org.admin, contact)
    assert await bin_ids(org, "CONTACT") == [contact]
    assert await bin_ids(org) == [contact, account]


async def test_recycle_bin_pages_newest_first(api: Api) -> None:
    org = await new_org(api)
    created = [await org.record(org.admin, "CONTACT") for _ in range(5)]
    for record_id in created:
        await org.invalidate(org.admin, record_id)
    seen: list[str] = []
    after = None
    while True:
        data = await api.ok(RECYCLE_BIN, {"first": 2, "after": after}, org.admin.token)
        page = data["recycleBin"]
        assert page["totalCount"] == 5
        seen += [edge["node"]["id"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == created[::-1]


async def test_recycle_bin_is_for_admins_only(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT")
    await org.invalidate(ann, account)
    body = await api.raw(RECYCLE_BIN, {}, ann.token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_recycle_bin_of_another_enterprise_is_empty(api: Api) -> None:
    org = await new_org(api)
    other = await new_org(api, "Eve")
    account = await org.record(org.admin, "ACCOUNT")
    await org.invalidate(org.admin, account)
    assert await bin_ids(other) == []


async def test_explain_access_on_an_invalid_record_is_not_found_for_its_owner(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT")
    await org.invalidate(ann, account)
    error = await api.error(EXPLAIN, {"id": account}, ann.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    data = await api.ok(EXPLAIN, {"id": account}, org.admin.token)
    assert data["explainAccess"] == {"canRead": True, "reasons": [{"rule": "CRM_ADMIN"}]}


async def test_invalidating_an_invalid_record_again_is_a_conflict(api: Api) -> None:
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT")
    await org.invalidate(org.admin, account)
    error = await invalidate_error(org, org.admin, account)
    assert error["extensions"]["code"] == "CONFLICT"


async def test_owner_invalidating_their_invalid_record_again_is_not_found(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT")
    await org.invalidate(ann, account)
    error = await invalidate_error(org, ann, account)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_editing_an_invalid_record_is_refused_even_for_an_admin_owner(api: Api) -> None:
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT", "Voided")
    await org.invalidate(org.admin, account)
    error = await api.error(
        UPDATE_RECORD, {"id": account, "values": {"name": "X"}}, org.admin.token
    )
    assert error["extensions"]["code"] == "CONFLICT"
    assert (await org.get(org.admin, account))["name"] == "Voided"  # type: ignore[index]


async def test_adding_members_to_an_invalid_record_is_refused(api: Api) -> None:
    org = await new_org(api)
    carl = await org.user("Carl")
    account = await org.record(org.admin, "ACCOUNT")
    await org.invalidate(org.admin, account)
    members = [{"userId": carl.id, "teamRole": "REGULAR_MEMBER", "access": "READ_ONLY"}]
    error = await api.error(ADD_MEMBERS, {"id": account, "members": members}, org.admin.token)
    assert error["extensions"]["code"] == "CONFLICT"


async def test_account_may_not_be_invalidated_by_a_read_write_team_member(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl, access="READ_WRITE")
    error = await invalidate_error(org, carl, account)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "the owner" in error["message"]
    assert await org.listed_ids(ann) == [account]


async def test_account_may_be_invalidated_by_the_owners_superior(api: Api) -> None:
    org = await new_org(api)
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    account = await org.record(ann, "ACCOUNT")
    await org.invalidate(boss, account)
    assert await bin_ids(org) == [account]


async def test_contact_may_be_invalidated_by_a_read_write_team_member(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    contact = await org.record(ann, "CONTACT")
    await org.add_member(ann, contact, carl, access="READ_WRITE")
    await org.invalidate(carl, contact)
    assert await bin_ids(org) == [contact]


async def test_contact_may_not_be_invalidated_by_a_read_only_team_member(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    contact = await org.record(ann, "CONTACT")
    await org.add_member(ann, contact, carl, access="READ_ONLY")
    error = await invalidate_error(org, carl, contact)
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_product_on_shelf_may_not_be_invalidated(api: Api) -> None:
    org = await new_org(api)
    product = await org.record(org.admin, "PRODUCT")
    error = await invalidate_error(org, org.admin, product)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "ON_SHELF" in error["message"]
    off = await org.record(org.admin, "PRODUCT", status="OFF_SHELF")
    await org.invalidate(org.admin, off)
    assert await bin_ids(org) == [off]


async def test_received_payment_is_invalidated_by_payment_finance_not_its_owner(
    api: Api,
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    fiona = await org.user("Fiona", roles=["PAYMENT_FINANCE"])
    payment = await org.record(ann, "PAYMENT", status="RECEIVED")
    await org.add_member(ann, payment, fiona)
    error = await invalidate_error(org, ann, payment)
    assert error["extensions"]["code"] == "FORBIDDEN"
    await org.invalidate(fiona, payment)
    assert await bin_ids(org) == [payment]


async def test_invalidating_an_unreadable_record_is_not_found(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    hidden = await org.record(bob, "ACCOUNT")
    error = await invalidate_error(org, ann, hidden)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert await org.listed_ids(bob) == [hidden]


# -- restore -------------------------------------------------------------------------------------


async def test_restore_brings_the_record_back_with_its_status(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    lead = await org.record(ann, "SALES_LEAD", status="FOLLOWING_UP")
    await org.invalidate(ann, lead)
    data = await api.ok(RESTORE, {"id": lead}, org.admin.token)
    assert data["restoreRecord"] == {"id": lead, "status": "FOLLOWING_UP", "lifeStatus": "NORMAL"}
    assert await org.listed_ids(ann, "SALES_LEAD") == [lead]
    assert await bin_ids(org) == []


async def test_restore_is_for_admins_only_others_cannot_read_the_bin(api: Api) -> None:
    """The registry's rule is the only gate: the owner cannot read her invalidated record,
    so restoring or deleting it is NOT_FOUND for her, as for any record she cannot read."""
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT")
    await org.invalidate(ann, account)
    for mutation in (RESTORE, DELETE):
        error = await api.error(mutation, {"id": account}, ann.token)
        assert error["extensions"]["code"] == "NOT_FOUND"
    assert await bin_ids(org) == [account]


async def test_restoring_a_normal_record_is_a_conflict(api: Api) -> None:
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT")
    error = await api.error(RESTORE, {"id": account}, org.admin.token)
    assert error["extensions"]["code"] == "CONFLICT"


async def test_restoring_an_unknown_record_is_not_found(api: Api) -> None:
    org = await new_org(api)
    error = await api.error(RESTORE, {"id": "rec_999999999"}, org.admin.token)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_restoring_a_payment_of_an_invalid_sales_order_is_a_conflict(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    order = await org.record(ann, "SALES_ORDER", status="WITHDRAWN")
    payment = await org.record(ann, "PAYMENT", salesOrderId=order)
    await org.invalidate(ann, payment)
    await org.invalidate(ann, order)
    error = await api.error(RESTORE, {"id": payment}, org.admin.token)
    assert error["extensions"]["code"] == "CONFLICT"
    assert "sales order" in error["message"]
    assert set(await bin_ids(org)) == {payment, order}


async def test_restoring_a_payment_after_its_sales_order_is_restored_works(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    order = await org.record(ann, "SALES_ORDER", status="WITHDRAWN")
    payment = await org.record(ann, "PAYMENT", salesOrderId=order)
    await org.invalidate(ann, payment)
    await org.invalidate(ann, order)
    await api.ok(RESTORE, {"id": order}, org.admin.token)
    data = await api.ok(RESTORE, {"id": payment}, org.admin.token)
    assert data["restoreRecord"]["lifeStatus"] == "NORMAL"


async def test_restoring_a_payment_of_a_deleted_sales_order_is_a_conflict(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    order = await org.record(ann, "SALES_ORDER", status="WITHDRAWN")
    payment = await org.record(ann, "PAYMENT", salesOrderId=order)
    await org.invalidate(ann, payment)
    await org.invalidate(ann, order)
    await api.ok(DELETE, {"id": order}, org.admin.token)
    error = await api.error(RESTORE, {"id": payment}, org.admin.token)
    assert error["extensions"]["code"] == "CONFLICT"


# -- delete --------------------------------------------------------------------------------------


async def test_delete_removes_an_invalid_record_for_good(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    carl = await org.user("Carl")
    account = await org.record(ann, "ACCOUNT")
    await org.add_member(ann, account, carl)
    await org.invalidate(ann, account)
    assert await api.ok(DELETE, {"id": account}, org.admin.token) == {"deleteRecord": True}
    assert await org.get(org.admin, account) is None
    assert await bin_ids(org) == []
    error = await api.error(RESTORE, {"id": account}, org.admin.token)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_deleting_a_normal_record_is_a_conflict(api: Api) -> None:
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT")
    error = await api.error(DELETE, {"id": account}, org.admin.token)
    assert error["extensions"]["code"] == "CONFLICT"
    assert await org.listed_ids(org.admin) == [account]


async def test_delete_is_for_admins_only(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT")
    error = await api.error(DELETE, {"id": account}, ann.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert await org.listed_ids(ann) == [account]


async def test_deleting_twice_is_not_found(api: Api) -> None:
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT")
    await org.invalidate(org.admin, account)
    await api.ok(DELETE, {"id": account}, org.admin.token)
    error = await api.error(DELETE, {"id": account}, org.admin.token)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_deleting_another_enterprises_record_is_not_found(api: Api) -> None:
    org = await new_org(api)
    other = await new_org(api, "Eve")
    account = await org.record(org.admin, "ACCOUNT")
    await org.invalidate(org.admin, account)
    error = await api.error(DELETE, {"id": account}, other.admin.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert await bin_ids(org) == [account]
