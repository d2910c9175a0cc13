"""Background imports and exports: jobs, their lease, cancelling, the error report (which
imports cleanly once fixed), progress over a websocket, and the one summary notification."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx

from crmfeed.app import create_app
from resolvers.transfer_jobs import TransferRunner
from store import transfer
from store.types import utcnow
from tests.conftest import Api
from tests.live_helpers import WsClient, running_server
from tests.processes import inbox
from tests.records_helpers import new_org
from tests.transfer_helpers import (
    IMPORT_JOB,
    QUICK_IMPORT,
    START_EXPORT,
    START_IMPORT,
    download,
    read_rows,
    upload,
    workbook,
)

if TYPE_CHECKING:
    from tests.records_helpers import Person

HEADER = ["Name", "Level", "Email"]
PROGRESS = """subscription($id: ID!) {
  importProgress(jobId: $id) { status phase rowsRead rowsImported rowsFailed rowsTotal } }"""


def rows_with_errors(count: int, bad: set[int]) -> list[list[Any]]:
    return [[f"Company {n}", "Z" if n in bad else "A", f"c{n}@example.com"] for n in range(count)]


async def start(api: Api, who: Person, data: bytes, mode: str = "VALID_ROWS_ONLY") -> str:
    body = await upload(api, START_IMPORT, {"type": "ACCOUNT", "mode": mode}, data, who.token)
    assert not body.get("errors"), body
    job = body["data"]["startImport"]
    assert job["status"] == "QUEUED"
    return job["id"]


async def run_jobs(api: Api) -> int:
    services = api.services
    return await TransferRunner(services.settings, services.session_factory, services.hub).run_all()


async def job(api: Api, who: Person, job_id: str) -> dict[str, Any] | None:
    return (await api.ok(IMPORT_JOB, {"id": job_id}, who.token))["importJob"]


async def test_a_background_import_reports_failed_rows_that_import_once_fixed(api: Api) -> None:
    org = await new_org(api)
    other = await org.user("Other", roles=["SALES"])
    job_id = await start(api, org.admin, workbook(HEADER, rows_with_errors(60, {5, 17, 42})))
    assert await job(api, other, job_id) is None  # another's job does not exist for them
    assert await run_jobs(api) >= 1
    done = await job(api, org.admin, job_id)
    assert done is not None
    assert (done["status"], done["rowsTotal"], done["rowsRead"]) == ("SUCCEEDED", 60, 60)
    assert (done["rowsImported"], done["rowsFailed"]) == (57, 3)
    assert await org.total(org.admin) == 57
    url = done["errorReportUrl"]
    assert (await download(api, url, other.token))[0] == 404
    status, report = await download(api, url, org.admin.token)
    assert status == 200
    rows = read_rows(report)
    header, keys, failed = rows[0], rows[1], rows[2:]
    assert header == [*HEADER, "Row", "Column", "Error"]
    assert keys[:3] == ["name", "level", "email"]
    assert [row[3] for row in failed] == [7, 19, 44]  # Excel row numbers (header is row 1)
    assert all(row[4] == "Level" and "is not one of" in row[5] for row in failed)
    fixed = [["B" if cell == "Z" else cell for cell in row] for row in failed]
    body = await upload(
        api,
        QUICK_IMPORT,
        {"type": "ACCOUNT", "mode": "ALL_OR_NOTHING"},
        workbook(header, fixed, keys=keys),
        org.admin.token,
    )
    assert body["data"]["importRecords"]["imported"] == 3, body
    assert await org.total(org.admin) == 60
    notes = [n for n in await inbox(api, org.admin) if n["kind"] == "IMPORT_FINISHED"]
    assert len(notes) == 1  # one summary, not one per record
    assert "57 imported, 3 failed" in notes[0]["message"]


async def test_all_or_nothing_imports_nothing_when_a_row_fails(api: Api) -> None:
    org = await new_org(api)
    job_id = await start(
        api, org.admin, workbook(HEADER, rows_with_errors(30, {29})), "ALL_OR_NOTHING"
    )
    await run_jobs(api)
    done = await job(api, org.admin, job_id)
    assert done is not None
    assert (done["status"], done["rowsImported"], done["rowsFailed"]) == ("FAILED", 0, 1)
    assert "nothing was imported" in done["message"]
    assert await org.total(org.admin) == 0
    good = await start(
        api, org.admin, workbook(HEADER, rows_with_errors(30, set())), "ALL_OR_NOTHING"
    )
    await run_jobs(api)
    done = await job(api, org.admin, good)
    assert done is not None and (done["status"], done["rowsImported"]) == ("SUCCEEDED", 30)


async def test_a_job_checks_the_permissions_the_enterprise_stores_when_it_runs(api: Api) -> None:
    org = await new_org(api)
    sam = await org.user("Sam", roles=["SALES"])
    job_id = await start(api, sam, workbook(HEADER, rows_with_errors(3, set())))
    revoke = """mutation { setRolePermission(role: "SALES", permission: "Account.import",
      granted: false) { granted } }"""
    await api.ok(revoke, token=org.admin.token)
    await run_jobs(api)
    done = await job(api, sam, job_id)
    assert done is not None and (done["status"], done["rowsImported"]) == ("FAILED", 0)
    assert "Account.import" in done["message"]


async def test_a_cancelled_job_never_runs_and_a_bad_file_fails_with_a_reason(api: Api) -> None:
    org = await new_org(api)
    job_id = await start(api, org.admin, workbook(HEADER, rows_with_errors(10, set())))
    cancel = "mutation($id: ID!) { cancelImport(id: $id) { status } }"
    assert (await api.ok(cancel, {"id": job_id}, org.admin.token))["cancelImport"] == {
        "status": "CANCELLED"
    }
    other = await org.user("Other", roles=["SALES"])
    refused = await api.error(cancel, {"id": job_id}, other.token)
    assert refused["extensions"]["code"] == "NOT_FOUND"
    bad = await start(api, org.admin, b"this is no workbook")
    await run_jobs(api)
    assert (await job(api, org.admin, job_id))["status"] == "CANCELLED"  # type: ignore[index]
    failed = await job(api, org.admin, bad)
    assert failed is not None and failed["status"] == "FAILED"
    assert "not a readable .xlsx" in failed["message"]
    assert await org.total(org.admin) == 0
    finance = await org.user("Fin", roles=["PAYMENT_FINANCE"])
    body = await upload(
        api, START_IMPORT, {"type": "ACCOUNT", "mode": "ALL_OR_NOTHING"}, b"x", finance.token
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_one_process_at_a_time_holds_a_job_and_an_expired_lease_frees_it(api: Api) -> None:
    org = await new_org(api)
    await start(api, org.admin, workbook(HEADER, rows_with_errors(3, set())))
    factory = api.services.session_factory
    now = utcnow()
    async with factory() as session:
        first = await transfer.claim_job(session, "process-a", 30, now=now)
    async with factory() as session:
        assert await transfer.claim_job(session, "process-b", 30, now=now) is None
    async with factory() as session:  # process-a died: once its lease ends, b takes over
        later = now + timedelta(seconds=31)
        second = await transfer.claim_job(session, "process-b", 30, now=later)
    assert first is not None and second is not None and second.id == first.id
    async with factory() as session:  # a's next batch finds it lost the job, and writes nothing
        assert not await transfer.progress(session, first.id, "process-a", 30, rows_read=3)
        await session.rollback()
    await run_jobs(api)  # b's lease still holds: this runner leaves the job alone
    async with factory() as session:
        assert await transfer.progress(session, first.id, "process-b", 0.0)
        await session.commit()
    await run_jobs(api)
    assert await org.total(org.admin) == 3


async def test_progress_streams_until_the_import_ends(api: Api) -> None:
    org = await new_org(api)
    async with running_server(api.services) as url:  # its lifespan runs the jobs
        job_id = await start(api, org.admin, workbook(HEADER, rows_with_errors(2500, {7})))
        seen: list[dict[str, Any]] = []
        async with WsClient.connect(url, org.admin.token) as client:
            await client.acknowledged()
            await client.send(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": PROGRESS, "variables": {"id": job_id}},
                }
            )
            while True:
                message = await client.receive(timeout=60)
                if message["type"] == "complete":
                    break
                if message["type"] == "next":
                    assert "errors" not in message["payload"], message
                    seen.append(message["payload"]["data"]["importProgress"])
    assert seen[-1]["status"] == "SUCCEEDED"
    assert (seen[-1]["rowsImported"], seen[-1]["rowsFailed"]) == (2499, 1)
    reads = [s["rowsRead"] for s in seen]
    assert reads == sorted(reads) and len(seen) >= 2


async def test_a_large_export_runs_in_the_background_and_notifies(api: Api) -> None:
    org = await new_org(api)
    for n in range(3):
        await org.record(org.admin, "ACCOUNT", f"Account {n}")
    settings = api.services.settings.model_copy(update={"export_direct_max_rows": 1})
    services = dataclasses.replace(api.services, settings=settings)
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        small = Api(client, services)
        data = await small.ok(START_EXPORT, {"type": "ACCOUNT"}, org.admin.token)
        started = data["startExport"]
        assert (started["status"], started["downloadUrl"]) == ("QUEUED", None)
        await TransferRunner(settings, services.session_factory, services.hub).run_all()
        query = "query($id: ID!) { exportJob(id: $id) { status rowsTotal downloadUrl } }"
        done = (await small.ok(query, {"id": started["id"]}, org.admin.token))["exportJob"]
    assert (done["status"], done["rowsTotal"]) == ("SUCCEEDED", 3)
    status, body = await download(api, done["downloadUrl"], org.admin.token)
    assert status == 200 and len(read_rows(body)) == 4
    notes = [n for n in await inbox(api, org.admin) if n["kind"] == "EXPORT_FINISHED"]
    assert len(notes) == 1 and "3 rows" in notes[0]["message"]
