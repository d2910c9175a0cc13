"""Calendar files: one event as .ics (for whoever may see it), and a per-user feed a calendar
program subscribes to with a secret URL the user can replace or revoke."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

from crmfeed.calendar_ics import EventFacts, event_file, feed_file
from crmfeed.ids import Kind
from resolvers.errors import BadUserInput
from resolvers.inputs import parse_id
from store import calendar_files, org, records, tasks

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.context import Context
    from store.feed_tables import CalendarEvent
    from store.viewer import Viewer

FEED_PATH = "/calendar/{token}.ics"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _facts(
    session: AsyncSession, viewer: Viewer, events: Sequence[CalendarEvent]
) -> list[EventFacts]:
    people = await tasks.participants(session, [e.id for e in events])
    user_ids = {e.created_by_id for e in events} | {u for ids in people.values() for u in ids}
    users = await org.users_by_ids(session, viewer.enterprise_id, sorted(user_ids))
    record_ids = [e.record_id for e in events if e.record_id is not None]
    readable = await records.readable_records(session, viewer, record_ids)
    return [
        EventFacts(
            event=event,
            organizer=users.get(event.created_by_id),
            attendees=[users[u] for u in people.get(event.id, []) if u in users],
            record_name=readable[event.record_id].name if event.record_id in readable else None,
        )
        for event in events
    ]


async def event_ics(context: Context, event_id: str) -> bytes | None:
    """The event's file, or None when it does not exist or the caller may not see it."""
    viewer = await context.viewer()
    try:
        number = parse_id(event_id, Kind.CALENDAR_EVENT, "id")
    except BadUserInput:
        return None
    async with context.db() as session:
        event = await calendar_files.visible_event(session, viewer, number)
        if event is None:
            return None
        return event_file((await _facts(session, viewer, [event]))[0])


async def feed_ics(context: Context, token: str) -> bytes | None:
    """The feed behind a secret token, or None when no active user holds it."""
    async with context.db() as session:
        owner = await calendar_files.feed_owner(session, token_hash(token))
        if owner is None:
            return None
        viewer = await org.load_viewer(session, *owner)
        if viewer is None:
            return None
        user = (await org.users_by_ids(session, viewer.enterprise_id, [viewer.id]))[viewer.id]
        events = await _facts(session, viewer, await calendar_files.events_of(session, viewer))
        reminders = await calendar_files.reminders_of(session, viewer)
        readable = await records.readable_records(
            session, viewer, [r.record_id for r in reminders if r.record_id is not None]
        )
        named = [
            (r, readable[r.record_id].name if r.record_id in readable else None) for r in reminders
        ]
        return feed_file(user.name, events, named)


def feed_url(context: Context, token: str) -> str:
    path = FEED_PATH.format(token=token)
    request = context.request
    return str(request.base_url).rstrip("/") + path if request is not None else path


async def new_feed_url(context: Context) -> tuple[str, datetime]:
    """A new secret feed URL for the caller; the previous one stops working. Shown once."""
    viewer = await context.viewer()
    token = secrets.token_urlsafe(32)
    async with context.db() as session:
        row = await calendar_files.put_feed_token(
            session, viewer.enterprise_id, viewer.id, token_hash(token)
        )
        created = row.created_at
        await session.commit()
    return feed_url(context, token), created


async def revoke_feed(context: Context) -> bool:
    """Stop the caller's feed URL; False when there was none."""
    viewer = await context.viewer()
    async with context.db() as session:
        deleted = await calendar_files.delete_feed_token(session, viewer.id)
        await session.commit()
    return deleted


async def feed_created_at(context: Context) -> datetime | None:
    viewer = await context.viewer()
    async with context.db() as session:
        row = await calendar_files.feed_token_of(session, viewer.id)
    return None if row is None else row.created_at
