"""iCalendar (RFC 5545) files for calendar events and a user's calendar feed (icalendar)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

from crmfeed.ids import Kind, to_global

if TYPE_CHECKING:
    from store.feed_tables import CalendarEvent, Reminder
    from store.models import User

PRODUCT_ID = "-//crmfeed//calendar//EN"
UID_DOMAIN = "crmfeed"
DEFAULT_LENGTH = timedelta(hours=1)  # an event given no end


@dataclass(frozen=True, slots=True)
class EventFacts:
    """An event with what the file shows about it: its people, and its record's name when
    the reader may read that record (None otherwise)."""

    event: CalendarEvent
    organizer: User | None
    attendees: list[User]
    record_name: str | None


def _address(user: User) -> vCalAddress:
    address = vCalAddress(f"mailto:{user.email}")
    address.params["cn"] = vText(user.name)
    return address


def _calendar(name: str | None = None) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if name:
        calendar.add("x-wr-calname", name)
    return calendar


def _event(facts: EventFacts) -> Event:
    row = facts.event
    event = Event()
    event.add("uid", f"{to_global(Kind.CALENDAR_EVENT, row.id)}@{UID_DOMAIN}")
    event.add("dtstamp", row.created_at)
    event.add("summary", row.title)
    event.add("dtstart", row.starts_at)
    event.add("dtend", row.ends_at or row.starts_at + DEFAULT_LENGTH)
    if facts.record_name:
        event.add("description", f"About: {facts.record_name}")
    if facts.organizer is not None:
        event.add("organizer", _address(facts.organizer))
    for user in facts.attendees:
        attendee = _address(user)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        event.add("attendee", attendee)
    return event


def event_file(facts: EventFacts) -> bytes:
    calendar = _calendar()
    calendar.add("method", "PUBLISH")
    calendar.add_component(_event(facts))
    return calendar.to_ical()


def _reminder(row: Reminder, record_name: str | None) -> Event:
    event = Event()
    event.add("uid", f"{to_global(Kind.REMINDER, row.id)}@{UID_DOMAIN}")
    event.add("dtstamp", row.created_at)
    summary = "Reminder" + (f": {row.note}" if row.note else "")
    event.add("summary", summary)
    event.add("dtstart", row.remind_at)
    event.add("dtend", row.remind_at)
    if record_name:
        event.add("description", f"About: {record_name}")
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", summary)
    alarm.add("trigger", timedelta(0))
    event.add_component(alarm)
    return event


def feed_file(
    owner_name: str, events: list[EventFacts], reminders: list[tuple[Reminder, str | None]]
) -> bytes:
    """A user's feed: their events and the reminders that remind them (each with an alarm)."""
    calendar = _calendar(f"CRM: {owner_name}")
    for facts in events:
        calendar.add_component(_event(facts))
    for row, record_name in reminders:
        calendar.add_component(_reminder(row, record_name))
    return calendar.to_ical()
