"""Calendar files: an event as .ics for whoever may see it (404 otherwise), with its
participants as attendees; a per-user feed at a secret URL that a new URL or a revoke ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from icalendar import Calendar

from tests.feed_helpers import new_org

if TYPE_CHECKING:
    from tests.conftest import Api
    from tests.records_helpers import Org, Person

CREATE_EVENT = """
mutation($input: CreateCalendarEventInput!) { createCalendarEvent(input: $input) { id icsUrl } }"""
ADD_REMINDER = """
mutation($id: ID!, $at: DateTime!, $users: [ID!], $note: String) {
  addRecordReminder(recordId: $id, remindAt: $at, userIds: $users, note: $note) { id }
}"""
NEW_FEED = "mutation { createCalendarFeedUrl { url createdAt } }"
REVOKE_FEED = "mutation { revokeCalendarFeed }"
FEED_CREATED = "{ calendarFeedCreatedAt }"
STARTS = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


async def event(org: Org, who: Person, record: str, people: list[Person]) -> str:
    """The new event's id (its icsUrl checked to be the path the file is served at)."""
    given = {
        "title": "Confirm the quotation plan 确认报价",
        "startsAt": STARTS.isoformat(),
        "endsAt": (STARTS + timedelta(minutes=30)).isoformat(),
        "recordId": record,
        "participantIds": [p.id for p in people],
    }
    created = (await org.api.ok(CREATE_EVENT, {"input": given}, who.token))["createCalendarEvent"]
    assert created["icsUrl"] == f"/files/events/{created['id']}.ics"
    return created["id"]


async def get(api: Api, path: str, who: Person | None = None) -> tuple[int, bytes, str]:
    headers = {"Authorization": f"Bearer {who.token}"} if who else {}
    response = await api.client.get(path, headers=headers)
    return response.status_code, response.content, response.headers.get("content-type", "")


async def test_an_event_as_ics_with_its_attendees(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    stranger = await org.user("Stranger")
    account = await org.record(ann, "ACCOUNT", "上海客户")
    event_id = await event(org, ann, account, [bob])
    status, body, kind = await get(api, f"/files/events/{event_id}.ics", ann)
    assert status == 200 and kind.startswith("text/calendar")
    parsed = Calendar.from_ical(body)
    (vevent,) = parsed.walk("VEVENT")
    assert str(vevent["summary"]) == "Confirm the quotation plan 确认报价"
    assert vevent.decoded("dtstart") == STARTS
    assert vevent.decoded("dtend") == STARTS + timedelta(minutes=30)
    attendees = vevent.get("attendee")
    attendees = attendees if isinstance(attendees, list) else [attendees]
    assert [str(a.params["cn"]) for a in attendees] == ["Bob"]
    assert str(vevent["organizer"].params["cn"]) == "Ann"
    assert "上海客户" in str(vevent["description"])
    # A participant may download it too; someone who cannot see it gets 404, nobody 401.
    assert (await get(api, f"/files/events/{event_id}.ics", bob))[0] == 200
    assert (await get(api, f"/files/events/{event_id}.ics", stranger))[0] == 404
    assert (await get(api, "/files/events/cal_999999999.ics", ann))[0] == 404
    assert (await get(api, "/files/events/nonsense.ics", ann))[0] == 404
    status, _, _ = await get(api, f"/files/events/{event_id}.ics")
    assert status == 401


async def test_the_participant_does_not_learn_a_record_they_cannot_read(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(ann, "ACCOUNT", "Secret Account")
    event_id = await event(org, ann, account, [bob])
    _, body, _ = await get(api, f"/files/events/{event_id}.ics", bob)
    assert b"Secret Account" not in body
    (vevent,) = Calendar.from_ical(body).walk("VEVENT")
    assert "description" not in vevent


async def test_the_feed_url_carries_events_and_reminders_until_revoked(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    account = await org.record(ann, "ACCOUNT", "Acme")
    await event(org, ann, account, [bob])
    await org.add_member(ann, account, bob)  # a reminder reminds people who may read the record
    remind_at = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    variables = {"id": account, "at": remind_at.isoformat(), "users": [bob.id], "note": "Call"}
    await api.ok(ADD_REMINDER, variables, ann.token)
    assert (await api.ok(FEED_CREATED, token=bob.token))["calendarFeedCreatedAt"] is None
    first = (await api.ok(NEW_FEED, token=bob.token))["createCalendarFeedUrl"]["url"]
    assert first.startswith("http://test/calendar/") and first.endswith(".ics")
    path = first.removeprefix("http://test")
    status, body, kind = await get(api, path)  # no bearer token: the URL is the secret
    assert status == 200 and kind.startswith("text/calendar")
    parsed = Calendar.from_ical(body)
    summaries = sorted(str(e["summary"]) for e in parsed.walk("VEVENT"))
    assert summaries == ["Confirm the quotation plan 确认报价", "Reminder: Call"]
    (alarm,) = parsed.walk("VALARM")
    assert alarm.decoded("trigger") == timedelta(0)
    assert (await api.ok(FEED_CREATED, token=bob.token))["calendarFeedCreatedAt"] is not None
    # A new URL ends the old one; revoking ends the new one.
    second = (await api.ok(NEW_FEED, token=bob.token))["createCalendarFeedUrl"]["url"]
    assert (await get(api, path))[0] == 404
    assert (await get(api, second.removeprefix("http://test")))[0] == 200
    assert (await api.ok(REVOKE_FEED, token=bob.token))["revokeCalendarFeed"] is True
    assert (await get(api, second.removeprefix("http://test")))[0] == 404
    assert (await api.ok(REVOKE_FEED, token=bob.token))["revokeCalendarFeed"] is False
    assert (await get(api, "/calendar/guessed.ics"))[0] == 404
