"""Mail against a real SMTP server (aiosmtpd, with AUTH): binding tests the login and stores
the password encrypted (never answered); mails go out in the background, one outbox row per
recipient with its status; batches render a template per record, at most 50 recipients."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import select

from crmfeed import secrets_box
from crmfeed.app import Services, create_app
from crmfeed.ids import Kind, to_global
from crmfeed.live.mail_outbox import MailRunner
from crmfeed.registry.record_page import MAIL_LEASE_SECONDS
from crmfeed.settings import Settings
from store import mail
from store.record_page_tables import Mailbox
from store.types import utcnow
from tests.conftest import Api
from tests.feed_helpers import feed, new_org
from tests.mail_server import PASSWORD, USERNAME, MailServer
from tests.processes import inbox

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from tests.records_helpers import Org, Person

BIND = """
mutation($input: BindMailboxInput!) {
  bindMailbox(input: $input) { smtpHost port security username fromAddress verifiedAt }
}"""
MAILBOX = "{ mailbox { smtpHost port security username fromAddress verifiedAt } }"
MESSAGE_FIELDS = """
  id batchId to subject body status attempts lastError sentAt nextAttemptAt
  record { id } feedItem { id type content }
"""
SEND = f"""
mutation($id: ID!, $subject: String!, $body: String!, $to: String) {{
  sendMail(recordId: $id, subject: $subject, body: $body, to: $to) {{
    batchId queued {{ {MESSAGE_FIELDS} }} problems {{ recordId reason }}
  }}
}}"""
SEND_BATCH = f"""
mutation($input: SendBatchMailInput!) {{
  sendBatchMail(input: $input) {{
    batchId queued {{ {MESSAGE_FIELDS} }} problems {{ recordId record {{ id }} reason }}
  }}
}}"""
PREVIEW = """
query($input: SendBatchMailInput!) {
  previewMail(input: $input) {
    recipients { record { id name } to subject body }
    problems { recordId record { id } reason }
  }
}"""
MESSAGES = f"""
query($batchId: String, $status: MailStatus) {{
  mailMessages(batchId: $batchId, status: $status, first: 100) {{
    edges {{ node {{ {MESSAGE_FIELDS} }} }}
  }}
}}"""
SAVE_TEMPLATE = """
mutation($input: SaveMailTemplateInput!) { saveMailTemplate(input: $input) { id name } }"""
SET_FIELD_ACCESS = """
mutation($t: ObjectType!, $f: String!, $r: FunctionRole!, $a: FieldAccess!) {
  setFieldAccess(objectType: $t, field: $f, role: $r, access: $a) }"""
RESEND = f"mutation($ids: [ID!]!) {{ resendMail(ids: $ids) {{ {MESSAGE_FIELDS} }} }}"


@pytest.fixture
async def api(services: Services) -> AsyncIterator[Api]:
    """The app, allowed to reach mail servers on private addresses (the test server listens on
    127.0.0.1), with a mail sender of the same settings."""
    settings = services.settings.model_copy(update={"smtp_allow_private_hosts": True})
    local = dataclasses.replace(
        services,
        settings=settings,
        mail=MailRunner(services.session_factory, services.hub, settings),
    )
    transport = httpx.ASGITransport(app=create_app(local))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, local)


@pytest.fixture
def server() -> Iterator[MailServer]:
    started = MailServer()
    started.start()
    yield started
    started.stop()


def bind_input(server: MailServer, **changes: Any) -> dict[str, Any]:
    return {
        "smtpHost": "127.0.0.1",
        "port": server.port,
        "security": "NONE",
        "username": USERNAME,
        "password": PASSWORD,
        "fromAddress": USERNAME,
        **changes,
    }


async def bound(api: Api, server: MailServer) -> tuple[Org, Person]:
    org = await new_org(api)
    ann = await org.user("Ann", roles=["SALES"])
    await api.ok(BIND, {"input": bind_input(server)}, ann.token)
    return org, ann


async def test_binding_tries_are_limited_per_user(api: Api, server: MailServer) -> None:
    """Each bindMailbox logs in on a mail server: a user's tries are counted, and once their
    window is full the next is refused before any connection, with the wait."""
    org = await new_org(api)
    ann = await org.user("Ann")
    bob = await org.user("Bob")
    allowed = api.services.settings.mailbox_bind_max_attempts
    for _ in range(allowed):
        wrong = await api.error(BIND, {"input": bind_input(server, password="wrong")}, ann.token)
        assert wrong["extensions"]["code"] == "BAD_USER_INPUT"
    tried = len(server.logins)
    refused = await api.error(BIND, {"input": bind_input(server)}, ann.token)
    assert refused["extensions"]["code"] == "TOO_MANY_ATTEMPTS"
    assert (
        0 < refused["extensions"]["retryAfter"] <= api.services.settings.mailbox_bind_window_seconds
    )
    assert len(server.logins) == tried  # refused before the server was asked
    assert (await api.ok(MAILBOX, token=ann.token))["mailbox"] is None
    await api.ok(BIND, {"input": bind_input(server)}, bob.token)  # the others are not held up


async def messages(api: Api, who: Person, batch_id: str) -> list[dict[str, Any]]:
    data = await api.ok(MESSAGES, {"batchId": batch_id}, who.token)
    return [edge["node"] for edge in data["mailMessages"]["edges"]]


async def test_bind_tests_the_login_and_keeps_the_password_encrypted(
    api: Api, server: MailServer
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    wrong = await api.raw(BIND, {"input": bind_input(server, password="wrong")}, ann.token)
    assert wrong["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "refused the mailbox's login" in wrong["errors"][0]["message"]
    assert (await api.ok(MAILBOX, token=ann.token))["mailbox"] is None
    assert server.logins and set(server.logins) == {(USERNAME, False)}  # tried, refused
    down = await api.error(BIND, {"input": bind_input(server, port=1)}, ann.token)
    assert "could not reach the server" in down["message"]

    answers = [await api.raw(BIND, {"input": bind_input(server)}, ann.token)]
    answers.append(await api.raw(MAILBOX, token=ann.token))
    assert answers[-1]["data"]["mailbox"]["username"] == USERNAME
    for answer in answers:
        assert "errors" not in answer
        assert PASSWORD not in json.dumps(answer)
    async with api.services.session_factory() as session:
        row = await session.scalar(select(Mailbox).where(Mailbox.username == USERNAME).limit(1))
    assert row is not None
    assert PASSWORD not in row.password_encrypted
    assert secrets_box.unseal(api.services.settings, row.password_encrypted) == PASSWORD


async def test_a_mail_to_a_record_is_sent_in_the_background_and_becomes_activity(
    api: Api, server: MailServer
) -> None:
    org, ann = await bound(api, server)
    lead = await org.record(ann, "SALES_LEAD", "上海客户", email="buyer@shanghai.example")
    data = await api.ok(
        SEND, {"id": lead, "subject": "Your quote 报价", "body": "Dear buyer, ..."}, ann.token
    )
    (queued,) = data["sendMail"]["queued"]
    assert queued["status"] == "PENDING" and queued["to"] == "buyer@shanghai.example"
    assert server.received == []  # nothing is sent inside the request
    assert await api.services.mail.run_once() == 1
    (received,) = server.received
    assert received["Subject"] == "Your quote 报价"
    assert server.bodies() == {"buyer@shanghai.example": "Dear buyer, ...\n"}
    (sent,) = await messages(api, ann, data["sendMail"]["batchId"])
    assert sent["status"] == "SENT" and sent["attempts"] == 1 and sent["sentAt"]
    assert sent["feedItem"]["type"] == "SALES_RECORD"
    assert "Mail to buyer@shanghai.example: Your quote 报价" in sent["feedItem"]["content"]
    record_feed = await feed(org, ann, record=lead)
    assert [e["node"]["id"] for e in record_feed["edges"]] == [sent["feedItem"]["id"]]
    assert await api.services.mail.run_once() == 0  # sent once


async def test_sending_needs_a_mailbox_an_email_and_a_readable_record(
    api: Api, server: MailServer
) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    stranger = await org.user("Stranger")
    lead = await org.record(ann, "SALES_LEAD", "Lead", email="lead@x.example")
    no_email = await org.record(ann, "SALES_LEAD", "No email")
    variables = {"id": lead, "subject": "Hi", "body": "Hello"}
    unbound = await api.error(SEND, variables, ann.token)
    assert unbound["extensions"]["code"] == "CONFLICT" and "bindMailbox" in unbound["message"]
    await api.ok(BIND, {"input": bind_input(server)}, ann.token)
    hidden = await api.error(SEND, variables, stranger.token)
    assert hidden["extensions"]["code"] == "NOT_FOUND"
    missing = await api.error(SEND, {**variables, "id": no_email}, ann.token)
    assert missing["extensions"] == {"code": "BAD_USER_INPUT", "field": "recordId"}
    elsewhere = await api.error(SEND, {**variables, "to": "other@x.example"}, ann.token)
    assert elsewhere["extensions"] == {"code": "BAD_USER_INPUT", "field": "to"}
    product = await org.record(org.admin, "PRODUCT", "Widget")
    await api.ok(BIND, {"input": bind_input(server)}, org.admin.token)
    no_field = await api.error(SEND, {**variables, "id": product}, org.admin.token)
    assert "no email field" in no_field["message"]
    assert await api.services.mail.run_once() == 0


async def test_a_batch_renders_the_template_per_recipient_and_reports_the_others(
    api: Api, server: MailServer
) -> None:
    org, ann = await bound(api, server)
    stranger_lead = await org.record(org.admin, "SALES_LEAD", "Not Ann's", email="x@x.example")
    leads = [
        await org.record(ann, "SALES_LEAD", "Wang", company="上海贸易", email="wang@a.example"),
        await org.record(ann, "SALES_LEAD", "Smith", company="Acme", email="smith@b.example"),
        await org.record(ann, "SALES_LEAD", "Nomail", company="None"),
    ]
    contact = await org.record(ann, "CONTACT", "A contact", email="c@c.example")
    template = {
        "name": "Intro",
        "subject": "For {{ company }}",
        "body": "Dear {{ name }} of {{ company }},\nregards, {{ sender }}",
    }
    saved = (await api.ok(SAVE_TEMPLATE, {"input": template}, org.admin.token))["saveMailTemplate"]
    request = {
        "objectType": "SALES_LEAD",
        "recordIds": [*leads, stranger_lead, contact, "rec_999999999"],
        "templateId": saved["id"],
    }
    preview = (await api.ok(PREVIEW, {"input": request}, ann.token))["previewMail"]
    assert [(r["to"], r["subject"]) for r in preview["recipients"]] == [
        ("wang@a.example", "For 上海贸易"),
        ("smith@b.example", "For Acme"),
    ]
    reasons = {p["recordId"]: p["reason"] for p in preview["problems"]}
    assert reasons == {
        stranger_lead: "no such record, or you may not read it",
        contact: "it is a Contact, not a Sales Lead",
        "rec_999999999": "no such record, or you may not read it",
        leads[2]: "it has no email address",
    }
    assert server.received == []  # a preview sends nothing
    sending = (await api.ok(SEND_BATCH, {"input": request}, ann.token))["sendBatchMail"]
    assert len(sending["queued"]) == 2 and len(sending["problems"]) == 4
    assert await api.services.mail.run_once() == 2
    assert server.bodies() == {
        "wang@a.example": "Dear Wang of 上海贸易,\nregards, Ann\n",
        "smith@b.example": "Dear Smith of Acme,\nregards, Ann\n",
    }
    statuses = {m["to"]: m["status"] for m in await messages(api, ann, sending["batchId"])}
    assert statuses == {"wang@a.example": "SENT", "smith@b.example": "SENT"}


async def test_fifty_recipients_go_and_fifty_one_are_refused_with_nothing_sent(
    api: Api, server: MailServer
) -> None:
    org, ann = await bound(api, server)
    leads = [
        await org.record(ann, "SALES_LEAD", f"Lead {n}", email=f"lead{n}@x.example")
        for n in range(51)
    ]
    over = {"objectType": "SALES_LEAD", "recordIds": leads, "subject": "Hi {{ name }}", "body": "."}
    refused = await api.error(SEND_BATCH, {"input": over}, ann.token)
    assert refused["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert "nothing was sent" in refused["message"]
    by_filter = {**over, "recordIds": None, "filter": {"nameContains": "Lead"}}
    assert (await api.error(SEND_BATCH, {"input": by_filter}, ann.token))["extensions"][
        "code"
    ] == "LIMIT_EXCEEDED"
    assert (await api.error(PREVIEW, {"input": over}, ann.token))["extensions"][
        "code"
    ] == "LIMIT_EXCEEDED"
    assert await api.services.mail.run_once() == 0 and server.received == []
    fifty = {**over, "recordIds": leads[:50]}
    sending = (await api.ok(SEND_BATCH, {"input": fifty}, ann.token))["sendBatchMail"]
    assert len(sending["queued"]) == 50
    assert await api.services.mail.run_once() == 50
    assert len(server.received) == 50
    assert {str(m["Subject"]) for m in server.received} == {f"Hi Lead {n}" for n in range(50)}


async def test_a_refused_recipient_fails_alone(api: Api, server: MailServer) -> None:
    org, ann = await bound(api, server)
    good = await org.record(ann, "SALES_LEAD", "Good", email="good@x.example")
    bad = await org.record(ann, "SALES_LEAD", "Bad", email="nobody@x.example")
    server.refuse.add("nobody@x.example")
    request = {"objectType": "SALES_LEAD", "recordIds": [good, bad], "subject": "S", "body": "B"}
    sending = (await api.ok(SEND_BATCH, {"input": request}, ann.token))["sendBatchMail"]
    await api.services.mail.run_once()
    found = {m["to"]: m for m in await messages(api, ann, sending["batchId"])}
    assert found["good@x.example"]["status"] == "SENT"
    failed = found["nobody@x.example"]
    assert failed["status"] == "FAILED" and failed["feedItem"] is None
    assert "refused the recipient: 550" in failed["lastError"]
    assert failed["body"] == "B"  # the draft is kept
    assert list(server.bodies()) == ["good@x.example"]
    told = [(n["kind"], n["message"], n["record"]["id"]) for n in await inbox(api, ann)]
    assert told == [
        (
            "MAIL_FAILED",
            "Mail to nobody@x.example failed: the server refused the recipient: 550 5.1.1 No "
            "such user here",
            bad,
        )
    ]
    # Not retried on its own; resendMail queues it again once the address works.
    assert await api.services.mail.run_once(utcnow() + timedelta(days=1)) == 0
    server.refuse.clear()
    again = (await api.ok(RESEND, {"ids": [failed["id"]]}, ann.token))["resendMail"]
    assert [m["status"] for m in again] == ["PENDING"]
    assert await api.services.mail.run_once() == 1
    assert sorted(server.bodies()) == ["good@x.example", "nobody@x.example"]


async def test_a_server_that_is_down_keeps_the_draft_and_is_retried(
    api: Api, server: MailServer
) -> None:
    org, ann = await bound(api, server)
    lead = await org.record(ann, "SALES_LEAD", "Lead", email="lead@x.example")
    server.stop()
    data = await api.ok(SEND, {"id": lead, "subject": "S", "body": "Kept"}, ann.token)
    batch = data["sendMail"]["batchId"]
    assert await api.services.mail.run_once() == 1
    (waiting,) = await messages(api, ann, batch)
    assert waiting["status"] == "PENDING" and waiting["attempts"] == 1
    assert "could not reach the server" in waiting["lastError"]
    assert waiting["nextAttemptAt"] is not None
    assert await api.services.mail.run_once() == 0  # not due before its retry time
    server.start()
    assert await api.services.mail.run_once(utcnow() + timedelta(minutes=1)) == 1
    (sent,) = await messages(api, ann, batch)
    assert sent["status"] == "SENT" and sent["attempts"] == 2
    assert server.bodies() == {"lead@x.example": "Kept\n"}


async def test_a_server_down_for_good_fails_after_the_retries_with_the_draft_kept(
    api: Api, server: MailServer
) -> None:
    org, ann = await bound(api, server)
    lead = await org.record(ann, "SALES_LEAD", "Lead", email="lead@x.example")
    server.stop()
    data = await api.ok(SEND, {"id": lead, "subject": "S", "body": "Kept"}, ann.token)
    later = utcnow()
    for _ in range(6):
        later += timedelta(hours=2)
        await api.services.mail.run_once(later)
    (failed,) = await messages(api, ann, data["sendMail"]["batchId"])
    assert failed["status"] == "FAILED" and failed["attempts"] == 6
    assert failed["lastError"].startswith("gave up after 6 attempts")
    assert failed["body"] == "Kept"


async def test_two_senders_at_once_send_each_mail_once(api: Api, server: MailServer) -> None:
    org, ann = await bound(api, server)
    leads = [
        await org.record(ann, "SALES_LEAD", f"Lead {n}", email=f"lead{n}@x.example")
        for n in range(6)
    ]
    request = {"objectType": "SALES_LEAD", "recordIds": leads, "subject": "S", "body": "B"}
    await api.ok(SEND_BATCH, {"input": request}, ann.token)
    other = MailRunner(api.services.session_factory, api.services.hub, api.services.settings)
    counts = await asyncio.gather(api.services.mail.run_once(), other.run_once())
    assert sum(counts) == 6
    assert sorted(str(m["To"]) for m in server.received) == sorted(
        f"lead{n}@x.example" for n in range(6)
    )


async def test_a_sender_that_died_leaves_its_mails_to_another_after_the_lease(
    api: Api, server: MailServer
) -> None:
    org, ann = await bound(api, server)
    lead = await org.record(ann, "SALES_LEAD", "Lead", email="lead@x.example")
    data = await api.ok(SEND, {"id": lead, "subject": "S", "body": "B"}, ann.token)
    async with api.services.session_factory() as session:  # a process claims it, then dies
        claimed = await mail.claim_due(session, utcnow(), MAIL_LEASE_SECONDS, 100)
        await session.commit()
    assert [to_global(Kind.MAIL, m.id) for m in claimed] == [
        m["id"] for m in data["sendMail"]["queued"]
    ]
    assert await api.services.mail.run_once() == 0  # leased
    after_lease = utcnow() + timedelta(seconds=MAIL_LEASE_SECONDS + 1)
    assert await api.services.mail.run_once(after_lease) == 1
    assert list(server.bodies()) == ["lead@x.example"]


async def test_the_background_sender_sends_without_being_asked(
    api: Api, server: MailServer
) -> None:
    org, ann = await bound(api, server)
    lead = await org.record(ann, "SALES_LEAD", "Lead", email="lead@x.example")
    settings = api.services.settings.model_copy(update={"mail_poll_seconds": 0.05})
    runner = MailRunner(api.services.session_factory, api.services.hub, settings)
    data = await api.ok(SEND, {"id": lead, "subject": "S", "body": "B"}, ann.token)
    runner.start()
    try:
        for _ in range(200):
            (found,) = await messages(api, ann, data["sendMail"]["batchId"])
            if found["status"] == "SENT":
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    assert found["status"] == "SENT"
    assert list(server.bodies()) == ["lead@x.example"]


async def test_a_batch_by_filter_and_hidden_email_fields(api: Api, server: MailServer) -> None:
    org, ann = await bound(api, server)
    first = await org.record(ann, "SALES_LEAD", "Filtered A", email="a@x.example")
    second = await org.record(ann, "SALES_LEAD", "Filtered B", email="b@x.example")
    await org.record(ann, "SALES_LEAD", "Other", email="other@x.example")
    request = {
        "objectType": "SALES_LEAD",
        "filter": {"nameContains": "Filtered"},
        "subject": "Hello {{ name }}",
        "body": "Hi",
    }
    preview = (await api.ok(PREVIEW, {"input": request}, ann.token))["previewMail"]
    assert [r["record"]["id"] for r in preview["recipients"]] == [first, second]
    assert [r["subject"] for r in preview["recipients"]] == ["Hello Filtered A", "Hello Filtered B"]
    variables = {"t": "SALES_LEAD", "f": "email", "r": "SALES", "a": "HIDDEN"}
    await api.ok(SET_FIELD_ACCESS, variables, org.admin.token)
    hidden = (await api.ok(PREVIEW, {"input": request}, ann.token))["previewMail"]
    assert hidden["recipients"] == []
    assert {p["reason"] for p in hidden["problems"]} == {"it has no email address"}
    refused = await api.error(SEND, {"id": first, "subject": "S", "body": "B"}, ann.token)
    assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "recordId"}


async def test_mail_templates_are_saved_by_administrators_and_must_compile(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    given = {"name": "Intro", "subject": "Hi {{ name }}", "body": "Dear {{ name }}"}
    refused = await api.error(SAVE_TEMPLATE, {"input": given}, ann.token)
    assert refused["extensions"]["code"] == "FORBIDDEN"
    saved = (await api.ok(SAVE_TEMPLATE, {"input": given}, org.admin.token))["saveMailTemplate"]
    taken = await api.error(SAVE_TEMPLATE, {"input": given}, org.admin.token)
    assert taken["extensions"]["code"] == "CONFLICT"
    broken = {**given, "name": "Broken", "body": "{% if %}"}
    error = await api.error(SAVE_TEMPLATE, {"input": broken}, org.admin.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "body"}
    renamed = {**given, "id": saved["id"], "name": "Introduction"}
    changed = (await api.ok(SAVE_TEMPLATE, {"input": renamed}, org.admin.token))["saveMailTemplate"]
    assert changed == {"id": saved["id"], "name": "Introduction"}
    listed = await api.ok("{ mailTemplates { id name } }", token=ann.token)
    assert listed["mailTemplates"] == [changed]


def test_a_password_sealed_before_a_key_rotation_still_opens() -> None:
    old = Settings(secret_key="an-old-key-" + "x" * 40)
    sealed = secrets_box.seal(old, "s3cret")
    rotated = Settings(secret_key="a-new-key-" + "y" * 40, secret_key_previous=old.secret_key)
    assert secrets_box.unseal(rotated, sealed) == "s3cret"
    with pytest.raises(secrets_box.Undecryptable):
        secrets_box.unseal(Settings(secret_key="another-key-" + "z" * 40), sealed)


async def test_a_mailbox_on_a_private_address_is_refused_by_default(
    services: Services, server: MailServer
) -> None:
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        api = Api(client, services)
        org = await new_org(api)
        ann = await org.user("Ann")
        for host in ("127.0.0.1", "localhost", "10.1.2.3", "[::1]"):
            refused = await api.error(BIND, {"input": bind_input(server, smtpHost=host)}, ann.token)
            assert refused["extensions"] == {"code": "BAD_USER_INPUT", "field": "smtpHost"}
            assert "private or local address" in refused["message"], host
    assert server.logins == []  # never connected


async def test_mailing_needs_the_mail_permission_of_the_callers_roles(
    api: Api, server: MailServer
) -> None:
    org, ann = await bound(api, server)
    lead = await org.record(ann, "SALES_LEAD", "Lead", email="lead@x.example")
    revoke = """
    mutation { setRolePermission(role: "SALES", permission: "SalesLead.mail", granted: false) {
      granted } }"""
    await api.ok(revoke, None, org.admin.token)
    variables = {"id": lead, "subject": "Hi", "body": "Hello"}
    refused = await api.error(SEND, variables, ann.token)
    assert refused["extensions"]["code"] == "FORBIDDEN"
    assert "SalesLead.mail" in refused["message"]
    assert await api.services.mail.run_once() == 0
    assert server.received == []


async def test_a_mail_template_is_deleted_by_an_administrator_of_its_enterprise(
    api: Api,
) -> None:
    org = await new_org(api)
    other = await new_org(api)
    given = {"name": "Intro", "subject": "Hi {{ name }}", "body": "Dear {{ name }}"}
    saved = (await api.ok(SAVE_TEMPLATE, {"input": given}, org.admin.token))["saveMailTemplate"]
    delete = "mutation($id: ID!) { deleteMailTemplate(id: $id) }"
    elsewhere = await api.error(delete, {"id": saved["id"]}, other.admin.token)
    assert elsewhere["extensions"]["code"] == "NOT_FOUND"
    assert (await api.ok(delete, {"id": saved["id"]}, org.admin.token))["deleteMailTemplate"]
    listed = await api.ok("{ mailTemplates { id } }", token=org.admin.token)
    assert listed["mailTemplates"] == []
    again = await api.error(delete, {"id": saved["id"]}, org.admin.token)
    assert again["extensions"]["code"] == "NOT_FOUND"
