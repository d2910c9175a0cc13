"""Work items close (issue 19, item 7): completing and reopening tasks, `myTasks(done:)`,
deleting a feed item or a reply (by its author or a CRM administrator), cancelling a reminder.
Everything through the API, on SQLite and PostgreSQL; reminders fire through the runner the
server uses, at a given time, never a wall clock's.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text

from crmfeed.ids import Kind, from_global
from crmfeed.live.reminders import ReminderRunner
from tests.feed_helpers import Org, Person, feed, feed_ids, feed_item, new_org, post

if TYPE_CHECKING:
    from tests.conftest import Api

CREATE_TASK = """
mutation($input: CreateTaskInput!) {
  createTask(input: $input) { id feedItem { id } }
}"""
CONVERT = """
mutation($id: ID!, $assignee: ID!) {
  convertToTask(itemId: $id, assigneeId: $assignee) { id sourceItem { id } }
}"""
TASK_FIELDS = "id title done dueAt completedAt completedBy { id } sourceItem { id }"
COMPLETE = f"mutation($id: ID!) {{ completeTask(id: $id) {{ {TASK_FIELDS} }} }}"
REOPEN = f"mutation($id: ID!) {{ reopenTask(id: $id) {{ {TASK_FIELDS} }} }}"
MY_TASKS = f"""
query($done: Boolean, $first: Int, $after: String) {{
  myTasks(done: $done, first: $first, after: $after) {{
    edges {{ cursor node {{ {TASK_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
INBOX = """
query { notifications(first: 100) { edges { node { kind message feedItem { id } } } } }"""
UNREAD = "query { unreadNotificationCount }"
REPLY = """
mutation($id: ID!, $content: String!, $mentions: [ID!]) {
  reply(itemId: $id, content: $content, mentions: $mentions) { id }
}"""
REPLIES = """
query($id: ID!) {
  feedItem(id: $id) { replyCount replies(first: 50) { edges { node { id content } } } }
}"""
MARK = "mutation($id: ID!) {{ {mark}(itemId: $id) {{ id }} }}"
FAVORITES = "query { myFavorites(first: 50) { totalCount edges { node { id } } } }"
DELETE_ITEM = "mutation($id: ID!) { deleteFeedItem(id: $id) }"
DELETE_REPLY = "mutation($id: ID!) { deleteReply(id: $id) }"
REMIND = """
mutation($id: ID!, $at: DateTime!, $users: [ID!]) {
  addReminder(itemId: $id, remindAt: $at, userIds: $users) { id }
}"""
MY_REMINDERS = """
query($first: Int, $after: String) {
  myReminders(first: $first, after: $after) {
    edges { cursor node { id remindAt users { id } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
CANCEL = "mutation($id: ID!) { cancelReminder(id: $id) }"


def later(hours: float) -> datetime:
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0)


@pytest.fixture
async def org(api: Api) -> Org:
    return await new_org(api)


async def inbox(org: Org, who: Person) -> list[dict[str, Any]]:
    data = await org.api.ok(INBOX, token=who.token)
    return [edge["node"] for edge in data["notifications"]["edges"]]


async def unread(org: Org, who: Person) -> int:
    return int((await org.api.ok(UNREAD, token=who.token))["unreadNotificationCount"])


async def code_of(org: Org, query: str, variables: dict[str, Any], who: Person) -> str:
    error = await org.api.error(query, variables, who.token)
    return str(error["extensions"]["code"])


# -- tasks ---------------------------------------------------------------------------------------


async def a_task(org: Org, title: str = "Call back", due: datetime | None = None) -> Any:
    """Boss gives Ann, his salesperson, a task on her account; (boss, ann, account, task)."""
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    account = await org.record(ann, "ACCOUNT", "Acme")
    given: dict[str, Any] = {"recordId": account, "title": title, "assigneeId": ann.id}
    if due is not None:
        given["dueAt"] = due.isoformat()
    data = await org.api.ok(CREATE_TASK, {"input": given}, boss.token)
    return boss, ann, account, data["createTask"]


async def my_tasks(org: Org, who: Person, done: bool | None = None) -> list[dict[str, Any]]:
    data = await org.api.ok(MY_TASKS, {"done": done, "first": 50}, who.token)
    return [edge["node"] for edge in data["myTasks"]["edges"]]


async def test_the_assignee_completes_a_task_and_its_creator_is_told(org: Org) -> None:
    boss, ann, account, task = await a_task(org)
    before = await feed_ids(org, boss, record=account)
    done = (await org.api.ok(COMPLETE, {"id": task["id"]}, ann.token))["completeTask"]
    assert done["done"] is True
    assert done["completedBy"] == {"id": ann.id}
    assert done["completedAt"] is not None

    [told] = [n for n in await inbox(org, boss) if n["kind"] == "TASK_COMPLETED"]
    assert told["message"] == "Ann completed the task: Call back"
    # the completion is follow-up activity on the account, as the task's creation was
    [item, *rest] = (await feed(org, boss, record=account))["edges"]
    assert rest and [e["node"]["id"] for e in rest] == before
    assert item["node"]["type"] == "TASK"
    assert item["node"]["content"] == "Task completed by Ann: Call back"
    assert told["feedItem"] == {"id": item["node"]["id"]}
    assert await my_tasks(org, ann, done=True) == [done]

    # completing it again changes nothing and tells no one
    again = (await org.api.ok(COMPLETE, {"id": task["id"]}, ann.token))["completeTask"]
    assert again == done
    assert len(await feed_ids(org, boss, record=account)) == len(before) + 1
    assert [n["kind"] for n in await inbox(org, boss)].count("TASK_COMPLETED") == 1


async def test_the_creator_reopens_a_task_and_the_assignee_is_told(org: Org) -> None:
    boss, ann, _, task = await a_task(org)
    await org.api.ok(COMPLETE, {"id": task["id"]}, ann.token)
    reopened = (await org.api.ok(REOPEN, {"id": task["id"]}, boss.token))["reopenTask"]
    assert reopened["done"] is False
    assert reopened["completedAt"] is None
    assert reopened["completedBy"] is None
    assert [n["message"] for n in await inbox(org, ann) if n["kind"] == "TASK_REOPENED"] == [
        "Boss reopened the task: Call back"
    ]
    assert await my_tasks(org, ann, done=True) == []
    assert await my_tasks(org, ann, done=False) == [reopened]
    again = (await org.api.ok(REOPEN, {"id": task["id"]}, boss.token))["reopenTask"]
    assert again == reopened
    # the creator completing it is told to the assignee
    await org.api.ok(COMPLETE, {"id": task["id"]}, boss.token)
    kinds = [n["kind"] for n in await inbox(org, ann)]
    assert kinds.count("TASK_REOPENED") == 1
    assert kinds.count("TASK_COMPLETED") == 1


async def test_nobody_else_may_complete_or_reopen_a_task(org: Org) -> None:
    """A task is shown to its assignee and its creator only: to anyone else, the Boss's own
    superior and the CRM administrator included, it does not exist."""
    top = await org.user("Top")
    boss = await org.user("Boss", superior=top)
    ann = await org.user("Ann", superior=boss)
    account = await org.record(ann, "ACCOUNT", "Acme")
    given = {"recordId": account, "title": "Call back", "assigneeId": ann.id}
    task = (await org.api.ok(CREATE_TASK, {"input": given}, boss.token))["createTask"]
    stranger = await org.user("Stranger")
    for who in (stranger, top, org.admin):
        for mutation in (COMPLETE, REOPEN):
            assert await code_of(org, mutation, {"id": task["id"]}, who) == "NOT_FOUND"
    for wrong in ("tsk_999999999", "rec_1", "nonsense"):
        assert await code_of(org, COMPLETE, {"id": wrong}, ann) == "NOT_FOUND"
    [open_task] = await my_tasks(org, ann)
    assert open_task["done"] is False
    assert await inbox(org, boss) == []


async def test_my_tasks_by_due_time_filtered_by_done_and_paged(org: Org) -> None:
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    account = await org.record(ann, "ACCOUNT", "Acme")
    soon, later_on = later(1), later(48)
    made: dict[str, str] = {}
    for title, due in (
        ("undated old", None),
        ("later", later_on),
        ("soon", soon),
        ("undated new", None),
        ("also later", later_on),
    ):
        given: dict[str, Any] = {"recordId": account, "title": title, "assigneeId": ann.id}
        if due is not None:
            given["dueAt"] = due.isoformat()
        data = await org.api.ok(CREATE_TASK, {"input": given}, boss.token)
        made[title] = data["createTask"]["id"]
    # a task of someone else's is not Ann's
    await org.api.ok(
        CREATE_TASK,
        {"input": {"recordId": account, "title": "his", "assigneeId": boss.id}},
        boss.token,
    )
    await org.api.ok(COMPLETE, {"id": made["later"]}, ann.token)

    order = ["soon", "also later", "later", "undated new", "undated old"]
    assert [t["title"] for t in await my_tasks(org, ann)] == order
    assert [t["title"] for t in await my_tasks(org, ann, done=True)] == ["later"]
    assert [t["title"] for t in await my_tasks(org, ann, done=False)] == [
        t for t in order if t != "later"
    ]

    walked: list[str] = []
    after = None
    while True:
        data = await org.api.ok(MY_TASKS, {"first": 2, "after": after}, ann.token)
        page = data["myTasks"]
        walked += [edge["node"]["title"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert walked == order

    error = await org.api.error(MY_TASKS, {"after": "not-a-cursor"}, ann.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


# -- deleting a feed item ------------------------------------------------------------------------


async def a_busy_item(org: Org) -> dict[str, Any]:
    """Ann's sales record on her account, @mentioning Cleo (who cannot read the account), with
    Boss's reply, a like, a favorite, a reminder, a forward and a task made from it."""
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    cleo = await org.user("Cleo")
    account = await org.record(ann, "ACCOUNT", "Acme")
    kept = await post(org, ann, "Earlier visit", related=[account])
    item = await post(org, ann, "Quote sent", related=[account], mentions=[cleo.id])
    await org.api.ok(REPLY, {"id": item["id"], "content": "Good work"}, boss.token)
    await org.api.ok(MARK.format(mark="like"), {"id": item["id"]}, boss.token)
    await org.api.ok(MARK.format(mark="favorite"), {"id": item["id"]}, boss.token)
    await org.api.ok(REMIND, {"id": item["id"], "at": later(1).isoformat()}, ann.token)
    await org.api.ok(
        "mutation($id: ID!, $to: [ID!]!) { forwardFeedItem(itemId: $id, toUserIds: $to) }",
        {"id": item["id"], "to": [boss.id]},
        ann.token,
    )
    task = await org.api.ok(CONVERT, {"id": item["id"], "assignee": ann.id}, boss.token)
    return {
        "boss": boss,
        "ann": ann,
        "cleo": cleo,
        "account": account,
        "item": item["id"],
        "kept": kept["id"],
        "task": task["convertToTask"]["id"],
    }


async def visible_everywhere(org: Org, case: dict[str, Any]) -> dict[str, Any]:
    """Where Ann's item shows, to whom, and the counts."""
    boss, ann, cleo, item = case["boss"], case["ann"], case["cleo"], case["item"]
    scenes = {
        "ann WORK": await feed_ids(org, ann),
        "boss WORK": await feed_ids(org, boss),
        "cleo WORK": await feed_ids(org, cleo),
        "record": await feed_ids(org, ann, record=case["account"]),
        "ann MY_ACCOUNTS": await feed_ids(org, ann, "MY_ACCOUNTS"),
        "boss SUBORDINATES_RECORDS": await feed_ids(org, boss, "SUBORDINATES_RECORDS"),
        "boss favorites": [
            e["node"]["id"]
            for e in (await org.api.ok(FAVORITES, token=boss.token))["myFavorites"]["edges"]
        ],
    }
    return {
        "shown": {name: item in ids for name, ids in scenes.items()},
        "kept shown": {name: case["kept"] in ids for name, ids in scenes.items()},
        "counts": {name: len(ids) for name, ids in scenes.items()},
        "cleo inbox": [n["kind"] for n in await inbox(org, cleo)],
        "ann inbox": [n["kind"] for n in await inbox(org, ann)],
        "boss inbox": [n["kind"] for n in await inbox(org, boss)],
        "unread": [await unread(org, who) for who in (ann, boss, cleo)],
    }


async def test_the_author_deletes_an_item_and_it_is_gone_everywhere(org: Org) -> None:
    case = await a_busy_item(org)
    before = await visible_everywhere(org, case)
    assert all(before["shown"].values()), before["shown"]
    assert before["cleo inbox"] == ["MENTION"]
    assert "REPLY" in before["ann inbox"]
    assert "FORWARDED" in before["boss inbox"]

    ann = case["ann"]
    assert (await org.api.ok(DELETE_ITEM, {"id": case["item"]}, ann.token))["deleteFeedItem"]

    after = await visible_everywhere(org, case)
    assert not any(after["shown"].values()), after["shown"]
    assert after["kept shown"] == before["kept shown"]
    assert after["counts"] == {name: count - 1 for name, count in before["counts"].items()}
    # its notifications are no longer listed nor counted (the task's own one stays)
    assert after["cleo inbox"] == []
    assert "REPLY" not in after["ann inbox"]
    assert after["boss inbox"] == [k for k in before["boss inbox"] if k != "FORWARDED"]
    assert after["unread"][2] == 0
    assert after["unread"][0] == before["unread"][0] - 1
    assert await feed_item(org, ann, case["item"]) is None
    assert await code_of(org, DELETE_ITEM, {"id": case["item"]}, ann) == "NOT_FOUND"
    # the task made from it stays, without it
    [task] = await my_tasks(org, ann)
    assert task["id"] == case["task"]
    assert task["sourceItem"] is None


async def test_only_the_author_or_an_administrator_may_delete_an_item(org: Org) -> None:
    case = await a_busy_item(org)
    stranger = await org.user("Stranger")
    assert await code_of(org, DELETE_ITEM, {"id": case["item"]}, stranger) == "NOT_FOUND"
    for who in (case["boss"], case["cleo"]):  # they see it, but did not write it
        error = await org.api.error(DELETE_ITEM, {"id": case["item"]}, who.token)
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "author or a CRM administrator" in error["message"]
    assert await code_of(org, DELETE_ITEM, {"id": "itm_x"}, case["ann"]) == "NOT_FOUND"
    assert await feed_item(org, case["ann"], case["item"]) is not None
    data = await org.api.ok(DELETE_ITEM, {"id": case["item"]}, org.admin.token)
    assert data["deleteFeedItem"] is True
    assert case["item"] not in await feed_ids(org, case["ann"])


async def test_items_the_system_wrote_cannot_be_deleted(org: Org) -> None:
    """Boss's createTask wrote the TASK item in his name; neither he nor an administrator may
    delete it (Ann, who sees it, did not write it)."""
    boss, ann, account, task = await a_task(org)
    task_item = task["feedItem"]["id"]
    for who in (boss, org.admin, ann):
        error = await org.api.error(DELETE_ITEM, {"id": task_item}, who.token)
        assert error["extensions"]["code"] == "FORBIDDEN", who
        assert ("system" in error["message"]) is (who is not ann), error["message"]
    assert task_item in await feed_ids(org, ann, record=account)


async def test_a_reply_racing_the_deletion_of_its_item_is_not_found(org: Org, api: Api) -> None:
    """The reply read the item before the deletion committed and writes after: its write finds
    the item gone (a foreign key violation), and the mutation, run again, answers NOT_FOUND
    rather than an unexpected error. The deletion is held open on a connection of its own until
    the reply is about to insert."""
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = (await post(org, ann, related=[account]))["id"]
    log = api.count_statements()
    async with api.services.engine.connect() as deleting:
        await deleting.execute(
            text("DELETE FROM feed_items WHERE id = :id"), {"id": from_global(Kind.FEED_ITEM, item)}
        )
        log.active = True
        try:
            racing = asyncio.create_task(api.raw(REPLY, {"id": item, "content": "Hi"}, ann.token))
            for _ in range(1000):
                if any(s.startswith("INSERT INTO feed_replies") for s in log.statements):
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("the reply never got to its insert")
            await deleting.commit()
            body = await racing
        finally:
            log.active = False
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", body
    assert await feed_ids(org, ann) == []


# -- deleting a reply ----------------------------------------------------------------------------


async def test_the_author_deletes_a_reply_and_its_notifications_go(org: Org) -> None:
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    helper = await org.user("Helper")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = (await post(org, ann, "Quote sent", related=[account]))["id"]
    first = await org.api.ok(
        REPLY, {"id": item, "content": "Ask Helper", "mentions": [helper.id]}, boss.token
    )
    await org.api.ok(REPLY, {"id": item, "content": "Done, thanks"}, ann.token)
    assert (await org.api.ok(REPLIES, {"id": item}, ann.token))["feedItem"]["replyCount"] == 2
    assert [n["kind"] for n in await inbox(org, helper)] == ["MENTION"]
    assert [n["kind"] for n in await inbox(org, ann)] == ["REPLY"]
    assert await feed_item(org, helper, item) is not None  # through the reply's mention

    reply = first["reply"]["id"]
    stranger = await org.user("Stranger")
    assert await code_of(org, DELETE_REPLY, {"id": reply}, stranger) == "NOT_FOUND"
    error = await org.api.error(DELETE_REPLY, {"id": reply}, ann.token)  # the item's author
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert await code_of(org, DELETE_REPLY, {"id": "rpl_0"}, boss) == "NOT_FOUND"

    assert (await org.api.ok(DELETE_REPLY, {"id": reply}, boss.token))["deleteReply"] is True
    thread = (await org.api.ok(REPLIES, {"id": item}, ann.token))["feedItem"]
    assert thread["replyCount"] == 1
    assert [e["node"]["content"] for e in thread["replies"]["edges"]] == ["Done, thanks"]
    assert await inbox(org, ann) == []
    assert await unread(org, ann) == 0
    assert await inbox(org, helper) == []
    assert await feed_item(org, helper, item) is None  # the mention went with the reply
    assert [n["kind"] for n in await inbox(org, boss)] == ["REPLY"]  # Ann's reply stays
    assert await code_of(org, DELETE_REPLY, {"id": reply}, boss) == "NOT_FOUND"


async def test_an_administrator_may_delete_any_reply_they_see(org: Org) -> None:
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = (await post(org, ann, related=[account]))["id"]
    reply = (await org.api.ok(REPLY, {"id": item, "content": "Me too"}, ann.token))["reply"]
    assert (await org.api.ok(DELETE_REPLY, {"id": reply["id"]}, org.admin.token))["deleteReply"]
    assert (await org.api.ok(REPLIES, {"id": item}, ann.token))["feedItem"]["replyCount"] == 0


# -- cancelling a reminder -----------------------------------------------------------------------


async def my_reminders(org: Org, who: Person) -> list[str]:
    data = await org.api.ok(MY_REMINDERS, {"first": 50}, who.token)
    return [edge["node"]["id"] for edge in data["myReminders"]["edges"]]


async def test_a_cancelled_reminder_never_fires(org: Org, api: Api) -> None:
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = (await post(org, ann, related=[account]))["id"]
    people = {"users": [ann.id, boss.id]}
    made = []
    for hours in (2, 1):
        data = await org.api.ok(
            REMIND, {"id": item, "at": later(hours).isoformat(), **people}, ann.token
        )
        made.append(data["addReminder"]["id"])
    cancelled, kept = made
    assert await my_reminders(org, ann) == [kept, cancelled]  # soonest first
    assert await my_reminders(org, boss) == [kept, cancelled]

    stranger = await org.user("Stranger")
    assert await code_of(org, CANCEL, {"id": cancelled}, stranger) == "NOT_FOUND"
    error = await org.api.error(CANCEL, {"id": cancelled}, boss.token)  # reminded, not its setter
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert await my_reminders(org, boss) == [kept, cancelled]

    assert (await org.api.ok(CANCEL, {"id": cancelled}, ann.token))["cancelReminder"] is True
    assert await my_reminders(org, ann) == [kept]
    assert await my_reminders(org, boss) == [kept]
    assert await code_of(org, CANCEL, {"id": cancelled}, ann) == "NOT_FOUND"

    runner = ReminderRunner(api.services.session_factory, api.services.hub)
    await runner.run_once(now=later(3))
    for who in (ann, boss):
        reminders = [n for n in await inbox(org, who) if n["kind"] == "REMINDER"]
        assert len(reminders) == 1, who  # the kept one, not the cancelled one
    assert await my_reminders(org, ann) == []
    error = await org.api.error(CANCEL, {"id": kept}, ann.token)
    assert error["extensions"]["code"] == "CONFLICT"
