"""Import and export as the API offers them: templates, the quick import (answered at once),
background imports and exports (resolvers/transfer_jobs.py runs them), their progress, and
the files they produce."""

from __future__ import annotations

import asyncio
import io
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from crmfeed.ids import Kind, from_global
from crmfeed.registry.feed import SCENES, FeedScene
from crmfeed.registry.objects import spec_for
from crmfeed.sheets import UnreadableWorkbook, open_sheet, write_template
from resolvers import sales_record_import
from resolvers.errors import BadUserInput, LimitExceeded, not_found
from resolvers.import_targets import (
    ImportTarget,
    headers_of,
    importer_for,
    label_of,
    require_import_permission,
)
from resolvers.importing import UPDATABLE, ImportMode, RowError, importable_columns
from resolvers.transfer_jobs import (
    export_conditions,
    export_path,
    prepare_dir,
    upload_path,
    write_export,
)
from resolvers.transfer_permissions import require_transfer_permission
from store import transfer
from store.types import utcnow

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from crmfeed.registry.enums import ObjectType
    from resolvers.context import Context
    from store.records import RecordFilter
    from store.transfer_tables import TransferJob

CHUNK = 1024 * 1024
PROGRESS_POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class QuickImportResult:
    """`record_ids`: the records created, or for sales records their feed items."""

    object_type: ImportTarget
    mode: ImportMode
    rows_read: int
    imported: int
    updated: int
    valid_rows: list[int]
    errors: list[RowError]
    record_ids: list[int]
    ignored_columns: list[str]


async def template(context: Context, target: ImportTarget) -> bytes:
    """The caller's import template for the type (the fields they may write), or for sales
    records."""
    viewer = await context.viewer()
    require_import_permission(viewer, target)
    buffer = io.BytesIO()
    if target == sales_record_import.SALES_RECORD:
        columns = sales_record_import.template_columns()
        write_template(buffer, label_of(target), columns, sales_record_import.NOTES)
    else:
        columns = importable_columns(spec_for(target), await context.field_access())
        write_template(buffer, label_of(target), columns)
    return buffer.getvalue()


async def _rewind(upload: Any) -> None:
    """From the start: a mutation the database made run again reads its upload again."""
    if hasattr(upload, "seek"):
        await upload.seek(0)


async def _read_small(upload: Any, limit: int, what: str) -> bytes:
    await _rewind(upload)
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise LimitExceeded(
            f"The file is larger than the {limit // (1024 * 1024)} MB {what} takes: use the "
            "large import (startImport), which runs in the background.",
        )
    return data


def _open(source: Any, target: ImportTarget) -> Any:
    try:
        return open_sheet(source, headers_of(target))
    except UnreadableWorkbook:
        raise BadUserInput(
            "The file is not a readable Excel workbook (.xlsx): download the template and "
            "save your data in it.",
            field="file",
        ) from None


async def import_records(
    context: Context,
    object_type: ImportTarget,
    upload: Any,
    mode: ImportMode,
    update_existing: bool = False,
) -> QuickImportResult:
    """The quick import (of an object type's records, or of sales records): at most
    QUICK_IMPORT_MAX_ROWS rows and QUICK_IMPORT_MAX_BYTES, checked and written at once.
    ALL_OR_NOTHING writes nothing when any row fails."""
    viewer = await context.viewer()
    require_import_permission(viewer, object_type)
    settings = context.settings
    data = await _read_small(upload, settings.quick_import_max_bytes, "quick import")
    reader = await asyncio.to_thread(_open, io.BytesIO(data), object_type)
    importer = importer_for(
        viewer, object_type, await context.field_access(), reader, update_existing=update_existing
    )
    importer.check_header()
    limit = settings.quick_import_max_rows
    rows = [(row, cells) for row, cells in reader.rows() if any(c not in (None, "") for c in cells)]
    if len(rows) > limit:
        raise LimitExceeded(
            f"The sheet has {len(rows):,} rows; the quick import takes at most {limit:,}. Use "
            "the large import (startImport) for up to "
            f"{settings.import_max_rows:,} rows, in the background.",
        )
    if not rows:
        raise BadUserInput("The sheet has no rows to import under its header.", field="file")
    async with context.db() as session:
        await importer.load_existing(session)
        checked = await importer.check(session, rows)
        ids: list[int] = []
        if checked.valid and not (mode is ImportMode.ALL_OR_NOTHING and checked.errors):
            ids = await importer.write(session, checked.valid)
            await session.commit()
        else:
            await session.rollback()
    return QuickImportResult(
        object_type=object_type,
        mode=mode,
        rows_read=len(rows),
        imported=len(ids),
        updated=importer.updated,
        valid_rows=[row.row for row in checked.valid],
        errors=checked.errors,
        record_ids=ids,
        ignored_columns=importer.ignored,
    )


async def _store_upload(upload: Any, path: Path, limit: int) -> None:
    prepare_dir(path)
    await _rewind(upload)
    size = 0
    tmp = path.with_suffix(".part")
    try:
        with tmp.open("wb") as out:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise LimitExceeded(
                        f"The file is larger than the {limit // (1024 * 1024)} MB an import takes."
                    )
                out.write(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


async def start_import(
    context: Context,
    object_type: ImportTarget,
    upload: Any,
    mode: ImportMode,
    update_existing: bool = False,
) -> TransferJob:
    """Store the upload and queue an import job (of an object type's records, or of sales
    records); a runner picks it up."""
    viewer = await context.viewer()
    require_import_permission(viewer, object_type)
    if update_existing and object_type not in UPDATABLE:
        raise BadUserInput(
            f"{label_of(object_type)} records have no duplicate key to update by"
            + (": an import only creates them." if object_type == "SALES_RECORD" else "."),
            field="updateExisting",
        )
    name = str(getattr(upload, "filename", "") or "upload.xlsx")[:255]
    async with context.db() as session:
        job = await transfer.create_job(
            session,
            enterprise_id=viewer.enterprise_id,
            user_id=viewer.id,
            kind="IMPORT",
            object_type=str(object_type),
            mode=mode.value,
            file_name=name,
            status="STORING",
            params={"updateExisting": update_existing},
        )
        await session.commit()
        try:
            await _store_upload(
                upload, upload_path(context.settings, job.id), context.settings.upload_max_bytes
            )
        except BaseException:
            await session.delete(job)
            await session.commit()
            raise
        job.status = "QUEUED"
        await session.commit()
    return job


def export_params(record_filter: RecordFilter, scene: FeedScene | None) -> dict[str, Any]:
    return {
        "statuses": list(record_filter.statuses),
        "ownerId": record_filter.owner_id,
        "nameContains": record_filter.name_contains,
        "updatedSince": record_filter.updated_since.isoformat()
        if record_filter.updated_since
        else None,
        "scene": scene.value if scene else None,
    }


async def start_export(
    context: Context,
    object_type: ObjectType,
    record_filter: RecordFilter,
    scene: FeedScene | None,
) -> TransferJob:
    """Export the list (filter and/or CRM Information scene) as the caller sees it: answered
    at once (status SUCCEEDED, its file ready) up to EXPORT_DIRECT_MAX_ROWS rows, otherwise a
    background job."""
    viewer = await context.viewer()
    require_transfer_permission(viewer, object_type, "export")
    if scene is not None and object_type not in SCENES.get(scene, _NO_SCENE).object_types:
        raise BadUserInput(
            f"scene: {scene.value} does not list {spec_for(object_type).label} records.",
            field="scene",
        )
    params = export_params(record_filter, scene)
    settings = context.settings
    async with context.db() as session:
        count = await transfer.export_count(session, export_conditions(viewer, object_type, params))
        job = await transfer.create_job(
            session,
            enterprise_id=viewer.enterprise_id,
            user_id=viewer.id,
            kind="EXPORT",
            object_type=object_type.value,
            params=params,
            rows_total=count,
        )
        direct = count <= settings.export_direct_max_rows
        if direct:
            job.status = "RUNNING"
        await session.commit()
    if not direct:
        return job
    path = prepare_dir(export_path(settings, job.id))
    written = await write_export(
        context.session_factory, viewer, await context.field_access(), object_type, params, path
    )
    return await _finished_direct(context, job, written)


async def start_feed_export(
    context: Context,
    record_id: str | None,
    scene: FeedScene | None,
    types: list[str] | None,
) -> TransferJob:
    """Export follow-up activity: a record's feed (e.g. an account's sales records, with
    `types: [SALES_RECORD]`) or a CRM Information scene's, as the caller sees it. Answered at
    once up to EXPORT_DIRECT_MAX_ROWS items, otherwise a background job."""
    from resolvers.records import readable_or_not_found
    from resolvers.transfer_jobs import feed_filter, write_feed_export
    from resolvers.transfer_permissions import require_feed_export_permission
    from store import feed as feed_store

    viewer = await context.viewer()
    require_feed_export_permission(viewer)
    if (record_id is None) == (scene is None or scene is FeedScene.WORK):
        raise BadUserInput(
            "Give either recordId (a record's follow-up activity) or a CRM Information scene.",
            field="recordId",
        )
    params: dict[str, Any] = {"feed": True, "types": list(types or ()), "scene": None}
    async with context.db() as session:
        if record_id is not None:
            params["recordId"] = (await readable_or_not_found(session, viewer, record_id)).id
        else:
            params["scene"] = scene.value if scene else None
        count = await feed_store.count_items(session, viewer, feed_filter(viewer, params))
        direct = count <= context.settings.export_direct_max_rows
        job = await transfer.create_job(
            session,
            enterprise_id=viewer.enterprise_id,
            user_id=viewer.id,
            kind="EXPORT",
            params=params,
            rows_total=count,
            status="RUNNING" if direct else "QUEUED",
        )
        await session.commit()
    if not direct:
        return job
    path = prepare_dir(export_path(context.settings, job.id))
    written = await write_feed_export(context.session_factory, viewer, params, path)
    return await _finished_direct(context, job, written)


async def _finished_direct(context: Context, job: TransferJob, written: int) -> TransferJob:
    now = utcnow()
    async with context.db() as session:
        job.status = "SUCCEEDED"
        job.rows_total = job.rows_read = written
        job.finished_at = job.updated_at = now
        job.expires_at = now + timedelta(seconds=context.settings.export_ttl_seconds)
        job.message = f"Your export of {written:,} rows is ready."
        session.add(job)
        await session.commit()
    return job


class _NoScene:
    object_types: frozenset[Any] = frozenset()


_NO_SCENE = _NoScene()


def _job_number(job_id: str) -> int | None:
    try:
        return from_global(Kind.TRANSFER_JOB, job_id)
    except ValueError:
        return None


async def get_job(context: Context, job_id: str) -> TransferJob | None:
    """The caller's own job (another's does not exist for them)."""
    viewer = await context.viewer()
    number = _job_number(job_id)
    if number is None:
        return None
    async with context.db() as session:
        return await transfer.job_of(session, viewer.enterprise_id, viewer.id, number)


async def list_jobs(
    context: Context, kind: str | None, first: int | None, after: str | None
) -> tuple[list[TransferJob], bool]:
    viewer = await context.viewer()
    size = context.page_size(first)
    before = _job_number(after) if after else None
    async with context.db() as session:
        rows = await transfer.jobs_of(
            session, viewer.enterprise_id, viewer.id, kind, before, size + 1
        )
    return rows[:size], len(rows) > size


async def cancel_job(context: Context, job_id: str) -> TransferJob:
    """A queued job ends now; a running one stops at its next batch (the batches it committed
    stay). A finished job is left as it is."""
    viewer = await context.viewer()
    number = _job_number(job_id)
    async with context.db() as session:
        job = (
            None
            if number is None
            else await transfer.job_of(session, viewer.enterprise_id, viewer.id, number)
        )
        if job is None:
            raise not_found("job", job_id)
        if job.status in ("QUEUED", "RUNNING"):
            await transfer.request_cancel(session, job)
            await session.commit()
    return job


async def progress(context: Context, job_id: str) -> AsyncIterator[TransferJob]:
    """The job now, then each time it moves, until it ends (read from the database, so the
    process running it may be any)."""
    viewer = await context.viewer()
    number = _job_number(job_id)
    last: tuple[Any, ...] | None = None
    while True:
        async with context.session_factory() as session:
            job = (
                None
                if number is None
                else await transfer.job_of(session, viewer.enterprise_id, viewer.id, number)
            )
        if job is None:
            raise not_found("job", job_id)
        state = (job.status, job.phase, job.rows_read, job.rows_imported, job.rows_failed)
        if state != last:
            last = state
            yield job
        if job.status in transfer.TERMINAL:
            return
        await asyncio.sleep(PROGRESS_POLL_SECONDS)
