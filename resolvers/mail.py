"""Mail (seed 13): bind a mailbox, send a record a mail, and batch mail from a template.

Binding tests the login against the server before anything is stored; the password is kept
sealed (crmfeed/secrets_box.py) and no answer ever carries it. Sending only writes the outbox:
one row per recipient, sent in the background (crmfeed/live/mail_outbox.py), each with its own
status. A batch renders the template per record (Jinja2, sandboxed; the variables are the
record's fields the sender may see), refuses more than `MAIL_BATCH_LIMIT` records in one
sending, and reports every record it cannot mail (no email, unreadable, another type).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crmfeed import secrets_box, smtp, templating
from crmfeed.ids import Kind, from_global, to_global
from crmfeed.registry.enums import FieldType, LifeStatus, ObjectType
from crmfeed.registry.objects import spec_for
from crmfeed.registry.record_page import MAIL_BATCH_LIMIT, MailSecurity, MailStatus, PageAction
from resolvers import page_templates as shared_templates
from resolvers.errors import BadUserInput, Conflict, LimitExceeded, TooManyAttempts, not_found
from resolvers.inputs import EMAIL, clean_email, clean_text, parse_id, parse_ids
from resolvers.page_permissions import require_page_action
from resolvers.paging import decode_cursor
from resolvers.printing import shown_value
from resolvers.records import readable_or_not_found
from store import mail, page_templates, records
from store.record_page_tables import MailTemplate

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.context import Context
    from resolvers.field_access import FieldAccessMap
    from store.models import Record
    from store.record_page_tables import Mailbox, MailMessage
    from store.records import RecordFilter
    from store.viewer import Viewer

HOST = re.compile(r"^[A-Za-z0-9.\-\[\]:]{1,253}$")
MAX_SUBJECT = 1000
MAX_BODY = 100_000


# -- the mailbox ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BindMailbox:
    smtp_host: str
    port: int
    security: MailSecurity
    username: str
    password: str
    from_address: str


async def bind_mailbox(context: Context, given: BindMailbox) -> Mailbox:
    """Test the login, then store the mailbox (the password sealed); BAD_USER_INPUT naming
    what the server said when it refuses, and nothing stored."""
    viewer = await context.viewer()
    host = given.smtp_host.strip()
    if not HOST.match(host):
        raise BadUserInput(f"smtpHost: {given.smtp_host!r} is not a host name.", field="smtpHost")
    if not 1 <= given.port <= 65535:
        raise BadUserInput("port must be between 1 and 65535.", field="port")
    from_address = clean_email(given.from_address, "fromAddress")
    username = given.username.strip()
    if len(username) > 320:
        raise BadUserInput("username may be at most 320 characters.", field="username")
    if len(given.password) > 1000:
        raise BadUserInput("password may be at most 1000 characters.", field="password")
    box = smtp.Mailbox(host, given.port, given.security, username, given.password, from_address)
    refused_try = await context.throttle.mailbox_try(viewer.id)
    if refused_try is not None:
        raise TooManyAttempts(
            f"Too many mailbox binding tries; try again in {refused_try.seconds} seconds.",
            retry_after=refused_try.seconds,
        )
    try:
        await smtp.check_login(
            box,
            context.settings.smtp_timeout_seconds,
            allow_private=context.settings.smtp_allow_private_hosts,
        )
    except smtp.MailboxRefused as refused:
        raise BadUserInput(
            f"The mailbox could not be bound: {refused}. Nothing was stored.", field="smtpHost"
        ) from None
    async with context.db() as session:
        row = await mail.put_mailbox(
            session,
            {
                "user_id": viewer.id,
                "enterprise_id": viewer.enterprise_id,
                "smtp_host": host,
                "port": given.port,
                "security": given.security.value,
                "username": username,
                "password_encrypted": secrets_box.seal(context.settings, given.password),
                "from_address": from_address,
            },
        )
        await session.commit()
    return row


async def my_mailbox(context: Context) -> Mailbox | None:
    viewer = await context.viewer()
    async with context.db() as session:
        return await mail.mailbox_of(session, viewer.id)


async def unbind_mailbox(context: Context) -> bool:
    viewer = await context.viewer()
    async with context.db() as session:
        deleted = await mail.delete_mailbox(session, viewer.id)
        await session.commit()
    return deleted


async def _require_mailbox(session: AsyncSession, viewer: Viewer) -> None:
    if await mail.mailbox_of(session, viewer.id) is None:
        raise Conflict("Bind your mailbox first (bindMailbox): mail is sent from it.")


# -- templates -----------------------------------------------------------------------------------


async def templates(context: Context) -> list[MailTemplate]:
    viewer = await context.viewer()
    async with context.db() as session:
        return await page_templates.mail_templates(session, viewer.enterprise_id)


def _check_template(subject: str, body: str) -> None:
    for field, source in (("subject", subject), ("body", body)):
        try:
            templating.check(source, html=False)
        except templating.TemplateProblem as problem:
            raise BadUserInput(f"{field}: {problem}", field=field) from None


async def save_template(
    context: Context, template_id: str | None, name: str, subject: str, body: str
) -> MailTemplate:
    viewer = await context.viewer()
    name = clean_text(name, "name")
    subject = clean_text(subject, "subject", max_length=MAX_SUBJECT)
    _check_template(subject, body)
    async with context.db() as session:
        if template_id is None:
            row = MailTemplate(enterprise_id=viewer.enterprise_id)
        else:
            number = parse_id(template_id, Kind.MAIL_TEMPLATE, "id")
            found = await page_templates.mail_template(session, viewer.enterprise_id, number)
            if found is None:
                raise not_found("mail template", template_id)
            row = found
        row.name, row.subject, row.body = name, subject, body
        try:
            await page_templates.save(session, row, viewer.id)
        except page_templates.NameTaken:
            raise Conflict(
                f"name: a mail template is already called {name!r}.", field="name"
            ) from None
        await session.commit()
    return row


async def delete_template(context: Context, template_id: str) -> bool:
    return await shared_templates.delete_template(
        context, MailTemplate, Kind.MAIL_TEMPLATE, "mail template", template_id
    )


# -- recipients ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    record: Record
    to: str
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Problem:
    """A record the sending leaves out, and why (`record` None when the caller may not read
    it, or it does not exist)."""

    record_id: str
    record: Record | None
    reason: str


@dataclass(frozen=True, slots=True)
class Batch:
    recipients: list[Recipient]
    problems: list[Problem]
    template_id: int | None


@dataclass(frozen=True, slots=True)
class Sending:
    batch_id: str
    queued: list[MailMessage]
    problems: list[Problem]


def emails_of(record: Record, access: FieldAccessMap) -> list[str]:
    """The record's email addresses the caller may see, in field order."""
    values = record.values or {}
    spec = spec_for(record.object_type)
    return [
        str(values[f.name])
        for f in spec.fields
        if f.type is FieldType.EMAIL
        and values.get(f.name)
        and access.can_read(record.object_type, f.name)
    ]


async def _variables(
    session: AsyncSession, viewer: Viewer, access: FieldAccessMap, rows: list[Record]
) -> dict[int, dict[str, Any]]:
    """Per record: its visible fields by name (lookups and users by their names), plus
    `record` (id, name, type, status), `owner` and `sender`."""
    names, users = await shared_templates.referenced_names(
        session,
        viewer,
        [(row.object_type, row.values or {}) for row in rows],
        [viewer.id, *(row.owner_id for row in rows)],
    )
    found: dict[int, dict[str, Any]] = {}
    for row in rows:
        spec = spec_for(row.object_type)
        visible = access.visible_values(row)
        values = {
            f.name: shown_value(f, visible.get(f.name), names)
            for f in spec.fields
            if f.name in visible
        }
        owner = users.get(row.owner_id)
        found[row.id] = {
            **values,
            "record": {
                "id": to_global(Kind.RECORD, row.id),
                "name": row.name,
                "typeLabel": spec.label,
                "status": row.status,
            },
            "owner": owner.name if owner else "",
            "sender": users[viewer.id].name if viewer.id in users else "",
        }
    return found


def _one_line(text: str) -> str:
    return " ".join(text.split())[:MAX_SUBJECT]


async def _batch(
    session: AsyncSession,
    viewer: Viewer,
    access: FieldAccessMap,
    object_type: ObjectType,
    record_ids: list[str] | None,
    record_filter: RecordFilter | None,
    template_id: str | None,
    subject_override: str | None,
    body_override: str | None,
) -> Batch:
    """Render the template for each record; refuse more than MAIL_BATCH_LIMIT records."""
    require_page_action(viewer, object_type.value, PageAction.MAIL)
    if (record_ids is None) == (record_filter is None):
        raise BadUserInput("give exactly one of recordIds and filter.", field="recordIds")
    template = None
    if template_id is not None:
        number = parse_id(template_id, Kind.MAIL_TEMPLATE, "templateId")
        template = await page_templates.mail_template(session, viewer.enterprise_id, number)
        if template is None:
            raise BadUserInput(f"templateId: no mail template {template_id}.", field="templateId")
    subject = subject_override if subject_override is not None else template and template.subject
    body = body_override if body_override is not None else template and template.body
    if not subject or not subject.strip():
        raise BadUserInput("subject: give a templateId or a subject.", field="subject")
    if body is None or not body.strip():
        raise BadUserInput("body: give a templateId or a body.", field="body")
    _check_template(subject, body)

    problems: list[Problem] = []
    if record_filter is not None:
        found = await records.page_records(
            session,
            viewer,
            object_type=object_type.value,
            record_filter=record_filter,
            before_id=None,
            limit=MAIL_BATCH_LIMIT + 1,
        )
        asked = len(found)
        ordered = sorted(found, key=lambda r: r.id)
    else:
        given = list(dict.fromkeys(record_ids or []))
        asked = len(given)
        if asked > MAIL_BATCH_LIMIT:
            ordered = []
        else:
            numbers: dict[str, int | None] = {}
            for value in given:
                try:
                    numbers[value] = from_global(Kind.RECORD, value)
                except ValueError:
                    numbers[value] = None
            readable = await records.readable_records(
                session, viewer, [n for n in numbers.values() if n is not None]
            )
            ordered = []
            for value, number in numbers.items():
                row = readable.get(number) if number is not None else None
                if row is None:
                    problems.append(Problem(value, None, "no such record, or you may not read it"))
                elif row.object_type != object_type.value:
                    problems.append(
                        Problem(
                            value,
                            row,
                            f"it is a {spec_for(row.object_type).label}, not a "
                            f"{spec_for(object_type).label}",
                        )
                    )
                elif row.life_status != LifeStatus.NORMAL:
                    problems.append(Problem(value, row, "it is invalid (in the recycle bin)"))
                else:
                    ordered.append(row)
    if asked > MAIL_BATCH_LIMIT:
        count = f"{asked}" if record_filter is None else f"more than {MAIL_BATCH_LIMIT}"
        raise LimitExceeded(
            f"At most {MAIL_BATCH_LIMIT} recipients may be mailed in one sending ({count} "
            "given); nothing was sent.",
            limit=MAIL_BATCH_LIMIT,
        )
    variables = await _variables(session, viewer, access, ordered)
    recipients: list[Recipient] = []
    for row in ordered:
        emails = emails_of(row, access)
        if not emails:
            problems.append(Problem(to_global(Kind.RECORD, row.id), row, "it has no email address"))
            continue
        try:
            rendered_subject = templating.render(subject, variables[row.id], html=False)
            rendered_body = templating.render(body, variables[row.id], html=False)
        except templating.TemplateProblem as problem:
            problems.append(
                Problem(to_global(Kind.RECORD, row.id), row, f"the template: {problem}")
            )
            continue
        if len(rendered_body) > MAX_BODY:
            problems.append(Problem(to_global(Kind.RECORD, row.id), row, "the body is too long"))
            continue
        recipients.append(Recipient(row, emails[0], _one_line(rendered_subject), rendered_body))
    return Batch(recipients, problems, template.id if template else None)


@dataclass(frozen=True, slots=True)
class BatchRequest:
    object_type: ObjectType
    record_ids: list[str] | None
    record_filter: RecordFilter | None
    template_id: str | None
    subject: str | None
    body: str | None


async def preview(context: Context, request: BatchRequest) -> Batch:
    """What `sendBatchMail` would send, per recipient, for confirmation; sends nothing."""
    viewer = await context.viewer()
    access = await context.field_access()
    async with context.db() as session:
        return await _batch(
            session,
            viewer,
            access,
            request.object_type,
            request.record_ids,
            request.record_filter,
            request.template_id,
            request.subject,
            request.body,
        )


async def send_batch(context: Context, request: BatchRequest) -> Sending:
    viewer = await context.viewer()
    access = await context.field_access()
    async with context.db() as session:
        await _require_mailbox(session, viewer)
        batch = await _batch(
            session,
            viewer,
            access,
            request.object_type,
            request.record_ids,
            request.record_filter,
            request.template_id,
            request.subject,
            request.body,
        )
        batch_id = str(uuid.uuid4())
        queued = await mail.queue(
            session,
            [
                {
                    "enterprise_id": viewer.enterprise_id,
                    "batch_id": batch_id,
                    "sender_id": viewer.id,
                    "record_id": r.record.id,
                    "template_id": batch.template_id,
                    "to_address": r.to,
                    "subject": r.subject,
                    "body": r.body,
                }
                for r in batch.recipients
            ],
        )
        await session.commit()
    return Sending(batch_id, queued, batch.problems)


async def send_mail(
    context: Context, record_id: str, to: str | None, subject: str, body: str
) -> Sending:
    """One mail to one of the record's email addresses (the first visible one by default)."""
    viewer = await context.viewer()
    access = await context.field_access()
    subject = _one_line(clean_text(subject, "subject", max_length=MAX_SUBJECT))
    if not body.strip():
        raise BadUserInput("body must not be empty.", field="body")
    if len(body) > MAX_BODY:
        raise BadUserInput(f"body may be at most {MAX_BODY:,} characters.", field="body")
    async with context.db() as session:
        record = await readable_or_not_found(session, viewer, record_id)
        require_page_action(viewer, record.object_type, PageAction.MAIL)
        if record.life_status != LifeStatus.NORMAL:
            raise BadUserInput(
                "recordId: the record is invalid (in the recycle bin).", field="recordId"
            )
        emails = emails_of(record, access)
        if not emails:
            raise BadUserInput(
                f"recordId: {record.name} has no email address you may see.", field="recordId"
            )
        address = emails[0]
        if to is not None:
            wanted = to.strip().lower()
            matches = [e for e in emails if e.lower() == wanted]
            if not EMAIL.match(wanted) or not matches:
                raise BadUserInput(
                    f"to: {to!r} is not one of this record's email addresses.", field="to"
                )
            address = matches[0]
        await _require_mailbox(session, viewer)
        batch_id = str(uuid.uuid4())
        queued = await mail.queue(
            session,
            [
                {
                    "enterprise_id": viewer.enterprise_id,
                    "batch_id": batch_id,
                    "sender_id": viewer.id,
                    "record_id": record.id,
                    "template_id": None,
                    "to_address": address,
                    "subject": subject,
                    "body": body,
                }
            ],
        )
        await session.commit()
    return Sending(batch_id, queued, [])


# -- the outbox ----------------------------------------------------------------------------------


async def messages_page(
    context: Context,
    batch_id: str | None,
    status: MailStatus | None,
    first: int | None,
    after: str | None,
) -> tuple[list[MailMessage], bool]:
    """My mails, newest first, each with its status."""
    viewer = await context.viewer()
    size = context.page_size(first)
    async with context.db() as session:
        rows = await mail.page_messages(
            session,
            viewer.enterprise_id,
            viewer.id,
            batch_id=batch_id,
            status=None if status is None else status.value,
            before_id=decode_cursor(after),
            limit=size + 1,
        )
    return rows[:size], len(rows) > size


async def resend(context: Context, ids: list[str]) -> list[MailMessage]:
    """Queue my failed mails again (after fixing the mailbox, say)."""
    viewer = await context.viewer()
    numbers = parse_ids(ids, Kind.MAIL, "ids")
    async with context.db() as session:
        await _require_mailbox(session, viewer)
        rows = await mail.requeue_failed(session, viewer.enterprise_id, viewer.id, numbers)
        await session.commit()
    return rows
