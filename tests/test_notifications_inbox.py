"""The durable inbox, through the GraphQL API on both databases.

Every kind is produced by its action and nobody is told about their own action; the inbox pages
oldest first by cursor; read/unread and `markNotificationsRead(upTo)`; visibility is checked when
the inbox is read (a notification about something the user can no longer see is neither listed
nor counted); a refused mutation leaves no notification behind.

IMPORT_FINISHED has no producer yet (import is a later issue), so it is not tested here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crmfeed.ids import Kind, from_global
from store import notifications
from store.models import User
from store.notification_tables import InboxCounter, InboxEntry, Notification
from store.notifications import NewEvent, NewNotification
from tests.feed_helpers import new_org, post
from tests.processes import (
    change_owner,
    follow,
    inbox,
    inbox_page,
    reply,
    seq,
    unread_count,
)

if TYPE_CHECKING:
    from crmfeed.app import Services
    from tests.conftest import Api
    from tests.records_helpers import Org, Person

CONVERT_TO_TASK = """
mutation($id: ID!, $assignee: ID!) {
  convertToTask(itemId: $id, assigneeId: $assignee) { id feedItem { id } }
}"""
CREATE_TASK = """
mutation($input: CreateTaskInput!) { createTask(input: $input) { id feedItem { id } } }"""
FORWARD_ITEM = """
mutation($id: ID!, $to: [ID!]!, $message: String) {
  forwardFeedItem(itemId: $id, toUserIds: $to, message: $message)
}"""
FORWARD_RECORD = """
mutation($id: ID!, $to: [ID!]!, $message: String) {
  forwardRecord(id: $id, toUserIds: $to, message: $message)
}"""
ADD_REMINDER = """
mutation($id: ID!, $at: DateTime!, $users: [ID!], $note: String) {
  addReminder(itemId: $id, remindAt: $at, userIds: $users, note: $note) { id }
}"""
ADD_RECORD_REMINDER = """
mutation($id: ID!, $at: DateTime!, $users: [ID!]) {
  addRecordReminder(recordId: $id, remindAt: $at, userIds: $users) { id }
}"""
MARK_READ = "mutation($upTo: String!) { markNotificationsRead(upTo: $upTo) }"
REMOVE_MEMBER = """
mutation($record: ID!, $user: ID!) { removeTeamMember(recordId: $record, userId: $user) { id } }"""
DELETE_SHARING_RULE = "mutation($id: ID!) { deleteSharingRule(id: $id) }"


@pytest.fixture
async def org(api: Api) -> Org:
    return await new_org(api)


def kinds(notifications: list[dict[str, Any]]) -> list[str]:
    return [n["kind"] for n in notifications]


async def stored(services: Services, *people: Person) -> list[tuple[str, str]]:
    """(user id, kind) of every notification row of these people, read from the database
    directly (no visibility filter), in the order they were written."""
    numbers = {from_global(Kind.USER, p.id): p.id for p in people}
    async with services.session_factory() as session:
        rows = await session.execute(
            select(Notification.user_id, Notification.kind)
            .where(Notification.user_id.in_(numbers))
            .order_by(Notification.id)
        )
        return [(numbers[user], kind) for user, kind in rows]


async def item_on(org: Org, author: Person, record: str, content: str = "Visited") -> str:
    return (await post(org, author, content, related=[record]))["id"]


# -- every kind comes from its action ----------------------------------------------------------


async def test_mention_and_cc_on_a_new_item(org: Org) -> None:
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    cy = await org.user("Cy")
    dee = await org.user("Dee")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = await post(
        org,
        ann,
        "Quote sent to Acme",
        related=[account],
        mentions=[bob.id, ann.id, dee.id],
        cc=[cy.id, ann.id, dee.id],
    )

    [mention] = await inbox(org.api, bob)
    assert mention["kind"] == "MENTION"
    assert mention["actor"] == {"id": ann.id, "name": "Ann"}
    assert mention["feedItem"]["id"] == item["id"]
    assert mention["record"] is None
    assert mention["read"] is False
    assert "Ann" in mention["message"]
    assert "Quote sent to Acme" in mention["message"]

    [copied] = await inbox(org.api, cy)
    assert (copied["kind"], copied["feedItem"]["id"]) == ("CC", item["id"])
    # mentioned and cc'd at once: one notification, the mention.
    assert kinds(await inbox(org.api, dee)) == ["MENTION"]
    # the author named herself: nothing.
    assert await inbox(org.api, ann) == []
    assert await stored(org.api.services, ann) == []


async def test_a_reply_notifies_followers_and_the_people_it_mentions(org: Org) -> None:
    boss = await org.user("Boss")
    bob = await org.user("Bob", superior=boss)
    dee = await org.user("Dee")
    stranger = await org.user("Stranger")
    account = await org.record(bob, "ACCOUNT", "Acme")
    await org.add_member(bob, account, dee, "REGULAR_MEMBER", "READ_ONLY")
    item = await item_on(org, bob, account)  # the author follows their own item
    await follow(org.api, boss, item)

    await reply(org.api, boss, item, "Well done", mentions=[dee.id, stranger.id])

    [to_author] = await inbox(org.api, bob)
    assert (to_author["kind"], to_author["feedItem"]["id"]) == ("REPLY", item)
    assert to_author["actor"] == {"id": boss.id, "name": "Boss"}
    assert "Well done" in to_author["message"]
    # the replier follows the item but is not told about their own reply.
    assert await inbox(org.api, boss) == []
    [mentioned] = await inbox(org.api, dee)
    assert (mentioned["kind"], mentioned["feedItem"]["id"]) == ("MENTION", item)
    assert "Well done" in mentioned["message"]
    # a mention in a reply opens the thread to someone who could not see the item before.
    [told] = await inbox(org.api, stranger)
    assert (told["kind"], told["feedItem"]["id"]) == ("MENTION", item)

    await follow(org.api, dee, item)
    await reply(org.api, bob, item, "Thanks boss", mentions=[dee.id, bob.id])
    # a follower who is also mentioned gets one notification: the mention.
    assert kinds(await inbox(org.api, dee)) == ["MENTION", "MENTION"]
    assert kinds(await inbox(org.api, boss)) == ["REPLY"]
    assert kinds(await inbox(org.api, bob)) == ["REPLY"]  # not told about his own reply
    assert [kind for _, kind in await stored(org.api.services, bob, boss, dee, stranger)] == [
        "MENTION",  # to Dee (the mention is listed before the followers' replies)
        "MENTION",  # to the stranger
        "REPLY",  # to Bob
        "MENTION",  # to Dee
        "REPLY",  # to the boss
    ]


async def test_tasks_notify_their_assignee(org: Org) -> None:
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(ann, "ACCOUNT", "Acme")
    await org.add_member(ann, account, bob, "REGULAR_MEMBER", "READ_ONLY")
    item = await post(org, ann, "Send the contract", related=[account], mentions=[bob.id])

    converted = await org.api.ok(CONVERT_TO_TASK, {"id": item["id"], "assignee": bob.id}, ann.token)
    created = await org.api.ok(
        CREATE_TASK,
        {"input": {"recordId": account, "title": "Call the buyer", "assigneeId": bob.id}},
        ann.token,
    )
    await org.api.ok(CONVERT_TO_TASK, {"id": item["id"], "assignee": ann.id}, ann.token)

    mention, from_item, from_record = await inbox(org.api, bob)
    assert mention["kind"] == "MENTION"
    assert from_item["kind"] == "TASK_ASSIGNED"
    assert from_item["actor"]["id"] == ann.id
    assert from_item["feedItem"]["id"] == converted["convertToTask"]["feedItem"]["id"]
    assert from_item["feedItem"]["type"] == "TASK"
    assert "Send the contract" in from_item["message"]
    assert from_record["kind"] == "TASK_ASSIGNED"
    assert from_record["record"]["id"] == account
    assert from_record["feedItem"]["id"] == created["createTask"]["feedItem"]["id"]
    assert "Call the buyer" in from_record["message"]
    # a task Ann gave herself tells nobody.
    assert await inbox(org.api, ann) == []


async def test_forwards_notify_recipients_who_may_or_may_not_open_them(org: Org) -> None:
    boss = await org.user("Boss")
    ann = await org.user("Ann", superior=boss)
    stranger = await org.user("Stranger")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = await item_on(org, ann, account, "Big order coming")

    await org.api.ok(
        FORWARD_ITEM,
        {"id": item, "to": [boss.id, stranger.id, ann.id], "message": "FYI"},
        ann.token,
    )
    await org.api.ok(FORWARD_RECORD, {"id": account, "to": [boss.id, stranger.id]}, ann.token)

    boss_item, boss_record = await inbox(org.api, boss)
    assert (boss_item["kind"], boss_item["actor"]["id"]) == ("FORWARDED", ann.id)
    assert "FYI" in boss_item["message"]
    assert boss_item["forward"] == {
        "kind": "FEED_ITEM",
        "canOpen": True,
        "feedItem": {"id": item},
        "record": None,
    }
    assert boss_record["forward"] == {
        "kind": "RECORD",
        "canOpen": True,
        "feedItem": None,
        "record": {"id": account},
    }
    # the stranger gets the cards too, but cannot open what they point to.
    stranger_item, stranger_record = await inbox(org.api, stranger)
    assert kinds([stranger_item, stranger_record]) == ["FORWARDED", "FORWARDED"]
    assert stranger_item["forward"] == {
        "kind": "FEED_ITEM",
        "canOpen": False,
        "feedItem": None,
        "record": None,
    }
    assert stranger_record["forward"]["canOpen"] is False
    assert stranger_record["forward"]["record"] is None
    assert await inbox(org.api, ann) == []  # forwarded to herself too: nothing


async def test_the_new_owner_is_notified(org: Org) -> None:
    boss = await org.user("Boss")
    bob = await org.user("Bob", superior=boss)
    account = await org.record(boss, "ACCOUNT", "Acme")
    await change_owner(org.api, boss, account, bob.id)

    [owned] = await inbox(org.api, bob)
    assert owned["kind"] == "OWNER_CHANGED"
    assert owned["record"] == {"id": account, "name": "Acme"}
    assert owned["actor"] == {"id": boss.id, "name": "Boss"}
    assert "Acme" in owned["message"]

    await change_owner(org.api, boss, account, boss.id)  # the boss takes it back himself
    assert await inbox(org.api, boss) == []


async def test_due_reminders_notify_everyone_listed_once(org: Org) -> None:
    services = org.api.services
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(ann, "ACCOUNT", "Acme")
    item = await post(org, ann, "Renewal", related=[account], mentions=[bob.id])
    remind_at = datetime.now(UTC) + timedelta(seconds=2)
    await org.api.ok(
        ADD_REMINDER,
        {"id": item["id"], "at": remind_at.isoformat(), "users": [ann.id, bob.id], "note": "Call"},
        ann.token,
    )
    await org.api.ok(ADD_RECORD_REMINDER, {"id": account, "at": remind_at.isoformat()}, ann.token)

    await services.reminders.run_once(now=remind_at - timedelta(seconds=1))
    assert await inbox(org.api, ann) == []  # not yet due

    await services.reminders.run_once(now=remind_at + timedelta(seconds=1))
    await services.reminders.run_once(now=remind_at + timedelta(seconds=2))  # nothing left

    about_item, about_record = await inbox(org.api, ann)
    assert (about_item["kind"], about_item["feedItem"]["id"]) == ("REMINDER", item["id"])
    assert "Call" in about_item["message"]
    assert (about_record["kind"], about_record["record"]["id"]) == ("REMINDER", account)
    assert kinds(await inbox(org.api, bob)) == ["MENTION", "REMINDER"]
    assert sorted(await stored(services, ann, bob)) == sorted(
        [(ann.id, "REMINDER"), (ann.id, "REMINDER"), (bob.id, "MENTION"), (bob.id, "REMINDER")]
    )


# -- the inbox -----------------------------------------------------------------------------------


async def five_mentions(org: Org, author: Person, *people: Person) -> list[str]:
    """Five items by `author` mentioning `people`; their contents, oldest first."""
    account = await org.record(author, "ACCOUNT", "Acme")
    contents = [f"Note {number}" for number in range(1, 6)]
    for content in contents:
        await post(org, author, content, related=[account], mentions=[p.id for p in people])
    return contents


async def test_the_inbox_pages_oldest_first_by_cursor(org: Org) -> None:
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    contents = await five_mentions(org, ann, bob)

    first = await inbox_page(org.api, bob, first=2)
    assert [e["node"]["feedItem"]["content"] for e in first["edges"]] == contents[:2]
    assert first["pageInfo"] == {"hasNextPage": True, "endCursor": first["edges"][1]["cursor"]}
    assert [e["cursor"] for e in first["edges"]] == [e["node"]["cursor"] for e in first["edges"]]
    second = await inbox_page(org.api, bob, first=2, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["feedItem"]["content"] for e in second["edges"]] == contents[2:4]
    last = await inbox_page(org.api, bob, first=2, after=second["pageInfo"]["endCursor"])
    assert [e["node"]["feedItem"]["content"] for e in last["edges"]] == contents[4:]
    assert last["pageInfo"]["hasNextPage"] is False
    after_all = await inbox_page(org.api, bob, after=last["pageInfo"]["endCursor"])
    assert after_all["edges"] == []
    assert after_all["pageInfo"] == {"hasNextPage": False, "endCursor": None}

    everything = await inbox(org.api, bob)
    cursors = [seq(n["cursor"]) for n in everything]
    assert cursors == sorted(cursors)
    assert len(set(cursors)) == 5
    assert len({n["id"] for n in everything}) == 5
    # createdAt is an ISO 8601 time with an offset, non-decreasing along the inbox.
    times = [datetime.fromisoformat(n["createdAt"]) for n in everything]
    assert all(t.tzinfo is not None for t in times)
    assert times == sorted(times)


async def test_mark_read_up_to_a_cursor(org: Org) -> None:
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    cy = await org.user("Cy")
    contents = await five_mentions(org, ann, bob, cy)
    notifications = await inbox(org.api, bob)
    assert await unread_count(org.api, bob) == 5

    marked = await org.api.ok(MARK_READ, {"upTo": notifications[2]["cursor"]}, bob.token)
    assert marked["markNotificationsRead"] == 3
    assert await unread_count(org.api, bob) == 2
    assert [n["read"] for n in await inbox(org.api, bob)] == [True] * 3 + [False] * 2
    unread = await inbox(org.api, bob, unread_only=True)
    assert [n["feedItem"]["content"] for n in unread] == contents[3:]

    again = await org.api.ok(MARK_READ, {"upTo": notifications[2]["cursor"]}, bob.token)
    assert again["markNotificationsRead"] == 0
    # Bob's cursors mark Bob's notifications only.
    assert await unread_count(org.api, cy) == 5
    everything = await org.api.ok(MARK_READ, {"upTo": notifications[4]["cursor"]}, bob.token)
    assert everything["markNotificationsRead"] == 2
    assert await unread_count(org.api, bob) == 0
    assert await inbox(org.api, bob, unread_only=True) == []
    assert await unread_count(org.api, cy) == 5


async def test_unread_only_pages_by_cursor_too(org: Org) -> None:
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    contents = await five_mentions(org, ann, bob)
    notifications = await inbox(org.api, bob)
    await org.api.ok(MARK_READ, {"upTo": notifications[1]["cursor"]}, bob.token)
    page = await inbox_page(org.api, bob, unread_only=True, first=2)
    assert [e["node"]["feedItem"]["content"] for e in page["edges"]] == contents[2:4]
    assert page["pageInfo"]["hasNextPage"] is True
    rest = await inbox_page(
        org.api, bob, unread_only=True, first=2, after=page["pageInfo"]["endCursor"]
    )
    assert [e["node"]["feedItem"]["content"] for e in rest["edges"]] == contents[4:]
    assert page["unreadCount"] == rest["unreadCount"] == 3


@pytest.mark.parametrize("cursor", ["nope", "", "Yzp4", "====", "YTox"])
async def test_a_bad_cursor_is_bad_user_input(org: Org, cursor: str) -> None:
    bob = await org.user("Bob")
    error = await org.api.error(
        "query($after: String) { notifications(after: $after) { edges { cursor } } }",
        {"after": cursor},
        bob.token,
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "cursor" in error["message"]
    error = await org.api.error(MARK_READ, {"upTo": cursor}, bob.token)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "upTo" in error["message"]


async def test_page_size_is_capped(org: Org) -> None:
    bob = await org.user("Bob")
    error = await org.api.error(
        "{ notifications(first: 101) { edges { cursor } } }", token=bob.token
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_the_inbox_needs_a_signed_in_user(api: Api) -> None:
    for query in (
        "{ notifications { edges { cursor } } }",
        "{ unreadNotificationCount }",
        'mutation { markNotificationsRead(upTo: "Yzox") }',
    ):
        error = await api.error(query)
        assert error["extensions"]["code"] == "UNAUTHENTICATED", query


async def test_inboxes_never_cross_enterprises(api: Api) -> None:
    first = await new_org(api, "Ada")
    second = await new_org(api, "Eve")
    ann = await first.user("Ann")
    bob = await first.user("Bob")
    await five_mentions(first, ann, bob)
    assert await inbox(api, second.admin) == []
    assert await unread_count(api, second.admin) == 0


# -- visibility at delivery ----------------------------------------------------------------------


async def test_losing_the_record_to_a_new_owner_hides_its_notifications(org: Org) -> None:
    boss = await org.user("Boss")
    bob = await org.user("Bob", superior=boss)
    cy = await org.user("Cy", superior=boss)
    account = await org.record(boss, "ACCOUNT", "Acme")
    await change_owner(org.api, boss, account, bob.id)
    item = await item_on(org, boss, account)
    await follow(org.api, bob, item)
    await reply(org.api, boss, item)
    assert kinds(await inbox(org.api, bob)) == ["OWNER_CHANGED", "REPLY"]
    assert await unread_count(org.api, bob) == 2

    await change_owner(org.api, boss, account, cy.id)  # the old owner leaves the team
    assert not await org.can_read(bob, account)
    assert await inbox(org.api, bob) == []
    assert await inbox(org.api, bob, unread_only=True) == []
    assert await unread_count(org.api, bob) == 0
    # the rows are still there: visibility is decided when the inbox is read.
    assert [kind for _, kind in await stored(org.api.services, bob)] == [
        "OWNER_CHANGED",
        "REPLY",
    ]

    await change_owner(org.api, boss, account, bob.id)
    assert kinds(await inbox(org.api, bob)) == ["OWNER_CHANGED", "REPLY", "OWNER_CHANGED"]
    assert await unread_count(org.api, bob) == 3


async def test_invisible_notifications_are_not_marked_read_nor_counted(org: Org) -> None:
    boss = await org.user("Boss")
    bob = await org.user("Bob", superior=boss)
    cy = await org.user("Cy", superior=boss)
    account = await org.record(boss, "ACCOUNT", "Acme")
    await change_owner(org.api, boss, account, bob.id)
    [owned] = await inbox(org.api, bob)
    await change_owner(org.api, boss, account, cy.id)
    # markNotificationsRead says nothing about notifications Bob may no longer see, and
    # leaves them unread: should he see the record again, they are news to him.
    marked = await org.api.ok(MARK_READ, {"upTo": owned["cursor"]}, bob.token)
    assert marked["markNotificationsRead"] == 0
    await change_owner(org.api, boss, account, bob.id)
    assert [n["read"] for n in await inbox(org.api, bob)] == [False, False]


async def test_leaving_the_related_team_hides_its_notifications(org: Org) -> None:
    bob = await org.user("Bob")
    account = await org.record(org.admin, "ACCOUNT", "Acme")
    await org.add_member(org.admin, account, bob, "REGULAR_MEMBER", "READ_ONLY")
    item = await item_on(org, org.admin, account)
    await follow(org.api, bob, item)
    await reply(org.api, org.admin, item, "Shipped today")
    assert kinds(await inbox(org.api, bob)) == ["REPLY"]

    await org.api.ok(REMOVE_MEMBER, {"record": account, "user": bob.id}, org.admin.token)
    assert await inbox(org.api, bob) == []
    assert await unread_count(org.api, bob) == 0


async def test_a_deleted_sharing_rule_hides_its_notifications(org: Org) -> None:
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(ann, "ACCOUNT", "Acme")
    rule = await org.share("ACCOUNT", fromUserId=ann.id, toUserId=bob.id)
    item = await item_on(org, ann, account)
    await follow(org.api, bob, item)
    await reply(org.api, ann, item, "Price agreed")
    await org.api.ok(FORWARD_RECORD, {"id": account, "to": [bob.id]}, ann.token)
    reply_note, forward_note = await inbox(org.api, bob)
    assert reply_note["kind"] == "REPLY"
    assert forward_note["forward"]["canOpen"] is True

    await org.api.ok(DELETE_SHARING_RULE, {"id": rule}, org.admin.token)
    # the reply is about an item Bob no longer sees; the forwarded card stays, closed.
    [card] = await inbox(org.api, bob)
    assert card["kind"] == "FORWARDED"
    assert card["forward"]["canOpen"] is False
    assert card["forward"]["record"] is None
    assert await unread_count(org.api, bob) == 1


async def test_an_invalidated_record_hides_its_notifications(org: Org) -> None:
    boss = await org.user("Boss")
    bob = await org.user("Bob", superior=boss)
    account = await org.record(boss, "ACCOUNT", "Acme")
    await change_owner(org.api, boss, account, bob.id)
    assert kinds(await inbox(org.api, bob)) == ["OWNER_CHANGED"]
    await org.invalidate(bob, account)
    assert await inbox(org.api, bob) == []
    assert await unread_count(org.api, bob) == 0


# -- nothing half-written ------------------------------------------------------------------------


async def test_a_refused_mutation_leaves_no_notification(org: Org) -> None:
    services = org.api.services
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    stranger = await org.user("Stranger")
    account = await org.record(ann, "ACCOUNT", "Acme")
    hidden = await org.record(stranger, "ACCOUNT", "Hidden")
    item = await item_on(org, ann, account)
    missing_user = "usr_999999999"

    refusals = [
        # mentions Bob but relates to a record Ann may not read
        await post_error(org, ann, related=[hidden], mentions=[bob.id]),
        # mentions Bob and someone who does not exist
        await post_error(org, ann, related=[account], mentions=[bob.id, missing_user]),
        # cc's Bob but the content is too long
        await post_error(org, ann, "x" * 10_001, related=[account], cc=[bob.id]),
        # a reply mentioning Bob among too many people
        await org.api.error(
            'mutation($id: ID!, $m: [ID!]) { reply(itemId: $id, content: "Hi", mentions: $m) '
            "{ id } }",
            {"id": item, "m": [bob.id] + [f"usr_{n}" for n in range(900_000, 900_025)]},
            ann.token,
        ),
        # a task for Bob, who cannot see the item
        await org.api.error(CONVERT_TO_TASK, {"id": item, "assignee": bob.id}, ann.token),
        # forwarded to Bob and to nobody
        await org.api.error(FORWARD_ITEM, {"id": item, "to": [bob.id, missing_user]}, ann.token),
        # a record owner change Bob may not make, to himself
        await org.api.error(
            "mutation($id: ID!, $o: ID!) { changeOwner(id: $id, newOwnerId: $o) { id } }",
            {"id": account, "o": bob.id},
            bob.token,
        ),
    ]
    for error in refusals:
        assert error["extensions"]["code"] in {"BAD_USER_INPUT", "NOT_FOUND", "FORBIDDEN"}, error
    assert await stored(services, bob, ann) == []
    assert await inbox(org.api, bob) == []
    # no sequence number was taken either: Bob's next notification is his first.
    bob_number = from_global(Kind.USER, bob.id)
    async with services.session_factory() as session:
        counters = await session.scalar(
            select(func.count()).select_from(InboxCounter).where(InboxCounter.user_id == bob_number)
        )
    assert counters == 0
    await post(org, ann, "Now for real", related=[account], mentions=[bob.id])
    [first] = await inbox(org.api, bob)
    assert seq(first["cursor"]) == 1


async def post_error(
    org: Org, who: Person, content: str = "Hello", **options: Any
) -> dict[str, Any]:
    from tests.feed_helpers import post_error as refused

    return await refused(org, who, content, **options)


# -- every entry belongs to a user (no foreign key since migration 0014) -------------------------

NO_SUCH_USER = 900_001
_DELETES_USERS = re.compile(
    r"delete\(\s*(User|users)\b|DELETE\s+FROM\s+\"?users\b|\.delete\(\s*(user|viewer)\b",
    re.IGNORECASE,
)


async def test_entries_are_written_only_for_users_that_exist(org: Org, services: Services) -> None:
    """`notifications.user_id` has no foreign key: the writers take users from their inbox
    counters (which reference users), so an unknown user gets no entry and no number."""
    ann = await org.user("Ann")
    ann_number = from_global(Kind.USER, ann.id)
    async with services.session_factory() as session:
        enterprise = await session.scalar(select(User.enterprise_id).where(User.id == ann_number))
        assert enterprise is not None
        sent = await notifications.add_events(
            session, enterprise, [(NewEvent("CC", "to Ann and nobody"), [ann_number, NO_SUCH_USER])]
        )
        assert sent == [(ann_number, 1)]
        # several notifications for one user at once (due reminders) are numbered in Python
        with pytest.raises(IntegrityError):
            await notifications.add(
                session,
                enterprise,
                [NewNotification(NO_SUCH_USER, "REMINDER", f"r{n}") for n in (1, 2)],
            )
        await session.rollback()
    async with services.session_factory() as session:
        orphans = await session.scalar(
            select(func.count())
            .select_from(InboxEntry)
            .where(InboxEntry.user_id.not_in(select(User.id)))
        )
        unknown = await session.scalar(
            select(func.count())
            .select_from(InboxCounter)
            .where(InboxCounter.user_id == NO_SUCH_USER)
        )
    assert (orphans, unknown) == (0, 0)


def test_users_are_never_deleted() -> None:
    """What the missing foreign key relies on: the application deactivates users and never
    deletes them (a deleted user's entries would stay behind)."""
    root = Path(__file__).resolve().parent.parent
    sources = [
        path
        for package in ("store", "resolvers", "crmfeed")
        for path in (root / package).rglob("*.py")
    ]
    assert len(sources) > 50
    deleting = [
        f"{path.relative_to(root)}: {match.group(0)}"
        for path in sources
        for match in _DELETES_USERS.finditer(path.read_text())
    ]
    assert deleting == []
