"""Status transitions through the API: who may apply which, their input, what they write up
(a SALES_PROCESS item, notifications), lead conversion, and that no status is a dead end.

The cast's finance users are also read-only team members of each record, so the tables hold
whatever their function roles read; one test has them act on records they are no team of.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from crmfeed.registry.actions import Actor, Rule
from crmfeed.registry.enums import ObjectType
from crmfeed.registry.transitions import TRANSITIONS, Transition, validate
from tests.feed_helpers import feed, post
from tests.processes import inbox
from tests.records_helpers import CREATE_RECORD, TRANSITION, UPDATE_RECORD, Org, Person, new_org

if TYPE_CHECKING:
    from tests.conftest import Api

RECORD_TRANSITIONS = """
query($id: ID!) {
  record(id: $id) {
    status
    transitions { name label toStatus inputs { name required } }
  }
}"""
LEAD = """
query($id: ID!) {
  record(id: $id) {
    status values
    ... on SalesLead { convertedAccountId convertedContactId convertedOpportunityId }
  }
}"""
CONVERTED = """
query($account: ID!, $contact: ID!) {
  account: record(id: $account) { name status owner { id } values }
  contact: record(id: $contact) { name owner { id } values }
}"""


@dataclass(slots=True)
class Cast:
    """Ann owns the records; Boss is her superior; Carl a Read & Write team member, Dora a
    Read Only one; the finance people are Read Only members; Eve is a stranger."""

    org: Org
    ann: Person
    boss: Person
    carl: Person
    dora: Person
    eve: Person
    finance: dict[str, Person] = field(default_factory=dict)

    def __getitem__(self, who: str) -> Person:
        if who == "admin":
            return self.org.admin
        return self.finance.get(who) or getattr(self, who)

    async def record(self, object_type: str, status: str | None = None, **values: Any) -> str:
        record = await self.org.record(self.org.admin, object_type, owner=self.ann, **values)
        await self.org.add_member(self.ann, record, self.carl, access="READ_WRITE")
        await self.org.add_member(self.ann, record, self.dora, access="READ_ONLY")
        for person in self.finance.values():
            await self.org.add_member(self.ann, record, person, access="READ_ONLY")
        if status is not None:
            await self.org.move_to(record, object_type, status)
        return record


async def cast(api: Api) -> Cast:
    org = await new_org(api)
    boss = await org.user("Boss")
    people = Cast(
        org,
        ann=await org.user("Ann", superior=boss),
        boss=boss,
        carl=await org.user("Carl"),
        dora=await org.user("Dora"),
        eve=await org.user("Eve"),
    )
    for role in ("PAYMENT_FINANCE", "REFUND_FINANCE", "INVOICE_FINANCE", "ORDER_ADMIN"):
        people.finance[role] = await org.user(role.title().replace("_", ""), roles=[role])
    return people


async def listed(org: Org, who: Person, record: str) -> list[str]:
    data = await org.api.ok(RECORD_TRANSITIONS, {"id": record}, who.token)
    return [t["name"] for t in data["record"]["transitions"]]


async def status_of(org: Org, record: str) -> str:
    data = await org.api.ok(RECORD_TRANSITIONS, {"id": record}, org.admin.token)
    return data["record"]["status"]


async def attempt(org: Org, who: Person, record: str, name: str, **given: Any) -> dict[str, Any]:
    return await org.api.raw(
        TRANSITION, {"id": record, "transition": name, "input": given}, who.token
    )


# -- each transition: an allowed actor applies it, a disallowed one is refused ------------------

# (type, from status, transition, input, who may, who may not, that one's code, to status)
# Written out here from the product's rules, not read from the registry.
CASES = [
    (
        "ACCOUNT",
        "NOT_EFFECTIVE",
        "SUBMIT_FOR_REPORTING",
        {},
        "ann",
        "dora",
        "FORBIDDEN",
        "REPORTING",
    ),
    ("ACCOUNT", "REPORTING", "APPROVE", {}, "boss", "ann", "FORBIDDEN", "ASSIGNED"),
    (
        "ACCOUNT",
        "REPORTING",
        "REJECT",
        {"reason": "Duplicate"},
        "boss",
        "carl",
        "FORBIDDEN",
        "NOT_EFFECTIVE",
    ),
    (
        "ACCOUNT",
        "UNASSIGNED",
        "ASSIGN",
        {"assigneeId": "carl"},
        "boss",
        "ann",
        "FORBIDDEN",
        "ASSIGNED",
    ),
    ("ACCOUNT", "ASSIGNED", "RETURN_TO_HIGHSEAS", {}, "ann", "carl", "FORBIDDEN", "UNASSIGNED"),
    ("ACCOUNT", "ASSIGNED", "RETURN_TO_HIGHSEAS", {}, "boss", "eve", "NOT_FOUND", "UNASSIGNED"),
    (
        "SALES_LEAD",
        "UNASSIGNED",
        "ASSIGN",
        {"assigneeId": "carl"},
        "ann",
        "carl",
        "FORBIDDEN",
        "TO_BE_PROCESSED",
    ),
    (
        "SALES_LEAD",
        "TO_BE_PROCESSED",
        "START_FOLLOWING_UP",
        {},
        "carl",
        "dora",
        "FORBIDDEN",
        "FOLLOWING_UP",
    ),
    (
        "SALES_LEAD",
        "FOLLOWING_UP",
        "MARK_INVALID",
        {"reason": "Fake"},
        "ann",
        "dora",
        "FORBIDDEN",
        "INVALID",
    ),
    ("SALES_LEAD", "INVALID", "REOPEN", {}, "boss", "eve", "NOT_FOUND", "TO_BE_PROCESSED"),
    ("SALES_LEAD", "FOLLOWING_UP", "RETURN_TO_POOL", {}, "ann", "carl", "FORBIDDEN", "UNASSIGNED"),
    ("OPPORTUNITY", "IN_PROGRESS", "CLOSE_WON", {}, "carl", "dora", "FORBIDDEN", "CLOSE_WON"),
    ("OPPORTUNITY", "IN_PROGRESS", "CLOSE_LOST", {}, "ann", "dora", "FORBIDDEN", "CLOSE_LOST"),
    (
        "OPPORTUNITY",
        "IN_PROGRESS",
        "MARK_INVALID",
        {"reason": "Test"},
        "ann",
        "eve",
        "NOT_FOUND",
        "INVALID",
    ),
    ("OPPORTUNITY", "CLOSE_LOST", "REOPEN", {}, "boss", "dora", "FORBIDDEN", "IN_PROGRESS"),
    ("VISIT", "INCOMPLETE", "COMPLETE", {}, "carl", "dora", "FORBIDDEN", "COMPLETED"),
    ("VISIT", "COMPLETED", "REOPEN", {}, "ann", "carl", "FORBIDDEN", "INCOMPLETE"),
    ("PRODUCT", "ON_SHELF", "TAKE_OFF_SHELF", {}, "ann", "dora", "FORBIDDEN", "OFF_SHELF"),
    ("PRODUCT", "OFF_SHELF", "PUT_ON_SHELF", {}, "carl", "eve", "NOT_FOUND", "ON_SHELF"),
    ("CAMPAIGN", "PLANNED", "START", {}, "ann", "dora", "FORBIDDEN", "IN_PROGRESS"),
    ("CAMPAIGN", "IN_PROGRESS", "CLOSE", {}, "carl", "dora", "FORBIDDEN", "CLOSED"),
    (
        "CAMPAIGN",
        "IN_PROGRESS",
        "TERMINATE",
        {"reason": "Cut"},
        "ann",
        "dora",
        "FORBIDDEN",
        "TERMINATED",
    ),
    ("CAMPAIGN", "CLOSED", "REPLAN", {}, "ann", "carl", "FORBIDDEN", "PLANNED"),
    (
        "PAYMENT",
        "NOT_RECEIVED",
        "MARK_RECEIVED",
        {},
        "PAYMENT_FINANCE",
        "ann",
        "FORBIDDEN",
        "RECEIVED",
    ),
    (
        "PAYMENT",
        "NOT_RECEIVED",
        "REJECT",
        {"reason": "No"},
        "PAYMENT_FINANCE",
        "REFUND_FINANCE",
        "FORBIDDEN",
        "REJECTED",
    ),
    ("PAYMENT", "REJECTED", "RESUBMIT", {}, "ann", "dora", "FORBIDDEN", "NOT_RECEIVED"),
    (
        "PAYMENT",
        "RECEIVED",
        "REVERT_RECEIPT",
        {"reason": "Bounced"},
        "PAYMENT_FINANCE",
        "ann",
        "FORBIDDEN",
        "NOT_RECEIVED",
    ),
    (
        "REFUND",
        "NOT_REFUNDED",
        "MARK_REFUNDED",
        {},
        "REFUND_FINANCE",
        "ann",
        "FORBIDDEN",
        "REFUNDED",
    ),
    (
        "REFUND",
        "NOT_REFUNDED",
        "REJECT",
        {"reason": "No"},
        "REFUND_FINANCE",
        "PAYMENT_FINANCE",
        "FORBIDDEN",
        "REJECTED",
    ),
    (
        "INVOICING_APPLICATION",
        "UNBILLED",
        "MARK_INVOICED",
        {},
        "INVOICE_FINANCE",
        "ann",
        "FORBIDDEN",
        "INVOICED",
    ),
    (
        "INVOICING_APPLICATION",
        "UNBILLED",
        "REJECT",
        {"reason": "Wrong tax number"},
        "INVOICE_FINANCE",
        "carl",
        "FORBIDDEN",
        "REJECTED",
    ),
    (
        "INVOICING_APPLICATION",
        "INVOICED",
        "CANCEL_INVOICE",
        {"reason": "Reissue"},
        "INVOICE_FINANCE",
        "boss",
        "FORBIDDEN",
        "UNBILLED",
    ),
    ("SALES_ORDER", "CONFIRMING", "WITHDRAW", {}, "ann", "dora", "FORBIDDEN", "WITHDRAWN"),
    ("SALES_ORDER", "WITHDRAWN", "RESUBMIT", {}, "carl", "eve", "NOT_FOUND", "CONFIRMING"),
    ("RETURN_FORM", "CONFIRMING", "WITHDRAW", {}, "ann", "dora", "FORBIDDEN", "WITHDRAWN"),
    # with no confirmers (no default chain here) the Order Administrator confirms
    ("SALES_ORDER", "CONFIRMING", "CONFIRM", {}, "ORDER_ADMIN", "ann", "FORBIDDEN", "CONFIRMED"),
    (
        "RETURN_FORM",
        "CONFIRMING",
        "REJECT",
        {"reason": "Not ours"},
        "ORDER_ADMIN",
        "boss",
        "FORBIDDEN",
        "REJECTED",
    ),
    ("SALES_ORDER", "CONFIRMED", "SHIP", {}, "ORDER_ADMIN", "ann", "FORBIDDEN", "SHIPPED"),
    ("SALES_ORDER", "SHIPPED", "RECEIVE", {}, "ann", "dora", "FORBIDDEN", "RECEIVED"),
    (
        "SALES_ORDER",
        "CONFIRMED",
        "REVOKE_CONFIRMATION",
        {"reason": "Customer cancelled"},
        "ORDER_ADMIN",
        "boss",
        "FORBIDDEN",
        "REJECTED",
    ),
    (
        "SALES_ORDER",
        "RECEIVED",
        "REVERT_RECEIPT",
        {"reason": "Wrong address"},
        "ORDER_ADMIN",
        "carl",
        "FORBIDDEN",
        "SHIPPED",
    ),
    ("WORK_ORDER", "NEW", "START_PROCESSING", {}, "carl", "dora", "FORBIDDEN", "PROCESSING"),
    ("WORK_ORDER", "RESOLVED", "CLOSE", {}, "ann", "dora", "FORBIDDEN", "CLOSED"),
]


@pytest.mark.parametrize(
    ("object_type", "start", "name", "given", "may", "may_not", "code", "goal"),
    CASES,
    ids=[f"{c[0]}-{c[2]}-{c[4]}-not-{c[5]}" for c in CASES],
)
async def test_a_transition_is_applied_by_who_may_and_refused_for_who_may_not(
    api: Api,
    object_type: str,
    start: str,
    name: str,
    given: dict[str, Any],
    may: str,
    may_not: str,
    code: str,
    goal: str,
) -> None:
    people = await cast(api)
    org = people.org
    record = await people.record(object_type, start)
    given = {k: people[v].id if k == "assigneeId" else v for k, v in given.items()}

    refused = await attempt(org, people[may_not], record, name, **given)
    assert refused["errors"][0]["extensions"]["code"] == code, refused
    assert await status_of(org, record) == start
    if code == "FORBIDDEN":
        assert name not in await listed(org, people[may_not], record)

    assert name in await listed(org, people[may], record)
    applied = await attempt(org, people[may], record, name, **given)
    assert applied.get("errors") is None, applied
    assert applied["data"]["transitionRecord"]["status"] == goal
    assert await status_of(org, record) == goal


@pytest.mark.parametrize(
    ("object_type", "role", "name", "goal"),
    [
        ("PAYMENT", "PAYMENT_FINANCE", "MARK_RECEIVED", "RECEIVED"),
        ("REFUND", "REFUND_FINANCE", "MARK_REFUNDED", "REFUNDED"),
        ("INVOICING_APPLICATION", "INVOICE_FINANCE", "MARK_INVOICED", "INVOICED"),
    ],
)
async def test_a_finance_role_applies_its_transition_to_a_record_of_anyone(
    api: Api, object_type: str, role: str, name: str, goal: str
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    finance = await org.user("Fin", roles=[role])
    record = await org.record(ann, object_type)
    assert set(await listed(org, finance, record)) == {name, "REJECT"}
    assert (await org.transition(finance, record, name))["status"] == goal
    assert name not in await listed(org, ann, record)


async def test_a_transition_from_another_status_is_forbidden_and_says_from_which(
    api: Api,
) -> None:
    people = await cast(api)
    opportunity = await people.record("OPPORTUNITY", "CLOSE_WON")
    error = await people.org.api.error(
        TRANSITION, {"id": opportunity, "transition": "CLOSE_LOST"}, people.ann.token
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "IN_PROGRESS" in error["message"]
    assert "CLOSE_WON" in error["message"]


async def test_transitions_of_an_invalid_record_are_a_conflict_and_none_are_listed(
    api: Api,
) -> None:
    org = await new_org(api)
    visit = await org.record(org.admin, "VISIT")
    await org.invalidate(org.admin, visit)
    error = await api.error(TRANSITION, {"id": visit, "transition": "COMPLETE"}, org.admin.token)
    assert error["extensions"]["code"] == "CONFLICT"
    assert await listed(org, org.admin, visit) == []


# -- input --------------------------------------------------------------------------------------


async def test_an_unknown_transition_is_bad_user_input_listing_the_known_ones(api: Api) -> None:
    org = await new_org(api)
    visit = await org.record(org.admin, "VISIT")
    error = await api.error(TRANSITION, {"id": visit, "transition": "FINISH"}, org.admin.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "transition"}
    assert "COMPLETE" in error["message"]


@pytest.mark.parametrize(
    ("object_type", "start", "name", "given", "field"),
    [
        ("ACCOUNT", "REPORTING", "REJECT", {}, "input.reason"),
        ("ACCOUNT", "REPORTING", "REJECT", {"reason": "   "}, "input.reason"),
        ("SALES_LEAD", "UNASSIGNED", "ASSIGN", {}, "input.assigneeId"),
        ("SALES_LEAD", "UNASSIGNED", "ASSIGN", {"assigneeId": "rec_1"}, "input.assigneeId"),
        ("SALES_LEAD", "UNASSIGNED", "ASSIGN", {"assigneeId": "usr_999999"}, "input.assigneeId"),
        ("OPPORTUNITY", "IN_PROGRESS", "CLOSE_WON", {"reason": "x"}, "input.reason"),
        ("CAMPAIGN", "PLANNED", "TERMINATE", {"reason": 5}, "input.reason"),
    ],
)
async def test_missing_or_bad_input_is_bad_user_input_and_changes_nothing(
    api: Api, object_type: str, start: str, name: str, given: dict[str, Any], field: str
) -> None:
    org = await new_org(api)
    record = await org.record(org.admin, object_type, status=start)
    body = await attempt(org, org.admin, record, name, **given)
    error = body["errors"][0]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, error
    assert await status_of(org, record) == start


async def test_input_that_is_not_an_object_is_bad_user_input(api: Api) -> None:
    org = await new_org(api)
    visit = await org.record(org.admin, "VISIT")
    variables = {"id": visit, "transition": "COMPLETE", "input": [1]}
    error = await api.error(TRANSITION, variables, org.admin.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "input"}


# -- Record.transitions agrees with transitionRecord ---------------------------------------------

VIEWERS = [
    "ann",
    "boss",
    "carl",
    "dora",
    "PAYMENT_FINANCE",
    "INVOICE_FINANCE",
    "ORDER_ADMIN",
    "admin",
]


@pytest.mark.parametrize(
    ("object_type", "status"),
    [
        ("ACCOUNT", "REPORTING"),
        ("ACCOUNT", "ASSIGNED"),
        ("SALES_LEAD", "FOLLOWING_UP"),
        ("OPPORTUNITY", "IN_PROGRESS"),
        ("PAYMENT", "NOT_RECEIVED"),
        ("INVOICING_APPLICATION", "INVOICED"),
        ("VISIT", "COMPLETED"),
        ("SALES_ORDER", "CONFIRMING"),
        ("SALES_ORDER", "SHIPPED"),
        ("RETURN_FORM", "REJECTED"),
    ],
)
async def test_record_transitions_lists_exactly_what_transition_record_accepts(
    api: Api, object_type: str, status: str
) -> None:
    people = await cast(api)
    org = people.org
    declared = [t for t in await org.transitions_of(object_type) if status in t["fromStatuses"]]
    assert declared
    record = await people.record(object_type, status)
    for viewer in VIEWERS:
        who = people[viewer]
        offered = set(await listed(org, who, record))
        for step in declared:
            given = {
                i["name"]: people.ann.id if i["name"] == "assigneeId" else "Because."
                for i in step["inputs"]
                if i["required"]
            }
            if step["name"] in offered:
                fresh = await people.record(object_type, status)
                body = await attempt(org, who, fresh, step["name"], **given)
                assert body.get("errors") is None, (viewer, step["name"], body)
            else:
                body = await attempt(org, who, record, step["name"], **given)
                assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (viewer, body)
        assert await status_of(org, record) == status


# -- follow-up activity: the feed item and the notifications ------------------------------------


async def test_a_transition_writes_a_sales_process_item_seen_like_the_records_other_items(
    api: Api,
) -> None:
    people = await cast(api)
    org = people.org
    account = await people.record("ACCOUNT", "REPORTING")
    await org.transition(people.boss, account, "REJECT", "Call them first.", reason="Duplicate")
    page = await feed(org, people.ann, record=account, types=["SALES_PROCESS"])
    newest = page["edges"][0]["node"]
    assert newest["content"] == (
        "Rejected by Boss: Reporting → Not effective.\nReason: Duplicate\nComment: Call them first."
    )
    assert newest["relatedTo"] == [{"id": account}]
    for viewer in (people.dora, people.boss, org.admin):
        assert newest["id"] in [
            e["node"]["id"] for e in (await feed(org, viewer, record=account))["edges"]
        ]
    work = await feed(org, people.eve, types=["SALES_PROCESS"])
    assert work["totalCount"] == 0


async def test_the_owner_is_notified_when_someone_else_moves_the_record_not_when_they_do(
    api: Api,
) -> None:
    people = await cast(api)
    org = people.org
    opportunity = await org.record(people.ann, "OPPORTUNITY", "Deal")
    await org.add_member(people.ann, opportunity, people.carl, access="READ_WRITE")
    await org.transition(people.ann, opportunity, "CLOSE_LOST")
    assert await inbox(api, people.ann) == []
    await org.transition(people.carl, opportunity, "REOPEN")
    [note] = await inbox(api, people.ann)
    assert note["kind"] == "STATUS_CHANGED"
    assert note["actor"] == {"id": people.carl.id, "name": "Carl"}
    assert note["record"] == {"id": opportunity, "name": "Deal"}
    assert note["feedItem"]["type"] == "SALES_PROCESS"
    assert note["feedItem"]["content"] == "Reopened by Carl: Close lost → In progress."
    assert await inbox(api, people.carl) == []


async def test_assigning_makes_the_assignee_owner_and_tells_them(
    api: Api,
) -> None:
    people = await cast(api)
    org = people.org
    lead = await org.record(people.ann, "SALES_LEAD", "Lead of the fair", status="UNASSIGNED")
    moved = await org.transition(people.boss, lead, "ASSIGN", assigneeId=people.carl.id)
    assert moved["owner"] == {"id": people.carl.id}
    assert moved["status"] == "TO_BE_PROCESSED"
    [told] = await inbox(api, people.carl)
    assert (told["kind"], told["record"]["id"]) == ("OWNER_CHANGED", lead)
    assert told["feedItem"]["content"] == (
        "Assigned to Carl by Boss: Unassigned → To be processed."
    )
    assert await inbox(api, people.ann) == []  # she left the team with the record
    assert "START_FOLLOWING_UP" in await listed(org, people.carl, lead)


async def test_a_sales_stage_change_by_someone_else_notifies_the_owner(api: Api) -> None:
    people = await cast(api)
    org = people.org
    opportunity = await org.record(people.ann, "OPPORTUNITY", "Deal", salesStage="PROPOSAL")
    await org.add_member(people.ann, opportunity, people.carl, access="READ_WRITE")
    await org.update(people.carl, opportunity, salesStage="NEGOTIATION")
    [note] = await inbox(api, people.ann)
    assert note["kind"] == "STATUS_CHANGED"
    assert note["feedItem"]["content"] == "Stage: Proposal → Negotiation (by Carl)."


# -- lead conversion ----------------------------------------------------------------------------


async def test_converting_a_lead_creates_account_contact_opportunity_and_links_its_history(
    api: Api,
) -> None:
    people = await cast(api)
    org = people.org
    lead = await org.record(
        people.ann,
        "SALES_LEAD",
        "Wang Lei",
        company="Hangzhou Tea Co",
        mobile="+86 571 0000",
        email="wang@tea.example",
    )
    await org.add_member(people.ann, lead, people.carl, access="READ_WRITE")
    history = await post(org, people.ann, "Met at the fair.", related=[lead])
    converted = await org.transition(
        people.carl, lead, "CONVERT", opportunityName="Tea for 2027", opportunityAmount=5000
    )
    assert converted["status"] == "FOLLOWING_UP"
    found = (await api.ok(LEAD, {"id": lead}, people.ann.token))["record"]
    account, contact = found["convertedAccountId"], found["convertedContactId"]
    opportunity = found["convertedOpportunityId"]
    assert all((account, contact, opportunity))
    made = await api.ok(CONVERTED, {"account": account, "contact": contact}, people.ann.token)
    assert made["account"]["name"] == "Hangzhou Tea Co"
    assert made["account"]["owner"] == {"id": people.ann.id}
    assert made["account"]["status"] == "ASSIGNED"
    assert made["contact"]["name"] == "Wang Lei"
    assert made["contact"]["values"] == {
        "name": "Wang Lei",
        "accountId": account,
        "mobile": "+86 571 0000",
        "email": "wang@tea.example",
    }
    deal = await org.get(people.ann, opportunity)
    assert deal is not None
    assert deal["values"]["accountId"] == account
    assert deal["values"]["amount"] == 5000

    account_feed = [e["node"] for e in (await feed(org, people.ann, record=account))["edges"]]
    assert history["id"] in [node["id"] for node in account_feed]
    [process] = [node for node in account_feed if node["type"] == "SALES_PROCESS"]
    assert process["content"].startswith(
        "Lead converted to account Hangzhou Tea Co, contact Wang Lei and opportunity "
        "Tea for 2027 by Carl"
    )
    assert {r["id"] for r in process["relatedTo"]} == {lead, account, contact, opportunity}
    assert [n["kind"] for n in await inbox(api, people.ann)] == ["STATUS_CHANGED"]

    again = await attempt(org, people.carl, lead, "CONVERT")
    assert again["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "not been converted" in again["errors"][0]["message"]
    assert "CONVERT" not in await listed(org, people.carl, lead)


async def test_converting_without_an_opportunity_name_makes_no_opportunity(api: Api) -> None:
    org = await new_org(api)
    lead = await org.record(org.admin, "SALES_LEAD", "Solo")
    await org.transition(org.admin, lead, "CONVERT", accountName="Solo Ltd")
    found = (await api.ok(LEAD, {"id": lead}, org.admin.token))["record"]
    assert found["convertedOpportunityId"] is None
    assert await org.listed_ids(org.admin, "OPPORTUNITY") == []
    assert [a["node"]["name"] for a in (await org.listing(org.admin, "ACCOUNT"))["edges"]] == [
        "Solo Ltd"
    ]


async def test_the_converted_lookups_are_written_only_by_the_conversion(api: Api) -> None:
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT")
    lead = await org.record(org.admin, "SALES_LEAD")
    error = await api.error(
        UPDATE_RECORD, {"id": lead, "values": {"convertedAccountId": account}}, org.admin.token
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "convertedAccountId"}
    assert "CONVERT" in error["message"]


@pytest.mark.parametrize(
    ("object_type", "values", "transition"),
    [
        ("ACCOUNT", {"approvalStatus": "APPROVED"}, "SUBMIT_FOR_REPORTING"),
        ("ACCOUNT", {"inHighseas": True}, "APPROVE"),
        ("SALES_ORDER", {"firstConfirmerConfirmed": True}, "CONFIRM"),
        ("SALES_ORDER", {"currentConfirmerId": "usr_1"}, "CONFIRM"),
        ("RETURN_FORM", {"currentConfirmerId": "usr_1"}, "CONFIRM"),
    ],
)
async def test_fields_the_transitions_set_are_not_written_through_values(
    api: Api, object_type: str, values: dict[str, Any], transition: str
) -> None:
    """An account marked approved or in the highseas by hand would contradict its status."""
    org = await new_org(api)
    record = await org.record(org.admin, object_type)
    (field_name,) = values
    for mutation, variables in (
        (UPDATE_RECORD, {"id": record, "values": values}),
        (CREATE_RECORD, {"type": object_type, "values": {"name": "New", **values}}),
    ):
        error = await api.error(mutation, variables, org.admin.token)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field_name}
        assert f"set only by the {transition} transition" in error["message"]


async def test_converting_needs_the_create_permissions(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    nobody = await org.user("Nobody", roles=[])
    lead = await org.record(ann, "SALES_LEAD")
    await org.add_member(ann, lead, nobody, access="READ_WRITE")
    error = await api.error(TRANSITION, {"id": lead, "transition": "CONVERT"}, nobody.token)
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "Account.create" in error["message"]
    assert await org.total(ann, "ACCOUNT") == 0


# -- no dead ends ------------------------------------------------------------------------------

OBJECT_TYPES = "{ objectTypes { objectType statuses defaultStatus } }"


@pytest.mark.parametrize("object_type", [o.value for o in ObjectType])
async def test_every_status_reaches_every_other_through_transitions_people_may_apply(
    api: Api, object_type: str
) -> None:
    """Explore through the API: from each status reached, every transition some viewer (the
    owner, her superior, a finance or order user; not the CRM administrator) is offered is
    applied to a fresh record brought to that status the same way. Every status must reach
    every other. (Orders have no default chain here: the Order Administrator confirms.)"""
    people = await cast(api)
    org = people.org
    types = (await api.ok(OBJECT_TYPES, token=org.admin.token))["objectTypes"]
    spec = next(t for t in types if t["objectType"] == object_type)
    walkers = [people.ann, people.boss, *people.finance.values()]
    paths: dict[str, list[tuple[Person, str]]] = {spec["defaultStatus"]: []}
    edges: dict[str, set[str]] = {}
    queue = [spec["defaultStatus"]]

    async def bring(path: list[tuple[Person, str]]) -> str:
        record = await people.record(object_type)
        for who, name in path:
            await attempt_ok(org, who, record, name, people.ann.id)
        return record

    while queue:
        here = queue.pop(0)
        edges[here] = set()
        record = await bring(paths[here])
        offered: dict[str, Person] = {}
        for who in walkers:
            for name in await listed(org, who, record):
                offered.setdefault(name, who)
        for name, who in offered.items():
            fresh = await bring(paths[here])
            there = await attempt_ok(org, who, fresh, name, people.ann.id)
            edges[here].add(there)
            if there not in paths:
                paths[there] = [*paths[here], (who, name)]
                queue.append(there)
    for start in spec["statuses"]:
        assert start in edges, f"{object_type}: {start} is never reached"
        seen, todo = {start}, [start]
        while todo:
            for there in edges[todo.pop()] - seen:
                seen.add(there)
                todo.append(there)
        assert seen == set(spec["statuses"]), f"{object_type}: from {start} only {seen}"


async def attempt_ok(org: Org, who: Person, record: str, name: str, assignee: str) -> str:
    """Apply with every required input filled; the status reached."""
    data = await org.api.ok(RECORD_TRANSITIONS, {"id": record}, who.token)
    [step] = [t for t in data["record"]["transitions"] if t["name"] == name]
    given = {
        i["name"]: assignee if i["name"] == "assigneeId" else "Because."
        for i in step["inputs"]
        if i["required"]
    }
    return (await org.transition(who, record, name, **given))["status"]


# -- the table is checked when it loads ---------------------------------------------------------


def _with(object_type: ObjectType, bad: Transition) -> dict[ObjectType, tuple[Transition, ...]]:
    return {**TRANSITIONS, object_type: (*TRANSITIONS[object_type], bad)}


def _bad(statuses: str, to: str, **extra: Any) -> Transition:
    rule = Rule(frozenset(statuses.split()), frozenset({Actor.OWNER}))
    return Transition("BAD", "Bad", "Bad", rule, to, **extra)


@pytest.mark.parametrize(
    ("table", "words"),
    [
        (_with(ObjectType.VISIT, _bad("INCOMPLETE", "DONE")), "unknown statuses"),
        (_with(ObjectType.VISIT, _bad("INCOMPLETE", "COMPLETED", sets={"x": 1})), "not a field"),
        (_with(ObjectType.VISIT, _bad("COMPLETED", "COMPLETED")), "leads back"),
        (_with(ObjectType.VISIT, TRANSITIONS[ObjectType.VISIT][0]), "declared twice"),
        ({o: t for o, t in TRANSITIONS.items() if o is not ObjectType.VISIT}, "every object"),
    ],
)
def test_a_table_naming_unknown_things_is_refused_when_it_loads(
    table: dict[ObjectType, tuple[Transition, ...]], words: str
) -> None:
    validate(TRANSITIONS)
    with pytest.raises(RuntimeError, match=words):
        validate(table)


# -- at once -----------------------------------------------------------------------------------


async def test_concurrent_conversions_of_one_lead_make_one_account(api: Api) -> None:
    """The record is locked while a transition checks and applies it: of several conversions
    at once, one converts the lead and the others find it converted."""
    org = await new_org(api)
    lead = await org.record(org.admin, "SALES_LEAD", "Rush")
    variables = {"id": lead, "transition": "CONVERT"}
    bodies = await asyncio.gather(
        *(api.raw(TRANSITION, variables, org.admin.token) for _ in range(6))
    )
    codes = sorted(
        b["errors"][0]["extensions"]["code"] if b.get("errors") else "OK" for b in bodies
    )
    assert codes == ["FORBIDDEN"] * 5 + ["OK"]
    assert await org.total(org.admin, "ACCOUNT") == 1
    assert await org.total(org.admin, "CONTACT") == 1
