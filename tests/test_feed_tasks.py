"""Tasks, calendar events, reminders and sales-process items in the feeds (seed 000)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import unique_email
from tests.feed_helpers import Org, Person, feed, feed_ids, feed_item, new_org, post

if TYPE_CHECKING:
    from tests.conftest import Api

CONVERT = """
mutation($id: ID!, $assignee: ID!, $due: DateTime) {
  convertToTask(itemId: $id, assigneeId: $assignee, dueAt: $due) {
    id title dueAt done assignee { id } createdBy { id }
    sourceItem { id } feedItem { id type } record { id }
  }
}"""
CREATE_TASK = """
mutation($input: CreateTaskInput!) {
  createTask(input: $input) {
    id title assignee { id } sourceItem { id } feedItem { id type cc { id } } record { id }
  }
}"""
MY_TASKS = """
query { myTasks(first: 50) { edges { node { id title assignee { id } sourceItem { id } } } } }"""
CALENDAR = """
mutation($input: CreateCalendarEventInput!) {
  createCalendarEvent(input: $input) {
    id title startsAt participants { id } record { id } feedItem { id type }
  }
}"""
REMINDER = """
mutation($id: ID!, $at: DateTime!, $users: [ID!], $note: String) {
  addReminder(itemId: $id, remindAt: $at, userIds: $users, note: $note) {
    id note users { id } feedItem { id } record { id }
  }
}"""
RECORD_REMINDER = """
mutation($id: ID!, $at: DateTime!, $users: [ID!]) {
  addRecordReminder(recordId: $id, remindAt: $at, userIds: $users) {
    id users { id } feedItem { id } record { id }
  }
}"""

PAST = "2001-01-01T09:00:00+00:00"


def future(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0).isoformat()


@pytest.fixture
async def org(api: Api) -> Org:
    return await new_org(api)


async def an_item(org: Org) -> tuple[Person, str, dict[str, Any]]:
    """An owner, their account and a sales record on it."""
    owner = await org.user("Owner")
    account = await org.record(owner, "ACCOUNT", "Acme")
    return owner, account, await post(org, owner, "Send Acme the quote", related=[account])


async def my_tasks(org: Org, who: Person) -> list[dict[str, Any]]:
    data = await org.api.ok(MY_TASKS, token=who.token)
    return [edge["node"] for edge in data["myTasks"]["edges"]]


# -- tasks ---------------------------------------------------------------------------------------


async def test_converted_task_appears_in_the_record_feed_and_the_assignees_tasks(
    org: Org,
) -> None:
    boss = await org.user("Boss")
    owner = await org.user("Owner", superior=boss)
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, "Send Acme the quote", related=[account])
    due = future()
    data = await org.api.ok(
        CONVERT, {"id": item["id"], "assignee": owner.id, "due": due}, boss.token
    )
    task = data["convertToTask"]
    assert task["title"] == "Send Acme the quote"
    assert task["assignee"] == {"id": owner.id}
    assert task["createdBy"] == {"id": boss.id}
    assert task["sourceItem"] == {"id": item["id"]}
    assert task["record"] == {"id": account}
    assert task["done"] is False
    assert datetime.fromisoformat(task["dueAt"]) == datetime.fromisoformat(due)
    assert task["feedItem"]["type"] == "TASK"
    assert await feed_ids(org, owner, record=account, types=["TASK"]) == [task["feedItem"]["id"]]
    assert [t["id"] for t in await my_tasks(org, owner)] == [task["id"]]
    assert await my_tasks(org, boss) == []


async def test_converting_to_a_task_for_someone_who_cannot_see_the_item_is_refused(
    org: Org,
) -> None:
    owner, account, item = await an_item(org)
    stranger = await org.user("Stranger")
    error = await org.api.error(CONVERT, {"id": item["id"], "assignee": stranger.id}, owner.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "assigneeId"}
    assert await my_tasks(org, stranger) == []
    assert await feed_ids(org, owner, record=account, types=["TASK"]) == []


async def test_a_mentioned_user_may_be_given_the_task(org: Org) -> None:
    owner = await org.user("Owner")
    helper = await org.user("Helper")
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, related=[account], mentions=[helper.id])
    data = await org.api.ok(CONVERT, {"id": item["id"], "assignee": helper.id}, owner.token)
    assert data["convertToTask"]["assignee"] == {"id": helper.id}
    [task] = await my_tasks(org, helper)
    assert task["sourceItem"] == {"id": item["id"]}


async def test_converting_an_item_i_cannot_see_is_not_found(org: Org) -> None:
    owner, _, item = await an_item(org)
    stranger = await org.user("Stranger")
    error = await org.api.error(CONVERT, {"id": item["id"], "assignee": owner.id}, stranger.token)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert await my_tasks(org, owner) == []


async def test_create_task_on_a_record_puts_a_task_item_in_its_feed(org: Org) -> None:
    owner = await org.user("Owner")
    member = await org.user("Member")
    opportunity = await org.record(owner, "OPPORTUNITY", "Deal")
    await org.add_member(owner, opportunity, member)
    data = await org.api.ok(
        CREATE_TASK,
        {"input": {"recordId": opportunity, "title": "Call back", "assigneeId": member.id}},
        owner.token,
    )
    task = data["createTask"]
    assert task["record"] == {"id": opportunity}
    assert task["sourceItem"] is None
    assert task["feedItem"]["type"] == "TASK"
    assert task["feedItem"]["cc"] == [{"id": member.id}]
    assert await feed_ids(org, owner, record=opportunity) == [task["feedItem"]["id"]]
    assert [t["title"] for t in await my_tasks(org, member)] == ["Call back"]


async def test_create_task_for_someone_who_cannot_read_the_record_is_refused(org: Org) -> None:
    owner = await org.user("Owner")
    stranger = await org.user("Stranger")
    account = await org.record(owner, "ACCOUNT", "Acme")
    error = await org.api.error(
        CREATE_TASK,
        {"input": {"recordId": account, "title": "Call back", "assigneeId": stranger.id}},
        owner.token,
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "assigneeId"}
    assert await feed_ids(org, owner, record=account) == []
    assert await my_tasks(org, stranger) == []


# -- calendar ------------------------------------------------------------------------------------


async def test_calendar_event_from_a_record_appears_in_its_feed(org: Org) -> None:
    owner = await org.user("Owner")
    guest = await org.user("Guest")
    account = await org.record(owner, "ACCOUNT", "Acme")
    data = await org.api.ok(
        CALENDAR,
        {
            "input": {
                "title": "Demo at Acme",
                "startsAt": future(),
                "recordId": account,
                "participantIds": [guest.id],
            }
        },
        owner.token,
    )
    event = data["createCalendarEvent"]
    assert event["record"] == {"id": account}
    assert event["participants"] == [{"id": guest.id}]
    assert event["feedItem"]["type"] == "CALENDAR"
    assert await feed_ids(org, owner, record=account, types=["CALENDAR"]) == [
        event["feedItem"]["id"]
    ]
    # a participant sees the event item even without access to the account
    assert await feed_item(org, guest, event["feedItem"]["id"]) is not None


async def test_calendar_event_from_an_item_appears_in_the_related_records_feed(
    org: Org,
) -> None:
    owner, account, item = await an_item(org)
    data = await org.api.ok(
        CALENDAR,
        {"input": {"title": "Follow-up call", "startsAt": future(), "itemId": item["id"]}},
        owner.token,
    )
    event = data["createCalendarEvent"]
    assert event["record"] == {"id": account}
    page = await feed(org, owner, record=account)
    assert [(e["node"]["id"], e["node"]["type"]) for e in page["edges"]] == [
        (event["feedItem"]["id"], "CALENDAR"),
        (item["id"], "SALES_RECORD"),
    ]


async def test_calendar_event_needs_exactly_one_of_record_and_item(org: Org) -> None:
    owner, account, item = await an_item(org)
    for source in ({}, {"recordId": account, "itemId": item["id"]}):
        error = await org.api.error(
            CALENDAR, {"input": {"title": "Call", "startsAt": future(), **source}}, owner.token
        )
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert await feed_ids(org, owner, record=account) == [item["id"]]


# -- reminders -----------------------------------------------------------------------------------


async def test_reminder_defaults_to_me(org: Org) -> None:
    owner, _, item = await an_item(org)
    data = await org.api.ok(
        REMINDER, {"id": item["id"], "at": future(), "note": "Chase"}, owner.token
    )
    reminder = data["addReminder"]
    assert reminder["users"] == [{"id": owner.id}]
    assert reminder["feedItem"] == {"id": item["id"]}
    assert reminder["record"] is None
    assert reminder["note"] == "Chase"


async def test_reminder_in_the_past_is_refused(org: Org) -> None:
    owner, _, item = await an_item(org)
    error = await org.api.error(REMINDER, {"id": item["id"], "at": PAST}, owner.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "remindAt"}


async def test_reminding_someone_who_cannot_see_the_item_is_refused(org: Org) -> None:
    owner, _, item = await an_item(org)
    stranger = await org.user("Stranger")
    error = await org.api.error(
        REMINDER, {"id": item["id"], "at": future(), "users": [stranger.id]}, owner.token
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "userIds"}


async def test_reminding_people_who_see_the_item(org: Org) -> None:
    boss = await org.user("Boss")
    owner = await org.user("Owner", superior=boss)
    account = await org.record(owner, "ACCOUNT", "Acme")
    item = await post(org, owner, related=[account])
    data = await org.api.ok(
        REMINDER, {"id": item["id"], "at": future(), "users": [owner.id, boss.id]}, owner.token
    )
    assert {u["id"] for u in data["addReminder"]["users"]} == {owner.id, boss.id}


async def test_record_reminder_defaults_to_me(org: Org) -> None:
    owner = await org.user("Owner")
    account = await org.record(owner, "ACCOUNT", "Acme")
    data = await org.api.ok(RECORD_REMINDER, {"id": account, "at": future()}, owner.token)
    reminder = data["addRecordReminder"]
    assert reminder["users"] == [{"id": owner.id}]
    assert reminder["record"] == {"id": account}
    assert reminder["feedItem"] is None


async def test_record_reminder_for_someone_who_cannot_read_the_record_is_refused(
    org: Org,
) -> None:
    owner = await org.user("Owner")
    stranger = await org.user("Stranger")
    account = await org.record(owner, "ACCOUNT", "Acme")
    error = await org.api.error(
        RECORD_REMINDER, {"id": account, "at": future(), "users": [stranger.id]}, owner.token
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "userIds"}


async def test_record_reminder_in_the_past_is_refused(org: Org) -> None:
    owner = await org.user("Owner")
    account = await org.record(owner, "ACCOUNT", "Acme")
    error = await org.api.error(RECORD_REMINDER, {"id": account, "at": PAST}, owner.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "remindAt"}


async def test_record_reminder_on_a_record_i_cannot_read_is_not_found(org: Org) -> None:
    owner = await org.user("Owner")
    stranger = await org.user("Stranger")
    account = await org.record(owner, "ACCOUNT", "Acme")
    error = await org.api.error(RECORD_REMINDER, {"id": account, "at": future()}, stranger.token)
    assert error["extensions"]["code"] == "NOT_FOUND"


# -- sales process -------------------------------------------------------------------------------


async def test_a_sales_stage_change_posts_a_sales_process_item(org: Org) -> None:
    owner = await org.user("Owner")
    opportunity = await org.record(owner, "OPPORTUNITY", "Deal", salesStage="QUALIFICATION")
    await org.update(owner, opportunity, salesStage="PROPOSAL")
    page = await feed(org, owner, record=opportunity)
    [edge] = page["edges"]
    assert edge["node"]["type"] == "SALES_PROCESS"
    assert edge["node"]["content"] == "Stage: Qualification → Proposal (by Owner)."
    assert edge["node"]["relatedTo"] == [{"id": opportunity}]


async def test_an_update_that_keeps_the_stage_posts_nothing(org: Org) -> None:
    owner = await org.user("Owner")
    opportunity = await org.record(owner, "OPPORTUNITY", "Deal", salesStage="QUALIFICATION")
    await org.update(owner, opportunity, salesStage="QUALIFICATION")
    await org.update(owner, opportunity, amount=500.0)
    assert await feed_ids(org, owner, record=opportunity) == []


async def test_the_sales_process_item_is_seen_by_the_owners_superior(org: Org) -> None:
    boss = await org.user("Boss")
    owner = await org.user("Owner", superior=boss)
    opportunity = await org.record(owner, "OPPORTUNITY", "Deal")
    await org.update(owner, opportunity, salesStage="NEGOTIATION")
    assert len(await feed_ids(org, boss, types=["SALES_PROCESS"])) == 1
    assert await feed_ids(org, boss, types=["SALES_RECORD"]) == []


async def test_a_system_item_cannot_be_edited(api: Api) -> None:
    """A TASK item written by convertToTask belongs to the system, even for its author."""
    data = await api.ok(
        """mutation($input: RegisterEnterpriseInput!) { registerEnterprise(input: $input) {
        token user { id } } }""",
        {
            "input": {
                "enterpriseName": "Sys",
                "adminName": "Ada",
                "email": unique_email("sys"),
                "password": "secret-pass-123",
            }
        },
    )
    token, me = data["registerEnterprise"]["token"], data["registerEnterprise"]["user"]["id"]
    account = (
        await api.ok(
            'mutation { createRecord(objectType: ACCOUNT, values: {name: "A"}) { id } }',
            token=token,
        )
    )["createRecord"]["id"]
    task = await api.ok(
        """mutation($r: ID!, $me: ID!) { createTask(input: {recordId: $r, title: "Call",
        assigneeId: $me}) { feedItem { id type } } }""",
        {"r": account, "me": me},
        token,
    )
    item = task["createTask"]["feedItem"]
    assert item["type"] == "TASK"
    error = await api.error(
        """mutation($id: ID!) { updateFeedItem(id: $id, input: {content: "rewritten"}) { id } }""",
        {"id": item["id"]},
        token,
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "system" in error["message"]
