"""A background import survives its process: a real server process killed (SIGKILL) in the
middle of a job, another started, and the job ends with every valid row imported exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import func, select

from crmfeed.app import Services, create_app
from crmfeed.ids import Kind, from_global
from store.models import Record
from store.transfer_tables import TransferJob, TransferRowError
from tests.conftest import Api
from tests.processes import start_process, stop_process, wait_healthy
from tests.records_helpers import new_org
from tests.transfer_helpers import START_IMPORT, upload, workbook

if TYPE_CHECKING:
    from pathlib import Path

    from crmfeed.settings import Settings

ROWS = 30_000
BAD = set(range(500, ROWS, 3000))  # an unknown option
DUPLICATES = set(range(1700, ROWS, 3000))  # the name of the row before


def row(n: int) -> list[Any]:
    name = f"Company {n - 1}" if n in DUPLICATES else f"Company {n}"
    return [name, "Z" if n in BAD else "A"]


def worker_env(settings: Settings) -> dict[str, str]:
    env = {
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "FILES_DIR": str(settings.files_dir),
        "RUN_REMINDERS": "false",
        "TRANSFER_LEASE_SECONDS": "2",
        "TRANSFER_POLL_SECONDS": "0.2",
        "IMPORT_BATCH_SIZE": "250",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "64",
    }
    if settings.database_schema:
        env["DATABASE_SCHEMA"] = settings.database_schema
    return env


async def job_state(services: Services, job_id: int) -> TransferJob:
    async with services.session_factory() as session:
        job = await session.get(TransferJob, job_id)
        assert job is not None
        return job


async def imported(services: Services, enterprise_id: int) -> tuple[int, int]:
    """(records, distinct names) of the enterprise's accounts."""
    async with services.session_factory() as session:
        found = await session.execute(
            select(func.count(), func.count(func.distinct(Record.name))).where(
                Record.enterprise_id == enterprise_id, Record.object_type == "ACCOUNT"
            )
        )
        total, names = found.one()
        return total, names


async def wait_for(check: Any, within: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await check()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.05)


async def test_a_killed_worker_leaves_a_job_another_resumes(
    database: Settings, tmp_path: Path
) -> None:
    settings = database.model_copy(update={"run_transfer_jobs": False})
    services = Services.create(settings)
    transport = httpx.ASGITransport(app=create_app(services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            api = Api(client, services)
            org = await new_org(api)
            data = workbook(["Name", "Level"], [row(n) for n in range(ROWS)])
            body = await upload(
                api, START_IMPORT, {"type": "ACCOUNT", "mode": "VALID_ROWS_ONLY"}, data,
                org.admin.token,
            )  # fmt: skip
            assert not body.get("errors"), body
        job_id = from_global(Kind.TRANSFER_JOB, body["data"]["startImport"]["id"])
        enterprise = (await job_state(services, job_id)).enterprise_id

        first = start_process("A", worker_env(settings), tmp_path)
        try:
            await wait_healthy(first)

            async def midway() -> bool:
                return (await job_state(services, job_id)).rows_read >= 2000

            await wait_for(midway, 90, "worker A to import 2,000 rows")
            assert first.process is not None
            os.killpg(first.process.pid, signal.SIGKILL)
            await asyncio.to_thread(first.process.wait, 10)
        finally:
            await stop_process(first)
        killed = await job_state(services, job_id)
        assert killed.status == "RUNNING" and killed.rows_read < ROWS, "killed too late"
        total, _ = await imported(services, enterprise)
        assert total == killed.rows_imported  # records and position committed together

        second = start_process("B", worker_env(settings), tmp_path)
        try:
            await wait_healthy(second)

            async def finished() -> TransferJob | None:
                job = await job_state(services, job_id)
                return job if job.status in ("SUCCEEDED", "FAILED", "CANCELLED") else None

            done = await wait_for(finished, 180, "worker B to finish the job")
        finally:
            await stop_process(second)
        failed = len(BAD) + len(DUPLICATES)
        assert (done.status, done.rows_read) == ("SUCCEEDED", ROWS), first.log() + second.log()
        assert (done.rows_imported, done.rows_failed) == (ROWS - failed, failed)
        total, names = await imported(services, enterprise)
        assert total == names == ROWS - failed  # every valid row once, no duplicates
        async with services.session_factory() as session:
            errors = await session.scalar(
                select(func.count()).where(TransferRowError.job_id == job_id)
            )
        assert errors == failed
    finally:
        with contextlib.suppress(Exception):
            await services.engine.dispose()
