"""Record page actions (print, call, mail, calendar files): their types and root fields,
mixed into Query and Mutation."""

from __future__ import annotations

import strawberry

from crmfeed.registry import record_page as registry
from resolvers import calls
from schema.feed import FeedItem
from schema.permissions import SIGNED_IN

CallDirection = strawberry.enum(registry.CallDirection, name="CallDirection")
CallOutcome = strawberry.enum(registry.CallOutcome, name="CallOutcome")


@strawberry.input
class LogCallInput:
    record_id: strawberry.ID
    direction: CallDirection
    duration_seconds: int
    outcome: CallOutcome
    phone_field: str | None = strawberry.field(
        default=None, description="A phone field of the record (or of the contact)."
    )
    number: str | None = strawberry.field(
        default=None, description="Or the number itself: one the record (or contact) holds."
    )
    contact_id: strawberry.ID | None = strawberry.field(
        default=None, description="A contact of the record's account whose phone was called."
    )
    note: str | None = None
    mentions: list[strawberry.ID] | None = None
    cc: list[strawberry.ID] | None = None


@strawberry.type
class RecordPageQuery:
    pass


@strawberry.type
class RecordPageMutation:
    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Log a call to one of the record's phone numbers: it becomes a sales record "
        "related to the record (and the contact called), notified like any other item.",
    )
    async def log_call(self, info: strawberry.Info, input: LogCallInput) -> FeedItem:
        call = calls.NewCall(
            record_id=input.record_id,
            contact_id=input.contact_id,
            phone_field=input.phone_field,
            number=input.number,
            direction=registry.CallDirection(input.direction),
            duration_seconds=input.duration_seconds,
            outcome=registry.CallOutcome(input.outcome),
            note=input.note,
            mentions=list(input.mentions or []),
            cc=list(input.cc or []),
        )
        row = await calls.log_call(info.context, call)
        return FeedItem(row=row, loaders=info.context.loaders)
