"""`logCall` (seed 12): a call to one of a record's phone numbers (or one of its contact's)
becomes a sales record related to the record, posted, shown and notified like any other."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crmfeed.ids import Kind
from crmfeed.registry.enums import FieldType, LifeStatus, ObjectType
from crmfeed.registry.feed import ITEM_TYPES
from crmfeed.registry.objects import spec_for
from crmfeed.registry.record_page import (
    ACTIVITY_TYPE,
    MAX_CALL_SECONDS,
    CallDirection,
    CallOutcome,
    PageAction,
    fields_of_type,
)
from resolvers.errors import BadUserInput, Forbidden
from resolvers.feed import clean_content, parse_mentions, post_in
from resolvers.inputs import parse_id
from resolvers.page_permissions import require_page_action
from resolvers.records import readable_or_not_found
from store import records

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.context import Context
    from resolvers.field_access import FieldAccessMap
    from store.feed_tables import FeedItem
    from store.models import Record
    from store.viewer import Viewer


@dataclass(frozen=True, slots=True)
class NewCall:
    record_id: str
    contact_id: str | None
    phone_field: str | None
    number: str | None
    direction: CallDirection
    duration_seconds: int
    outcome: CallOutcome
    note: str | None
    mentions: list[str]
    cc: list[str]


def digits(number: str) -> str:
    """A phone number compared by its digits (and a leading +): '+86 21-5555' is '+86215555'."""
    kept = re.sub(r"[^\d+]", "", number.strip())
    return kept[:1] + kept[1:].replace("+", "")


def _duration(seconds: int) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _phones(record: Record, access: FieldAccessMap) -> dict[str, str]:
    """The record's phone fields the caller may see that hold a number."""
    values = record.values or {}
    return {
        name: str(values[name])
        for name in fields_of_type(record.object_type, FieldType.PHONE)
        if values.get(name) and access.can_read(record.object_type, name)
    }


def _called(call: NewCall, record: Record, access: FieldAccessMap) -> tuple[str, str]:
    """(number, field label) of the call; BAD_USER_INPUT unless it is one of the phones."""
    label = spec_for(record.object_type).label
    phones = _phones(record, access)
    if call.phone_field is not None:
        if call.phone_field not in phones:
            known = ", ".join(sorted(phones)) or "none with a number"
            raise BadUserInput(
                f"phoneField: '{call.phone_field}' is not a phone field of this {label} that "
                f"holds a number you may see (its phone fields: {known}).",
                field="phoneField",
            )
        name = call.phone_field
        return phones[name], spec_for(record.object_type).field_map[name].label
    wanted = digits(call.number or "")
    for name, number in phones.items():
        if wanted and digits(number) == wanted:
            return number, spec_for(record.object_type).field_map[name].label
    raise BadUserInput(
        f"number: {call.number!r} is not one of this {label}'s phone numbers; give phoneField, "
        "or a number the record (or the contact named by contactId) holds.",
        field="number",
    )


async def log_call(context: Context, call: NewCall) -> FeedItem:
    viewer = await context.viewer()
    if (call.phone_field is None) == (call.number is None):
        raise BadUserInput("give exactly one of phoneField and number.", field="phoneField")
    if not 0 <= call.duration_seconds <= MAX_CALL_SECONDS:
        raise BadUserInput(
            f"durationSeconds must be between 0 and {MAX_CALL_SECONDS}.", field="durationSeconds"
        )
    note = None if call.note is None or not call.note.strip() else clean_content(call.note, "note")
    mentions = parse_mentions(call.mentions)
    cc = parse_mentions(call.cc, "cc")
    spec = ITEM_TYPES[ACTIVITY_TYPE]
    if spec.permission and spec.permission not in viewer.permissions:
        raise Forbidden(f"Logging a call writes a sales record: it needs {spec.permission}.")
    access = await context.field_access()
    async with context.db() as session:
        record = await readable_or_not_found(session, viewer, call.record_id)
        require_page_action(viewer, record.object_type, PageAction.CALL)
        _require_normal(record)
        called = record
        if call.contact_id is not None:
            called = await _contact_of(session, viewer, record, call.contact_id)
        number, field_label = _called(call, called, access)
        who = "" if called is record else f" {called.name}"
        lines = [
            f"Call ({call.direction.value.lower()}, {_duration(call.duration_seconds)}, "
            f"{call.outcome.value.lower().replace('_', ' ')}):{who} {number} ({field_label})",
        ]
        if note:
            lines.append(note)
        related = [record.id] if called is record else [record.id, called.id]
        item, sent = await post_in(
            session, viewer, ACTIVITY_TYPE, "\n".join(lines), related, None, mentions, cc
        )
        await session.commit()
    await context.publish(sent)
    return item


def _require_normal(record: Record) -> None:
    if record.life_status != LifeStatus.NORMAL:
        raise BadUserInput(
            f"rec_{record.id} is invalid (in the recycle bin): restore it first.", field="recordId"
        )


async def _contact_of(
    session: AsyncSession, viewer: Viewer, record: Record, contact_id: str
) -> Record:
    """The contact, readable and normal, of the record's account (or of the record itself)."""
    number = parse_id(contact_id, Kind.RECORD, "contactId")
    found = await records.readable_record(session, viewer, number)
    if found is None or found.object_type != ObjectType.CONTACT:
        raise BadUserInput(f"contactId: no contact with id {contact_id} exists.", field="contactId")
    _require_normal(found)
    account = (found.values or {}).get("accountId")
    linked = account == f"rec_{record.id}" or (record.values or {}).get("accountId") == account
    if not linked or account is None:
        raise BadUserInput(
            f"contactId: {found.name} is not a contact of this record's account.",
            field="contactId",
        )
    return found
