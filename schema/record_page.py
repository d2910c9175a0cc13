"""Record page actions (print, call, mail, calendar files): their types and root fields,
mixed into Query and Mutation."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import Private

from crmfeed.ids import Kind, to_global
from crmfeed.registry import record_page as registry
from resolvers import calendar_files, calls, mail, printing, records
from resolvers.paging import encode_cursor
from schema.enums import ObjectType
from schema.feed import FeedItem, _item, _record
from schema.pagination import PageInfo
from schema.permissions import ADMIN, SIGNED_IN
from schema.records import RecordFilter, RecordInterface, wrap_record
from store import record_page_tables

CallDirection = strawberry.enum(registry.CallDirection, name="CallDirection")
CallOutcome = strawberry.enum(registry.CallOutcome, name="CallOutcome")
MailSecurity = strawberry.enum(registry.MailSecurity, name="MailSecurity")
MailStatus = strawberry.enum(registry.MailStatus, name="MailStatus")


@strawberry.type(description="My bound mailbox. Its password is stored encrypted and never shown.")
class Mailbox:
    row: Private[record_page_tables.Mailbox]

    @strawberry.field
    def smtp_host(self) -> str:
        return self.row.smtp_host

    @strawberry.field
    def port(self) -> int:
        return self.row.port

    @strawberry.field
    def security(self) -> MailSecurity:
        return registry.MailSecurity(self.row.security)

    @strawberry.field
    def username(self) -> str:
        return self.row.username

    @strawberry.field
    def from_address(self) -> str:
        return self.row.from_address

    @strawberry.field(description="When the login was last tested and the mailbox bound.")
    def verified_at(self) -> datetime:
        return self.row.verified_at


@strawberry.input
class BindMailboxInput:
    smtp_host: str
    port: int
    security: MailSecurity
    username: str
    password: str
    from_address: str


@strawberry.type(
    description="A mail template: subject and body are Jinja2 (sandboxed) over the record's "
    "fields by name ({{ name }}, {{ company }}, ...), plus record, owner and sender."
)
class MailTemplate:
    row: Private[record_page_tables.MailTemplate]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global(Kind.MAIL_TEMPLATE, self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def subject(self) -> str:
        return self.row.subject

    @strawberry.field
    def body(self) -> str:
        return self.row.body

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at


@strawberry.input
class SaveMailTemplateInput:
    name: str
    subject: str
    body: str
    id: strawberry.ID | None = None


@strawberry.type(description="One mail to one recipient, and what became of it.")
class MailMessage:
    row: Private[record_page_tables.MailMessage]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global(Kind.MAIL, self.row.id))

    @strawberry.field(description="The sending it was part of (sendMail or sendBatchMail).")
    def batch_id(self) -> str:
        return self.row.batch_id

    @strawberry.field
    def to(self) -> str:
        return self.row.to_address

    @strawberry.field
    def subject(self) -> str:
        return self.row.subject

    @strawberry.field
    def body(self) -> str:
        return self.row.body

    @strawberry.field
    def status(self) -> MailStatus:
        return registry.MailStatus(self.row.status)

    @strawberry.field
    def attempts(self) -> int:
        return self.row.attempts

    @strawberry.field(description="Why the last attempt failed (kept while it is retried).")
    def last_error(self) -> str | None:
        return self.row.last_error

    @strawberry.field(description="When it is tried (again), while PENDING.")
    def next_attempt_at(self) -> datetime | None:
        return self.row.next_attempt_at if self.row.status == "PENDING" else None

    @strawberry.field
    def sent_at(self) -> datetime | None:
        return self.row.sent_at

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="Null when I may no longer read it.")
    async def record(self, info: strawberry.Info) -> RecordInterface | None:
        return await _record(info, self.row.record_id)

    @strawberry.field(description="The sales record it became on its record, once sent.")
    async def feed_item(self, info: strawberry.Info) -> FeedItem | None:
        return await _item(info, self.row.feed_item_id)


@strawberry.type
class MailMessageEdge:
    cursor: str
    node: MailMessage


@strawberry.type
class MailMessageConnection:
    edges: list[MailMessageEdge]
    page_info: PageInfo


@strawberry.type(description="A record the sending leaves out, and why.")
class MailProblem:
    problem: Private[mail.Problem]

    @strawberry.field
    def record_id(self) -> strawberry.ID:
        return strawberry.ID(self.problem.record_id)

    @strawberry.field(description="Null when it does not exist or I may not read it.")
    def record(self) -> RecordInterface | None:
        return wrap_record(self.problem.record) if self.problem.record is not None else None

    @strawberry.field
    def reason(self) -> str:
        return self.problem.reason


@strawberry.type(description="One recipient of a batch, with the mail as rendered for them.")
class MailRecipient:
    recipient: Private[mail.Recipient]

    @strawberry.field
    def record(self) -> RecordInterface:
        wrapped = wrap_record(self.recipient.record)
        assert wrapped is not None
        return wrapped

    @strawberry.field
    def to(self) -> str:
        return self.recipient.to

    @strawberry.field
    def subject(self) -> str:
        return self.recipient.subject

    @strawberry.field
    def body(self) -> str:
        return self.recipient.body


@strawberry.type
class MailPreview:
    recipients: list[MailRecipient]
    problems: list[MailProblem] = strawberry.field(
        description="Records that would not be mailed, and why."
    )


@strawberry.type(description="Mails put in the outbox; they are sent in the background.")
class MailSending:
    batch_id: str
    queued: list[MailMessage]
    problems: list[MailProblem] = strawberry.field(
        description="Records that were not mailed, and why."
    )


def _sending(sending: mail.Sending) -> MailSending:
    return MailSending(
        batch_id=sending.batch_id,
        queued=[MailMessage(row=row) for row in sending.queued],
        problems=[MailProblem(problem=p) for p in sending.problems],
    )


@strawberry.input(
    description="recordIds or filter (a list page's records); a templateId, or a subject and "
    "body (Jinja2 over each record's fields), or both (subject/body then edit the template)."
)
class SendBatchMailInput:
    object_type: ObjectType
    record_ids: list[strawberry.ID] | None = None
    filter: RecordFilter | None = None
    template_id: strawberry.ID | None = None
    subject: str | None = None
    body: str | None = None


def _batch_request(given: SendBatchMailInput) -> mail.BatchRequest:
    record_filter = None
    if given.filter is not None:
        record_filter = records.make_filter(
            statuses=given.filter.status,
            owner_id=given.filter.owner_id,
            name_contains=given.filter.name_contains,
            updated_since=given.filter.updated_since,
            object_type=given.object_type,
        )
    return mail.BatchRequest(
        object_type=given.object_type,
        record_ids=None if given.record_ids is None else list(given.record_ids),
        record_filter=record_filter,
        template_id=given.template_id,
        subject=given.subject,
        body=given.body,
    )


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

    @strawberry.field(permission_classes=SIGNED_IN, description="My bound mailbox, if any.")
    async def mailbox(self, info: strawberry.Info) -> Mailbox | None:
        row = await mail.my_mailbox(info.context)
        return None if row is None else Mailbox(row=row)

    @strawberry.field(permission_classes=SIGNED_IN, description="The enterprise's mail templates.")
    async def mail_templates(self, info: strawberry.Info) -> list[MailTemplate]:
        return [MailTemplate(row=row) for row in await mail.templates(info.context)]

    @strawberry.field(
        permission_classes=SIGNED_IN,
        description="The recipients of a batch and each one's rendered mail, for confirmation; "
        "sends nothing. LIMIT_EXCEEDED over 50 records.",
    )
    async def preview_mail(self, info: strawberry.Info, input: SendBatchMailInput) -> MailPreview:
        batch = await mail.preview(info.context, _batch_request(input))
        return MailPreview(
            recipients=[MailRecipient(recipient=r) for r in batch.recipients],
            problems=[MailProblem(problem=p) for p in batch.problems],
        )

    @strawberry.field(
        permission_classes=SIGNED_IN,
        description="My mails, newest first, each with its status (one sending: batchId).",
    )
    async def mail_messages(
        self,
        info: strawberry.Info,
        batch_id: str | None = None,
        status: MailStatus | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> MailMessageConnection:
        rows, has_next = await mail.messages_page(
            info.context,
            batch_id,
            None if status is None else registry.MailStatus(status),
            first,
            after,
        )
        edges = [MailMessageEdge(cursor=encode_cursor(r.id), node=MailMessage(row=r)) for r in rows]
        return MailMessageConnection(edges=edges, page_info=PageInfo.of(edges, has_next))


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
        description="Bind my mailbox: the login is tested first (BAD_USER_INPUT with the "
        "server's reason, nothing stored); the password is stored encrypted.",
    )
    async def bind_mailbox(self, info: strawberry.Info, input: BindMailboxInput) -> Mailbox:
        given = mail.BindMailbox(
            smtp_host=input.smtp_host,
            port=input.port,
            security=registry.MailSecurity(input.security),
            username=input.username,
            password=input.password,
            from_address=input.from_address,
        )
        return Mailbox(row=await mail.bind_mailbox(info.context, given))

    @strawberry.mutation(permission_classes=SIGNED_IN, description="Forget my mailbox.")
    async def unbind_mailbox(self, info: strawberry.Info) -> bool:
        return await mail.unbind_mailbox(info.context)

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Mail a record at one of its email addresses (`to`; the first by "
        "default). Sent in the background; it then becomes a sales record on the record.",
    )
    async def send_mail(
        self,
        info: strawberry.Info,
        record_id: strawberry.ID,
        subject: str,
        body: str,
        to: str | None = None,
    ) -> MailSending:
        return _sending(await mail.send_mail(info.context, record_id, to, subject, body))

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Mail each record from a template, rendered per record; at most 50 "
        "(LIMIT_EXCEEDED, nothing sent); records it cannot mail are listed in problems.",
    )
    async def send_batch_mail(
        self, info: strawberry.Info, input: SendBatchMailInput
    ) -> MailSending:
        return _sending(await mail.send_batch(info.context, _batch_request(input)))

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Send my FAILED mails again (their drafts are kept); others are ignored.",
    )
    async def resend_mail(
        self, info: strawberry.Info, ids: list[strawberry.ID]
    ) -> list[MailMessage]:
        return [MailMessage(row=row) for row in await mail.resend(info.context, list(ids))]

    @strawberry.mutation(extensions=ADMIN, description="Create or change a mail template.")
    async def save_mail_template(
        self, info: strawberry.Info, input: SaveMailTemplateInput
    ) -> MailTemplate:
        row = await mail.save_template(
            info.context, input.id, input.name, input.subject, input.body
        )
        return MailTemplate(row=row)

    @strawberry.mutation(extensions=ADMIN, description="Delete a mail template.")
    async def delete_mail_template(self, info: strawberry.Info, id: strawberry.ID) -> bool:
        return await mail.delete_template(info.context, id)

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
