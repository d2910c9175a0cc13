"""Record page actions (print, call, mail, calendar files): their types and root fields,
mixed into Query and Mutation."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import Private

from crmfeed.registry import record_page as registry
from resolvers import calendar_files, calls, printing
from schema.enums import ObjectType
from schema.feed import FeedItem
from schema.permissions import ADMIN, SIGNED_IN

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


@strawberry.type(
    description="A print template: Jinja2 (sandboxed) producing HTML, printed to PDF at "
    "GET /files/records/{id}.pdf?template={id}. Variables: record (id, name, typeLabel, "
    "statusLabel, owner, createdAt, updatedAt), fields [{name, label, value}] (visible, with a "
    "value), allFields, values {name: value}, team [{name, teamRole, access}], activity "
    "[{type, author, content, createdAt}], printedBy, printedAt."
)
class PrintTemplate:
    view: Private[printing.TemplateView]

    @strawberry.field(description="`default` for the built-in template of the type.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.view.id)

    @strawberry.field
    def object_type(self) -> ObjectType:
        return self.view.object_type

    @strawberry.field
    def name(self) -> str:
        return self.view.name

    @strawberry.field
    def body(self) -> str:
        return self.view.body

    @strawberry.field
    def built_in(self) -> bool:
        return self.view.built_in

    @strawberry.field
    def updated_at(self) -> datetime | None:
        return self.view.updated_at


@strawberry.input
class SavePrintTemplateInput:
    object_type: ObjectType
    name: str
    body: str
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The template to change; none to create one."
    )


@strawberry.type
class CalendarFeedUrl:
    url: str = strawberry.field(
        description="Secret: whoever has it reads your calendar. Shown once; make a new one "
        "(the old one stops) or revoke it."
    )
    created_at: datetime


@strawberry.type
class RecordPageQuery:
    @strawberry.field(
        permission_classes=SIGNED_IN,
        description="The print templates of an object type, the built-in default first.",
    )
    async def print_templates(
        self, info: strawberry.Info, object_type: ObjectType
    ) -> list[PrintTemplate]:
        found = await printing.templates(info.context, object_type)
        return [PrintTemplate(view=view) for view in found]

    @strawberry.field(
        permission_classes=SIGNED_IN,
        description="When my calendar feed URL was made; null when I have none.",
    )
    async def calendar_feed_created_at(self, info: strawberry.Info) -> datetime | None:
        return await calendar_files.feed_created_at(info.context)


@strawberry.type
class RecordPageMutation:
    @strawberry.mutation(
        extensions=ADMIN,
        description="Create or change a print template (CRM administrators); the body must "
        "compile.",
    )
    async def save_print_template(
        self, info: strawberry.Info, input: SavePrintTemplateInput
    ) -> PrintTemplate:
        view = await printing.save_template(
            info.context,
            input.id,
            input.object_type,
            input.name,
            input.body,
        )
        return PrintTemplate(view=view)

    @strawberry.mutation(extensions=ADMIN, description="Delete a print template.")
    async def delete_print_template(self, info: strawberry.Info, id: strawberry.ID) -> bool:
        return await printing.delete_template(info.context, id)

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="A new secret URL a calendar program subscribes to (my events and "
        "reminders); any previous one stops working.",
    )
    async def create_calendar_feed_url(self, info: strawberry.Info) -> CalendarFeedUrl:
        url, created = await calendar_files.new_feed_url(info.context)
        return CalendarFeedUrl(url=url, created_at=created)

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Stop my calendar feed URL; false when there was none.",
    )
    async def revoke_calendar_feed(self, info: strawberry.Info) -> bool:
        return await calendar_files.revoke_feed(info.context)

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
