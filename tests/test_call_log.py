"""logCall: a call to a record's phone becomes a sales record related to it, seen and notified
as any other item; the number must be one the record (or its account's contact) holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.feed_helpers import feed_ids, feed_item, new_org
from tests.processes import inbox

if TYPE_CHECKING:
    from tests.conftest import Api
    from tests.records_helpers import Org, Person

LOG_CALL = """
mutation($input: LogCallInput!) {
  logCall(input: $input) { id type content author { id } relatedTo { id } mentions { id } }
}"""
SET_FIELD_ACCESS = """
mutation($t: ObjectType!, $f: String!, $r: FunctionRole!, $a: FieldAccess!) {
  setFieldAccess(objectType: $t, field: $f, role: $r, access: $a) }"""


def call_input(record: str, **given: object) -> dict[str, object]:
    return {
        "recordId": record,
        "direction": "OUTBOUND",
        "durationSeconds": 185,
        "outcome": "CONNECTED",
        **given,
    }


async def log_call(org: Org, who: Person, record: str, **given: object) -> dict[str, object]:
    data = await org.api.ok(LOG_CALL, {"input": call_input(record, **given)}, who.token)
    return data["logCall"]


async def call_error(org: Org, who: Person, record: str, **given: object) -> dict[str, object]:
    return await org.api.error(LOG_CALL, {"input": call_input(record, **given)}, who.token)


async def test_a_call_becomes_a_sales_record_on_the_record(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    boss = await org.user("Boss")
    account = await org.record(ann, "ACCOUNT", "上海客户", phone="+86 21 5555 0101")
    item = await log_call(
        org, ann, account, phoneField="phone", note="They want a quote.", mentions=[boss.id]
    )
    assert item["type"] == "SALES_RECORD"
    assert item["author"]["id"] == ann.id
    assert [r["id"] for r in item["relatedTo"]] == [account]
    assert "Call (outbound, 3 min 05 s, connected): +86 21 5555 0101 (Phone)" in item["content"]
    assert "They want a quote." in item["content"]
    # In the record's feed and the author's Work feed, like a posted sales record.
    assert await feed_ids(org, ann, record=account) == [item["id"]]
    assert item["id"] in await feed_ids(org, ann)
    # The @mentioned boss is notified (and so may see the item).
    notes = await inbox(api, boss)
    assert [(n["kind"], n["feedItem"]["id"]) for n in notes] == [("MENTION", item["id"])]
    assert await feed_item(org, boss, item["id"]) is not None


async def test_by_number_digits_only_compared(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    lead = await org.record(ann, "SALES_LEAD", "Lead", mobile="+86 138-0000-1111")
    item = await log_call(org, ann, lead, number="+8613800001111", direction="INBOUND")
    assert "Call (inbound" in item["content"] and "(Mobile)" in item["content"]
    wrong = await call_error(org, ann, lead, number="+86 999")
    assert wrong["extensions"] == {"code": "BAD_USER_INPUT", "field": "number"}
    both = await call_error(org, ann, lead, number="+8613800001111", phoneField="mobile")
    assert both["extensions"]["code"] == "BAD_USER_INPUT"
    empty = await call_error(org, ann, lead, phoneField="email")
    assert empty["extensions"] == {"code": "BAD_USER_INPUT", "field": "phoneField"}
    assert await feed_ids(org, ann, record=lead) == [item["id"]]  # nothing else written


async def test_a_contact_of_the_account(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    contact = await org.record(ann, "CONTACT", "Chen", accountId=account, mobile="+1 555 0100")
    other = await org.record(ann, "CONTACT", "Elsewhere", mobile="+1 555 0199")
    item = await log_call(org, ann, account, contactId=contact, phoneField="mobile")
    assert sorted(r["id"] for r in item["relatedTo"]) == sorted([account, contact])
    assert "Chen +1 555 0100" in item["content"]
    refused = await call_error(org, ann, account, contactId=other, phoneField="mobile")
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "contactId"}


async def test_visibility_of_the_call_and_the_record(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    boss = await org.user("Boss")
    await api.ok(
        "mutation($id: ID!, $s: ID!) { updateUser(id: $id, input: {superiorId: $s}) { id } }",
        {"id": ann.id, "s": boss.id},
        org.admin.token,
    )
    stranger = await org.user("Stranger")
    account = await org.record(ann, "ACCOUNT", "Acme", phone="+1 555 0100")
    item = await log_call(org, ann, account, phoneField="phone")
    # The owner's superior sees the record's follow-up activity; a stranger does not.
    assert await feed_item(org, boss, item["id"]) is not None
    assert await feed_item(org, stranger, item["id"]) is None
    # A stranger cannot log a call on a record they may not read: it does not exist for them.
    hidden = await call_error(org, stranger, account, phoneField="phone")
    assert hidden["extensions"]["code"] == "NOT_FOUND"


async def test_a_hidden_phone_field_cannot_be_called(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann", roles=["SALES"])
    account = await org.record(ann, "ACCOUNT", "Acme", phone="+1 555 0100")
    variables = {"t": "ACCOUNT", "f": "phone", "r": "SALES", "a": "HIDDEN"}
    await api.ok(SET_FIELD_ACCESS, variables, org.admin.token)
    by_field = await call_error(org, ann, account, phoneField="phone")
    assert by_field["extensions"]["field"] == "phoneField"
    by_number = await call_error(org, ann, account, number="+1 555 0100")
    assert by_number["extensions"]["field"] == "number"


async def test_types_without_a_phone_and_bad_durations(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    product = await org.record(org.admin, "PRODUCT", "Widget")
    no_phone = await call_error(org, org.admin, product, number="1")
    assert no_phone["extensions"]["code"] == "BAD_USER_INPUT"
    assert "no phone field" in no_phone["message"]
    account = await org.record(ann, "ACCOUNT", "Acme", phone="+1 555 0100")
    negative = await call_error(org, ann, account, phoneField="phone", durationSeconds=-1)
    assert negative["extensions"] == {"code": "BAD_USER_INPUT", "field": "durationSeconds"}
