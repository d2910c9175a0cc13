"""Importing sales records (feed items, create only), through the HTTP API with real .xlsx
files built here: the template, the row errors, related records the importer may not read,
the permission, the background job with its one notification."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from resolvers.transfer_jobs import TransferRunner
from tests.feed_helpers import FEED_ITEM, feed_ids
from tests.processes import inbox
from tests.records_helpers import new_org
from tests.transfer_helpers import IMPORT_JOB, download, read_rows, upload, workbook

if TYPE_CHECKING:
    from tests.conftest import Api
    from tests.records_helpers import Org, Person

QUICK = """
mutation($file: Upload!, $mode: ImportMode!) {
  importSalesRecords(file: $file, mode: $mode) {
    objectType feedItemType rowsRead imported failed validRows recordIds
    errors { row column kind reason }
  }
}"""
START = """
mutation($file: Upload!, $mode: ImportMode!) {
  startSalesRecordImport(file: $file, mode: $mode) { id status objectType feedItemType }
}"""
GRANT = """mutation($role: String!, $permission: String!, $granted: Boolean!) {
  setRolePermission(role: $role, permission: $permission, granted: $granted) { granted } }"""
HEADER = ["Content", "Account", "Related type", "Related to"]


async def grant_import(org: Org, granted: bool = True) -> None:
    variables = {"role": "SALES", "permission": "SalesRecord.import", "granted": granted}
    await org.api.ok(GRANT, variables, org.admin.token)


async def quick(api: Api, who: Person, rows: list[list[Any]], mode: str = "VALID_ROWS_ONLY") -> Any:
    return await upload(api, QUICK, {"mode": mode}, workbook(HEADER, rows), who.token)


async def test_sales_records_import_as_posted_and_unreadable_records_do_not_exist(
    api: Api,
) -> None:
    org = await new_org(api)
    sam = await org.user("Sam", roles=["SALES"])
    other = await org.user("Other", roles=["SALES"])
    acme = await org.record(sam, "ACCOUNT", "Acme Ltd")
    contact = await org.record(sam, "CONTACT", "Grace", email="grace@example.com")
    hidden = await org.record(other, "ACCOUNT", "Hidden Co")  # Sam may not read it
    rows: list[list[Any]] = [
        ["Visited; they want a quote", "  acme ltd ", None, None],  # row 2: by name
        ["Called back", acme, None, None],  # row 3: by id
        ["Sent the brochure", None, "Contact", "GRACE@example.com"],  # row 4: by key
        [None, "Acme Ltd", None, None],  # row 5: no content
        ["Secret", "Hidden Co", None, None],  # row 6: not readable = not found
        ["Secret", hidden, None, None],  # row 7: the same by id
        ["Orphan", None, None, None],  # row 8: related to nothing
        ["Odd type", None, "Spaceship", "x"],  # row 9
        ["Wrong type", None, "Contact", acme],  # row 10: an account's id as a contact
    ]
    body = await quick(api, sam, rows)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # no SalesRecord.import
    assert "SalesRecord.import" in body["errors"][0]["message"]
    await grant_import(org)
    body = await quick(api, sam, rows, mode="ALL_OR_NOTHING")
    result = body["data"]["importSalesRecords"]
    assert (result["imported"], result["failed"], result["recordIds"]) == (0, 6, [])
    assert await feed_ids(org, sam, record=acme) == []  # nothing written
    body = await quick(api, sam, rows)
    assert not body.get("errors"), body
    result = body["data"]["importSalesRecords"]
    assert (result["objectType"], result["feedItemType"]) == (None, "SALES_RECORD")
    assert (result["rowsRead"], result["imported"], result["validRows"]) == (9, 3, [2, 3, 4])
    errors = {e["row"]: (e["column"], e["kind"]) for e in result["errors"]}
    assert errors == {
        5: ("Content", "MISSING_REQUIRED"),
        6: ("Account", "UNKNOWN_REFERENCE"),
        7: ("Account", "UNKNOWN_REFERENCE"),
        8: ("Related to", "MISSING_REQUIRED"),
        9: ("Related type", "UNKNOWN_OPTION"),
        10: ("Related to", "UNKNOWN_REFERENCE"),
    }
    reasons = {e["row"]: e["reason"] for e in result["errors"]}
    assert reasons[6] == "no Account with the Name 'Hidden Co' exists."
    assert reasons[7] == f"no Account with id {hidden} exists."  # as for a missing one
    missing = await quick(api, sam, [["x", "Nobody Inc", None, None]])
    assert missing["data"]["importSalesRecords"]["errors"][0]["reason"] == (
        "no Account with the Name 'Nobody Inc' exists."
    )
    no_content = await upload(
        api, QUICK, {"mode": "VALID_ROWS_ONLY"}, workbook(["Account"], [["Acme Ltd"]]), sam.token
    )
    assert no_content["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "Content column" in no_content["errors"][0]["message"]
    # Each created item is a sales record Sam wrote, in its records' feeds, as if posted.
    first, second, third = result["recordIds"]
    item = (await api.ok(FEED_ITEM, {"id": first}, sam.token))["feedItem"]
    assert (item["type"], item["author"]["id"], item["account"]["id"]) == (
        "SALES_RECORD",
        sam.id,
        acme,
    )
    assert item["followedByMe"] is True  # the author follows it, as when posting
    assert set(await feed_ids(org, sam, record=acme)) == {first, second}
    assert await feed_ids(org, sam, record=contact) == [third]
    assert await feed_ids(org, other, record=hidden) == []
    # Create only: the same rows again are new sales records, never updates.
    again = (await quick(api, sam, rows[:3]))["data"]["importSalesRecords"]
    assert again["imported"] == 3 and set(again["recordIds"]).isdisjoint(result["recordIds"])
    assert len(await feed_ids(org, sam, record=acme)) == 4


async def test_the_sales_record_template_and_the_background_import(api: Api) -> None:
    org = await new_org(api)
    sam = await org.user("Sam", roles=["SALES"])
    acme = await org.record(sam, "ACCOUNT", "Acme Ltd")
    assert (await download(api, "/files/templates/SALES_RECORD.xlsx", sam.token))[0] == 403
    await grant_import(org)
    status, data = await download(api, "/files/templates/SALES_RECORD.xlsx", sam.token)
    assert status == 200
    header, keys = read_rows(data)[:2]
    assert header == ["Content *", "Account", "Related type", "Related to"]
    rows = [["Met them", "Acme Ltd", None, None] for _ in range(25)] + [["Bad", "Nope", None, None]]
    body = await upload(
        api, START, {"mode": "VALID_ROWS_ONLY"}, workbook(header, rows, keys=keys), sam.token
    )
    assert not body.get("errors"), body
    job = body["data"]["startSalesRecordImport"]
    assert (job["status"], job["objectType"], job["feedItemType"]) == (
        "QUEUED",
        None,
        "SALES_RECORD",
    )
    services = api.services
    runner = TransferRunner(services.settings, services.session_factory, services.hub)
    assert await runner.run_all() >= 1
    done = (await api.ok(IMPORT_JOB, {"id": job["id"]}, sam.token))["importJob"]
    state = (done["status"], done["rowsImported"], done["rowsFailed"])
    assert state == ("SUCCEEDED", 25, 1), done["message"]
    assert len(await feed_ids(org, sam, record=acme)) == 25
    status, report = await download(api, done["errorReportUrl"], sam.token)
    assert status == 200 and read_rows(report)[2][-1] == "no Account with the Name 'Nope' exists."
    notes = [n for n in await inbox(api, sam) if n["kind"] == "IMPORT_FINISHED"]
    assert len(notes) == 1  # one summary for the job, no flood
    assert notes[0]["message"] == "Your Sales Record import finished: 25 imported, 1 failed."
