"""Templates and the quick import, through the HTTP API with real .xlsx files built here."""

from __future__ import annotations

import os
from datetime import date
from typing import TYPE_CHECKING, Any

from tests.records_helpers import new_org
from tests.transfer_helpers import QUICK_IMPORT, download, read_rows, upload, workbook

if TYPE_CHECKING:
    from tests.conftest import Api
    from tests.records_helpers import Org, Person

SET_ACCESS = """mutation($t: ObjectType!, $f: String!, $r: FunctionRole!, $a: FieldAccess!) {
  setFieldAccess(objectType: $t, field: $f, role: $r, access: $a) }"""
OWNER = "query($id: ID!) { record(id: $id) { id name owner { id } values } }"
ACCOUNT_HEADER = ["Name", "Phone", "Email", "Industry", "Annual revenue", "Owner email"]


async def quick(
    api: Api, who: Person, data: bytes, object_type: str = "ACCOUNT", mode: str = "VALID_ROWS_ONLY"
) -> dict[str, Any]:
    return await upload(api, QUICK_IMPORT, {"type": object_type, "mode": mode}, data, who.token)


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert not body.get("errors"), body
    return body["data"]["importRecords"]


def error(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors"), body
    return body["errors"][0]


async def emails_of(org: Org, *people: Person) -> list[str]:
    query = "query { users(first: 100) { edges { node { id email } } } }"
    data = await org.api.ok(query, token=org.admin.token)
    by_id = {e["node"]["id"]: e["node"]["email"] for e in data["users"]["edges"]}
    return [by_id[p.id] for p in people]


async def test_the_template_maps_the_registry_and_leaves_out_hidden_fields(api: Api) -> None:
    org = await new_org(api)
    sales = await org.user("Sam", roles=["SALES"])
    await api.ok(
        SET_ACCESS, {"t": "ACCOUNT", "f": "phone", "r": "SALES", "a": "HIDDEN"}, org.admin.token
    )
    status, data = await download(api, "/files/templates/ACCOUNT.xlsx", sales.token)
    assert status == 200
    rows = read_rows(data)
    header, keys = rows[0], rows[1]
    assert header[0] == "Name *"  # required, marked
    assert "Industry" in header and "Owner email" in header
    assert "phone" not in keys and "Phone" not in header  # hidden for the caller's role
    assert "approvalStatus" not in keys  # set by transitions only
    assert keys[:2] == ["name", "accountNo"]
    example = read_rows(data, sheet=1)
    assert example[2][0] == "Sample name"
    # The administrator (no hidden field) sees the phone column.
    _, admin_data = await download(api, "/files/templates/ACCOUNT.xlsx", org.admin.token)
    assert "phone" in read_rows(admin_data)[1]
    assert (await download(api, "/files/templates/ACCOUNT.xlsx", None))[0] == 401
    assert (await download(api, "/files/templates/NOPE.xlsx", sales.token))[0] == 404
    finance = await org.user("Fin", roles=["PAYMENT_FINANCE"])
    assert (await download(api, "/files/templates/ACCOUNT.xlsx", finance.token))[0] == 403


async def test_the_template_imports_back_once_filled_in(api: Api) -> None:
    org = await new_org(api)
    _, data = await download(api, "/files/templates/CONTACT.xlsx", org.admin.token)
    rows = read_rows(data)
    header, keys = rows[0], rows[1]
    row = ["Grace Hopper" if k == "name" else "" for k in keys]
    row[keys.index("birthday")] = date(1906, 12, 9)
    body = await quick(api, org.admin, workbook(header, [row], keys=keys), "CONTACT")
    result = ok(body)
    assert result["imported"] == 1, result
    got = await api.ok(OWNER, {"id": result["recordIds"][0]}, org.admin.token)
    assert got["record"]["values"]["birthday"] == "1906-12-09"


async def test_each_row_error_kind_is_reported_and_the_valid_rows_imported(api: Api) -> None:
    org = await new_org(api)
    boss = await org.user("Boss", roles=["SALES"])
    sub = await org.user("Sub", superior=boss, roles=["SALES"])
    peer = await org.user("Peer", roles=["SALES"])
    await org.record(boss, "ACCOUNT", "Existing Co")
    sub_email, peer_email = await emails_of(org, sub, peer)
    rows = [
        ["Acme", "+1 555 0100", "info@acme.example", "RETAIL", 1000, None],  # 2: valid
        [None, "+1 555 0101", None, None, None, None],  # 3: name missing
        ["Bad phone", "call me", None, None, None, None],  # 4
        ["Bad email", None, "not-an-email", None, None, None],  # 5
        ["Bad option", None, None, "SPACE", None, None],  # 6
        ["Bad number", None, None, None, "lots", None],  # 7
        ["Unknown owner", None, None, None, None, "nobody@example.com"],  # 8
        ["Peer owned", None, None, None, None, peer_email],  # 9
        ["Sub owned", None, None, None, None, sub_email.upper()],  # 10: valid
        [" acme ", None, None, None, None, None],  # 11: same name as row 2
        ["existing co", None, None, None, None, None],  # 12: same as a record
        [None, None, None, None, None, None],  # 13: blank, skipped
    ]
    result = ok(await quick(api, boss, workbook(ACCOUNT_HEADER, rows)))
    kinds = {e["row"]: (e["kind"], e["column"]) for e in result["errors"]}
    assert kinds == {
        3: ("MISSING_REQUIRED", "Name"),
        4: ("BAD_FORMAT", "Phone"),
        5: ("BAD_FORMAT", "Email"),
        6: ("UNKNOWN_OPTION", "Industry"),
        7: ("BAD_FORMAT", "Annual revenue"),
        8: ("UNKNOWN_OWNER", "Owner email"),
        9: ("OWNER_NOT_ALLOWED", "Owner email"),
        11: ("DUPLICATE_IN_FILE", "Name"),
        12: ("DUPLICATE_EXISTING", "Name"),
    }
    assert all(e["reason"] for e in result["errors"])
    assert result["validRows"] == [2, 10]
    assert (result["rowsRead"], result["imported"], result["failed"]) == (11, 2, 9)
    acme, sub_owned = result["recordIds"]
    got = (await api.ok(OWNER, {"id": acme}, boss.token))["record"]
    assert got["owner"]["id"] == boss.id  # the importer by default
    assert got["values"] == {
        "name": "Acme",
        "phone": "+1 555 0100",
        "email": "info@acme.example",
        "industry": "RETAIL",
        "annualRevenue": 1000,
    }
    got = (await api.ok(OWNER, {"id": sub_owned}, sub.token))["record"]
    assert got["owner"]["id"] == sub.id  # readable by its owner: in its team, as createRecord
    assert await org.can_read(boss, sub_owned)  # and by the owner's superior
    assert not await org.can_read(peer, acme)


async def test_contacts_report_bad_dates_and_unknown_references(api: Api) -> None:
    org = await new_org(api)
    sales = await org.user("Sam", roles=["SALES"])
    hidden = await org.record(org.admin, "ACCOUNT", "Not Sam's")
    mine = await org.record(sales, "ACCOUNT", "Sam's")
    header = ["Name", "Birthday", "Account", "Mobile"]
    rows = [
        ["Ok", date(1990, 1, 2), mine, "+44 20 7946 0000"],
        ["Bad date", "31/02/1990", None, None],
        ["Unreadable account", None, hidden, None],
        ["Not an id", None, "acme", None],
        ["Same mobile", None, None, "+44 20 7946 0000"],
    ]
    result = ok(await quick(api, sales, workbook(header, rows), "CONTACT"))
    assert {e["row"]: e["kind"] for e in result["errors"]} == {
        3: "BAD_FORMAT",
        4: "UNKNOWN_REFERENCE",
        5: "BAD_FORMAT",
        6: "DUPLICATE_IN_FILE",
    }
    assert result["imported"] == 1


async def test_columns_that_name_no_field_are_listed_and_not_read(api: Api) -> None:
    org = await new_org(api)
    query = QUICK_IMPORT.replace("rowsRead", "ignoredColumns rowsRead")
    data = workbook(
        ["Name", "Colour", "Approval status", "Level"], [["Acme", "red", "APPROVED", "B"]]
    )
    body = await upload(
        api, query, {"type": "ACCOUNT", "mode": "ALL_OR_NOTHING"}, data, org.admin.token
    )
    result = ok(body)
    assert result["ignoredColumns"] == ["Colour", "Approval status"]  # set by transitions only
    assert result["imported"] == 1


async def test_all_or_nothing_writes_nothing_when_a_row_fails(api: Api) -> None:
    org = await new_org(api)
    bad = workbook(["Name", "Level"], [["One", "A"], ["Two", "Z"]])
    result = ok(await quick(api, org.admin, bad, mode="ALL_OR_NOTHING"))
    assert (result["imported"], result["failed"], result["recordIds"]) == (0, 1, [])
    assert result["validRows"] == [2]
    assert await org.total(org.admin) == 0
    good = workbook(["Name", "Level"], [["One", "A"], ["Two", "B"]])
    result = ok(await quick(api, org.admin, good, mode="ALL_OR_NOTHING"))
    assert result["imported"] == 2
    assert await org.total(org.admin) == 2


async def test_the_limits_point_to_the_large_import(api: Api) -> None:
    org = await new_org(api)
    rows = [[f"Account {n}"] for n in range(1001)]
    refused = error(await quick(api, org.admin, workbook(["Name"], rows)))
    assert refused["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert "1,000" in refused["message"] and "startImport" in refused["message"]
    big = [[f"Account {n}", os.urandom(2000).hex()] for n in range(1000)]
    data = workbook(["Name", "Address"], big)
    assert len(data) > 2 * 1024 * 1024
    refused = error(await quick(api, org.admin, data))
    assert refused["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert "startImport" in refused["message"]
    assert ok(await quick(api, org.admin, workbook(["Name"], rows[:1000])))["imported"] == 1000
    assert await org.total(org.admin) == 1000


async def test_unreadable_files_empty_sheets_and_unknown_headers_are_bad_input(api: Api) -> None:
    org = await new_org(api)
    cases = {
        b"name,phone\nAcme,123\n": "readable Excel workbook",
        workbook(["Name"], []): "no rows",
        workbook(["Colour", "Size"], [["red", "XL"]]): "No column",
    }
    for data, said in cases.items():
        refused = error(await quick(api, org.admin, data))
        assert refused["extensions"]["code"] == "BAD_USER_INPUT", refused
        assert said in refused["message"]
    assert await org.total(org.admin) == 0


async def test_import_needs_the_permission_and_writable_columns(api: Api) -> None:
    org = await new_org(api)
    finance = await org.user("Fin", roles=["PAYMENT_FINANCE"])
    refused = error(await quick(api, finance, workbook(["Name"], [["Acme"]])))
    assert refused["extensions"]["code"] == "FORBIDDEN"
    assert "Account.import" in refused["message"]
    sales = await org.user("Sam", roles=["SALES"])
    refused = error(await quick(api, sales, workbook(["Name"], [["P"]]), "PRODUCT"))
    assert refused["extensions"]["code"] == "FORBIDDEN"
    await api.ok(
        SET_ACCESS, {"t": "ACCOUNT", "f": "level", "r": "SALES", "a": "READ_ONLY"}, org.admin.token
    )
    refused = error(await quick(api, sales, workbook(["Name", "Level"], [["Acme", "A"]])))
    assert refused["extensions"]["code"] == "FORBIDDEN"
    assert "level" in refused["message"]
    assert await org.total(org.admin) == 0


UPDATE_IMPORT = """
mutation($type: ObjectType!, $file: Upload!, $mode: ImportMode!, $update: Boolean!) {
  importRecords(objectType: $type, file: $file, mode: $mode, updateExisting: $update) {
    imported updated failed recordIds errors { row column kind reason }
  }
}"""


async def test_update_by_key_updates_what_the_importer_may_edit(api: Api) -> None:
    org = await new_org(api)
    sam = await org.user("Sam", roles=["SALES"])
    peer = await org.user("Peer", roles=["SALES"])
    acme = await org.record(sam, "ACCOUNT", "Acme", level="A", phone="+1 555 0100")
    peer_co = await org.record(peer, "ACCOUNT", "Peer Co", level="A")
    await org.share("ACCOUNT", fromUserId=peer.id, toUserId=sam.id)  # read only
    hidden = await org.record(org.admin, "ACCOUNT", "Hidden Co")
    data = workbook(
        ["Name", "Level"], [["ACME ", "B"], ["Peer Co", "C"], ["Hidden Co", "A"], ["New Co", "A"]]
    )
    variables = {"type": "ACCOUNT", "mode": "VALID_ROWS_ONLY", "update": True}
    body = await upload(api, UPDATE_IMPORT, variables, data, sam.token)
    result = body["data"]["importRecords"]
    assert (result["imported"], result["updated"], result["failed"]) == (3, 1, 1), body
    assert [(e["row"], e["kind"]) for e in result["errors"]] == [(3, "NOT_EDITABLE")]
    assert acme in result["recordIds"] and hidden not in result["recordIds"]
    got = (await api.ok(OWNER, {"id": acme}, sam.token))["record"]
    assert got["values"]["level"] == "B" and got["values"]["phone"] == "+1 555 0100"
    assert got["owner"]["id"] == sam.id
    assert (await org.get(peer, peer_co))["values"]["level"] == "A"  # type: ignore[index]
    # Without updateExisting the same row is a duplicate.
    variables["update"] = False
    body = await upload(api, UPDATE_IMPORT, variables, workbook(["Name"], [["Acme"]]), sam.token)
    assert body["data"]["importRecords"]["errors"][0]["kind"] == "DUPLICATE_EXISTING"
    body = await upload(
        api, UPDATE_IMPORT, {**variables, "type": "VISIT", "update": True},
        workbook(["Name"], [["Visit"]]), org.admin.token,
    )  # fmt: skip
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
