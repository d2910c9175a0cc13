"""Print: GET /files/records/{id}.pdf?template=... renders the record through a print template
(sandboxed Jinja2) to a PDF read back here; only what the caller may see is printed."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from pypdf import PdfReader

from crmfeed import pdf
from tests.feed_helpers import new_org, post

if TYPE_CHECKING:
    import httpx
    import pytest

    from tests.conftest import Api
    from tests.records_helpers import Person

SAVE = """
mutation($input: SavePrintTemplateInput!) {
  savePrintTemplate(input: $input) { id name objectType builtIn body }
}"""
TEMPLATES = """
query($t: ObjectType!) { printTemplates(objectType: $t) { id name builtIn } }"""
SET_FIELD_ACCESS = """
mutation($t: ObjectType!, $f: String!, $r: FunctionRole!, $a: FieldAccess!) {
  setFieldAccess(objectType: $t, field: $f, role: $r, access: $a) }"""


async def fetch(
    api: Api, record: str, who: Person | None, template: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {who.token}"} if who else {}
    params = {"template": template} if template else {}
    return await api.client.get(f"/files/records/{record}.pdf", headers=headers, params=params)


def text_of(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


async def test_the_default_print_shows_fields_team_and_activity(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann", roles=["SALES"])
    bob = await org.user("Bob")
    account = await org.record(
        ann, "ACCOUNT", "上海客户", phone="+86 21 5555 0101", address="上海市浦东新区世纪大道100号"
    )
    await org.add_member(ann, account, bob)
    await post(org, ann, "拜访了客户, they want a quote", related=[account])
    response = await fetch(api, account, ann)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = text_of(response.content)
    for expected in (
        "上海客户",
        "上海市浦东新区世纪大道100号",
        "+86 21 5555 0101",
        "Bob",
        "拜访了客户",
    ):
        assert expected in text, expected
    assert "Printed by Ann" in text


async def test_a_hidden_field_is_not_printed(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann", roles=["SALES"])
    account = await org.record(ann, "ACCOUNT", "Acme", phone="+1 555 0100", accountNo="ACC-42")
    variables = {"t": "ACCOUNT", "f": "accountNo", "r": "SALES", "a": "HIDDEN"}
    await api.ok(SET_FIELD_ACCESS, variables, org.admin.token)
    text = text_of((await fetch(api, account, ann)).content)
    assert "+1 555 0100" in text
    assert "ACC-42" not in text and "Account number" not in text
    # The administrator (no rule hides it from CRM_ADMIN) sees it.
    assert "ACC-42" in text_of((await fetch(api, account, org.admin)).content)


async def test_404_for_a_record_the_caller_may_not_read_and_401_without_a_token(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    stranger = await org.user("Stranger")
    account = await org.record(ann, "ACCOUNT", "Acme")
    assert (await fetch(api, account, stranger)).status_code == 404
    assert (await fetch(api, "rec_999999999", ann)).status_code == 404
    assert (await fetch(api, "nonsense", ann)).status_code == 404
    refused = await fetch(api, account, None)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_templates_saved_by_administrators_and_chosen_when_printing(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann")
    account = await org.record(ann, "ACCOUNT", "Acme <b>Corp</b>", phone="+1 555 0100")
    body = "<h1>Quote for {{ record.name }}</h1><p>Call {{ values.phone }}</p>"
    given = {"objectType": "ACCOUNT", "name": "Quote", "body": body}
    saved = (await api.ok(SAVE, {"input": given}, org.admin.token))["savePrintTemplate"]
    assert saved["id"].startswith("ptp_") and saved["builtIn"] is False
    listed = (await api.ok(TEMPLATES, {"t": "ACCOUNT"}, ann.token))["printTemplates"]
    assert [(t["id"], t["builtIn"]) for t in listed] == [("default", True), (saved["id"], False)]
    text = text_of((await fetch(api, account, ann, saved["id"])).content)
    assert "Quote for Acme <b>Corp</b>" in text  # values are escaped, not markup
    assert "Call +1 555 0100" in text
    # Only administrators save; a second template of the same name is a conflict.
    refused = await api.error(SAVE, {"input": given}, ann.token)
    assert refused["extensions"]["code"] == "FORBIDDEN"
    taken = await api.error(SAVE, {"input": given}, org.admin.token)
    assert taken["extensions"]["code"] == "CONFLICT"
    # A template of another type, or an unknown one, is a bad request.
    contact = await org.record(ann, "CONTACT", "Chen")
    wrong = await fetch(api, contact, ann, saved["id"])
    assert wrong.status_code == 400 and "Account" in wrong.json()["errors"][0]["message"]
    assert (await fetch(api, account, ann, "ptp_999999")).status_code == 400


async def test_a_template_cannot_reach_python_internals_or_files(api: Api) -> None:
    org = await new_org(api)
    bad_syntax = {"objectType": "ACCOUNT", "name": "Broken", "body": "{% for x in %}"}
    error = await api.error(SAVE, {"input": bad_syntax}, org.admin.token)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "body"}
    assert "line 1" in error["message"]
    account = await org.record(org.admin, "ACCOUNT", "Acme")
    for name, body in (
        ("Escape", "{{ record.__class__.__mro__[1].__subclasses__() }}"),
        ("Globals", "{{ cycler.__init__.__globals__.os.popen('id').read() }}"),
        ("Image", '<img src="/etc/passwd">'),
    ):
        given = {"objectType": "ACCOUNT", "name": name, "body": body}
        saved = (await api.ok(SAVE, {"input": given}, org.admin.token))["savePrintTemplate"]
        response = await fetch(api, account, org.admin, saved["id"])
        assert response.status_code == 400, name
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_html_the_layout_cannot_handle_is_the_templates_fault(api: Api) -> None:
    """fpdf2 fails on some markup in several ways (NotImplementedError for an unknown list
    type, an assertion for a nested table, a division by zero for colspan="0"): each is a
    template error, not an internal one."""
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT", "Acme")
    for name, body in (
        ("List", '<ol type="Z"><li>a</li></ol>'),
        ("Nested", "<table><tr><td><table><tr><td>x</td></tr></table></td></tr></table>"),
        ("Colspan", '<table><tr><td colspan="0">a</td></tr></table>'),
    ):
        given = {"objectType": "ACCOUNT", "name": name, "body": body}
        saved = (await api.ok(SAVE, {"input": given}, org.admin.token))["savePrintTemplate"]
        response = await fetch(api, account, org.admin, saved["id"])
        assert response.status_code == 400, name
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", name
        assert "cannot be laid out" in error["message"], name


async def test_a_print_over_the_queue_is_refused_for_now(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = await new_org(api)
    account = await org.record(org.admin, "ACCOUNT", "Acme")
    monkeypatch.setattr(pdf, "PDF_QUEUE", 0)  # as if the queue were full
    busy = await fetch(api, account, org.admin)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert busy.json()["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
    monkeypatch.undo()
    assert (await fetch(api, account, org.admin)).status_code == 200


SET_PERMISSION = """
mutation($role: String!, $permission: String!, $granted: Boolean!) {
  setRolePermission(role: $role, permission: $permission, granted: $granted) { granted }
}"""


async def test_printing_needs_the_print_permission_of_the_callers_roles(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann", roles=["SALES"])
    account = await org.record(ann, "ACCOUNT", "Acme")
    assert (await fetch(api, account, ann)).status_code == 200
    revoke = {"role": "SALES", "permission": "Account.print", "granted": False}
    await api.ok(SET_PERMISSION, revoke, org.admin.token)
    refused = await fetch(api, account, ann)
    assert refused.status_code == 403
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "Account.print" in error["message"]
    assert (await fetch(api, account, org.admin)).status_code == 200


async def test_a_print_template_is_deleted_by_an_administrator_of_its_enterprise(
    api: Api,
) -> None:
    org = await new_org(api)
    other = await new_org(api)
    given = {"objectType": "ACCOUNT", "name": "Quote", "body": "<p>{{ record.name }}</p>"}
    saved = (await api.ok(SAVE, {"input": given}, org.admin.token))["savePrintTemplate"]
    delete = "mutation($id: ID!) { deletePrintTemplate(id: $id) }"
    elsewhere = await api.error(delete, {"id": saved["id"]}, other.admin.token)
    assert elsewhere["extensions"]["code"] == "NOT_FOUND"
    assert (await api.ok(delete, {"id": saved["id"]}, org.admin.token))["deletePrintTemplate"]
    listed = (await api.ok(TEMPLATES, {"t": "ACCOUNT"}, org.admin.token))["printTemplates"]
    assert [t["id"] for t in listed] == ["default"]
    again = await api.error(delete, {"id": saved["id"]}, org.admin.token)
    assert again["extensions"]["code"] == "NOT_FOUND"


async def test_lookup_and_user_values_print_as_names(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann", roles=["SALES"])
    account = await org.record(ann, "ACCOUNT", "Acme Holdings")
    contact = await org.record(ann, "CONTACT", "Chen", accountId=account)
    text = text_of((await fetch(api, contact, ann)).content)
    assert "Acme Holdings" in text
    assert account not in text  # the name, not the id
    assert "Owner: Ann" in text


async def test_options_print_as_labels_and_money_with_two_decimals(api: Api) -> None:
    org = await new_org(api)
    ann = await org.user("Ann", roles=["SALES"])
    account = await org.record(
        ann, "ACCOUNT", "Acme Health", industry="HEALTHCARE", level="A", annualRevenue=1234567.5
    )
    text = text_of((await fetch(api, account, ann)).content)
    assert "Healthcare" in text
    assert "HEALTHCARE" not in text
    assert "1,234,567.50" in text
