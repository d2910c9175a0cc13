"""Background imports and exports. A job is a database row; any process running a
`TransferRunner` claims it with a lease (store/transfer.py `claim_job`) and runs it in batches.
Each import batch commits its records together with the job's new position (`rows_read`) and
a renewed lease, so a job taken over after a crash or restart resumes from its last committed
batch: no row is written twice and none is lost. A process that lost its lease stops at its
next batch without writing it. When a job ends its owner gets one IMPORT_FINISHED or
EXPORT_FINISHED notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmfeed.ids import Kind, to_global
from crmfeed.live.poller import Poller
from crmfeed.registry.enums import FunctionRole, ObjectType
from crmfeed.registry.feed import SCENES, FeedScene
from crmfeed.registry.objects import spec_for
from crmfeed.sheets import (
    Cells,
    SheetWriter,
    TableColumn,
    UnreadableWorkbook,
    cells_of,
    open_sheet,
    write_table_async,
)
from resolvers.errors import CrmError
from resolvers.field_access import FieldAccessMap
from resolvers.import_targets import (
    headers_of,
    importer_for,
    label_of,
    require_import_permission,
    target_of,
)
from resolvers.importing import ImportMode
from resolvers.notify import NotificationKind
from resolvers.transfer_permissions import (
    require_feed_export_permission,
    require_transfer_permission,
)
from store import feed as feed_store
from store import field_access, notifications, org, transfer
from store.notifications import NewNotification
from store.records import RecordFilter
from store.types import utcnow

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from crmfeed.live.hub import Hub
    from crmfeed.settings import Settings
    from resolvers.importing import Importer
    from resolvers.sales_record_import import SalesRecordImporter
    from store.transfer_tables import TransferJob
    from store.viewer import Viewer

log = logging.getLogger("crmfeed.transfer")
EXPORT_BATCH = 2000
NO_OWNER = ("", "")
PRUNE_SECONDS = 600  # how often a runner deletes expired exports


def files_root(settings: Settings) -> Path:
    """FILES_DIR, else `<sqlite file>.files` next to an SQLite database, else ./crmfeed-files."""
    if settings.files_dir:
        root = Path(settings.files_dir)
    elif settings.is_sqlite and ":///" in settings.database_url:
        database = settings.database_url.split(":///", 1)[1].split("?", 1)[0]
        root = (
            Path(database + ".files")
            if database and database != ":memory:"
            else Path("crmfeed-files")
        )
    else:
        root = Path("crmfeed-files")
    return root


def upload_path(settings: Settings, job_id: int) -> Path:
    return files_root(settings) / "uploads" / f"{job_id}.xlsx"


def export_path(settings: Settings, job_id: int) -> Path:
    return files_root(settings) / "exports" / f"{job_id}.xlsx"


def error_report_path(settings: Settings, job_id: int) -> Path:
    return files_root(settings) / "imports" / f"{job_id}-errors.xlsx"


def prepare_dir(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


async def field_access_of(session: AsyncSession, viewer: Viewer) -> FieldAccessMap:
    roles = [role.value for role in (viewer.roles or FunctionRole)]
    rules = await field_access.rules_for_roles(session, viewer.enterprise_id, roles)
    return FieldAccessMap(rules, viewer.roles)


class JobFailed(Exception):
    """A job that cannot go on; its message is shown to the user."""


class LeaseLost(Exception):
    """Another process took the job over (this one was too slow to renew its lease)."""


@dataclass(slots=True)
class JobRun:
    """One run of one claimed job by this process."""

    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    owner: str
    job: TransferJob
    on_progress: Callable[[TransferJob], Awaitable[None]] | None = None

    @property
    def lease(self) -> float:
        return self.settings.transfer_lease_seconds

    async def _viewer(self, session: AsyncSession) -> Viewer:
        """The user who started the job, with the function permissions their enterprise
        stores for their roles now (not the roles' defaults)."""
        found = await notifications.viewers(session, [self.job.user_id])
        viewer = None
        if self.job.user_id in found:
            viewer = await org.load_viewer(session, self.job.enterprise_id, self.job.user_id)
        if viewer is None:
            raise JobFailed("the user who started it no longer exists or is deactivated.")
        return viewer

    async def _step(self, session: AsyncSession, **changes: Any) -> None:
        if not await transfer.progress(session, self.job.id, self.owner, self.lease, **changes):
            await session.rollback()
            raise LeaseLost
        for name, value in changes.items():
            setattr(self.job, name, value)
        await session.commit()
        if self.on_progress is not None:
            await self.on_progress(self.job)

    async def run(self) -> list[tuple[int, int]]:
        """Run the job to its end; returns the notifications to push."""
        try:
            if self.job.kind == "IMPORT":
                await self._import()
            else:
                await self._export()
        except LeaseLost:
            log.info("transfer job %s: lease lost; another process carries on", self.job.id)
            return []
        except (JobFailed, CrmError) as error:
            text = error.message if isinstance(error, CrmError) else str(error)
            return await self._finish("FAILED", text)
        return await self._finish(*self._outcome())

    def _outcome(self) -> tuple[str, str]:
        job = self.job
        if job.status == "CANCELLED" or job.cancel_requested:
            return "CANCELLED", self._summary("cancelled")
        if job.kind == "EXPORT":
            return "SUCCEEDED", f"Your export of {job.rows_total or 0:,} rows is ready."
        if job.mode == ImportMode.ALL_OR_NOTHING and job.rows_failed:
            return "FAILED", self._summary("failed: nothing was imported")
        return "SUCCEEDED", self._summary("finished")

    def _summary(self, how: str) -> str:
        job = self.job
        label = label_of(target_of(job.object_type)) if job.object_type else "record"
        return (
            f"Your {label} import {how}: {job.rows_imported:,} imported"
            + (f" ({job.rows_updated:,} updated)" if job.rows_updated else "")
            + f", {job.rows_failed:,} failed."
        )

    async def _finish(self, status: str, message: str) -> list[tuple[int, int]]:
        job = self.job
        if job.kind == "IMPORT" and job.rows_failed:
            await self._write_error_report()
        kind = (
            NotificationKind.IMPORT_FINISHED
            if job.kind == "IMPORT"
            else NotificationKind.EXPORT_FINISHED
        )
        now = utcnow()
        async with self.session_factory() as session:
            try:
                await self._step(
                    session,
                    status=status,
                    message=message,
                    finished_at=now,
                    lease_until=now,
                    expires_at=now + timedelta(seconds=self.settings.export_ttl_seconds),
                    phase=None,
                )
            except LeaseLost:
                return []
            sent = await notifications.add(
                session,
                job.enterprise_id,
                [NewNotification(job.user_id, kind.value, message, None)],
            )
            await session.commit()
        with contextlib.suppress(FileNotFoundError):
            if job.kind == "IMPORT":
                upload_path(self.settings, job.id).unlink()
        return sent

    # -- import --------------------------------------------------------------------------

    async def _import(self) -> None:
        job = self.job
        object_type = target_of(job.object_type or "")
        path = upload_path(self.settings, job.id)
        async with self.session_factory() as session:
            viewer = await self._viewer(session)
            require_import_permission(viewer, object_type)
            access = await field_access_of(session, viewer)
            await session.commit()
        try:
            reader = await asyncio.to_thread(
                partial(open_sheet, path, headers_of(object_type), stream=True)
            )
        except (UnreadableWorkbook, FileNotFoundError):
            raise JobFailed("the file is not a readable .xlsx workbook.") from None
        importer = importer_for(
            viewer,
            object_type,
            access,
            reader,
            update_existing=bool(job.params.get("updateExisting")),
        )
        importer.check_header()
        total = max(0, reader.height - reader.first_data_row)
        if total > self.settings.import_max_rows:
            raise JobFailed(
                f"the sheet has {total:,} rows; an import takes at most "
                f"{self.settings.import_max_rows:,}."
            )
        if job.rows_total != total:
            params = {**job.params, "headers": reader.headers, "keys": reader.keys}
            async with self.session_factory() as session:
                await self._step(session, rows_total=total, params=params)
        if job.mode == ImportMode.ALL_OR_NOTHING and job.phase != "WRITING":
            await self._pass(importer, reader, write=False)
            if job.rows_failed or job.cancel_requested:
                return
            importer.seen.clear()
            async with self.session_factory() as session:
                await self._step(session, phase="WRITING", rows_read=0)
        await self._pass(importer, reader, write=True)

    async def _pass(
        self, importer: Importer | SalesRecordImporter, reader: Any, *, write: bool
    ) -> None:
        """Read the rows from the last committed position, a batch at a time: validate, and
        (when `write`) insert the valid ones, committing each batch with the job's progress."""
        job = self.job
        async with self.session_factory() as session:
            await importer.load_existing(session)
            await session.commit()
        start = job.rows_read
        rows = reader.rows(skip=0)
        if start:
            for _, cells in _take(rows, start):
                if not write:
                    importer.remember(cells)
        if job.phase is None:
            async with self.session_factory() as session:
                await self._step(session, phase="WRITING" if write else "VALIDATING")
        size = self.settings.import_batch_size
        while True:
            batch = _take(rows, size)
            if not batch:
                return
            async with self.session_factory() as session:
                if await transfer.is_cancelled(session, job.id):
                    job.cancel_requested = True
                    await session.rollback()
                    return
                checked = await importer.check(session, batch)
                written = updated = 0
                if write and checked.valid:
                    before = importer.updated
                    written = len(await importer.write(session, checked.valid))
                    updated = importer.updated - before
                await transfer.add_row_errors(session, job.id, [e.stored() for e in checked.errors])
                await self._step(
                    session,
                    rows_read=job.rows_read + len(batch),
                    rows_imported=job.rows_imported + written,
                    rows_failed=job.rows_failed + len(checked.errors),
                    rows_updated=job.rows_updated + updated,
                )

    async def _write_error_report(self) -> None:
        """The failed rows as read, with their row number and reason: fix and import again."""
        job = self.job
        path = prepare_dir(error_report_path(self.settings, job.id))
        headers: list[str] = job.params.get("headers") or []
        keys: list[str | None] = job.params.get("keys") or []
        tmp = path.with_suffix(".part")
        writer = SheetWriter(tmp, "Errors", [*headers, "Row", "Column", "Error"])
        writer.keys_row([k or "" for k in keys])
        async with self.session_factory() as session:
            async for error in transfer.row_errors(session, job.id):
                cells = list(error.cells) + [""] * (len(headers) - len(error.cells))
                writer.row(
                    [*cells[: len(headers)], error.row_number, error.column_name, error.reason]
                )
        await asyncio.to_thread(writer.close)
        os.replace(tmp, path)

    # -- export --------------------------------------------------------------------------

    async def _export(self) -> None:
        job = self.job
        if job.params.get("feed"):
            async with self.session_factory() as session:
                viewer = await self._viewer(session)
                require_feed_export_permission(viewer)
                await session.commit()
            path = prepare_dir(export_path(self.settings, job.id))
            self.job.rows_total = await write_feed_export(
                self.session_factory, viewer, job.params, path, self._export_step
            )
            return
        async with self.session_factory() as session:
            viewer = await self._viewer(session)
            object_type = ObjectType(job.object_type)
            require_transfer_permission(viewer, object_type, "export")
            access = await field_access_of(session, viewer)
            await session.commit()
        path = prepare_dir(export_path(self.settings, job.id))
        count = await write_export(
            self.session_factory, viewer, access, object_type, job.params, path, self._export_step
        )
        self.job.rows_total = count

    async def _export_step(self, done: int) -> None:
        async with self.session_factory() as session:
            await self._step(session, rows_read=done)


def _take(rows: Any, count: int) -> list[tuple[int, list[Any]]]:
    batch = []
    for item in rows:
        batch.append(item)
        if len(batch) >= count:
            break
    return batch


# -- export writing (shared by direct and background exports) --------------------------------


def export_filter(params: dict[str, Any]) -> RecordFilter:
    from datetime import datetime

    since = params.get("updatedSince")
    return RecordFilter(
        statuses=tuple(params.get("statuses") or ()),
        owner_id=params.get("ownerId"),
        name_contains=params.get("nameContains"),
        updated_since=datetime.fromisoformat(since) if since else None,
    )


def export_conditions(viewer: Viewer, object_type: ObjectType, params: dict[str, Any]) -> list[Any]:
    """The list's rows as the viewer sees them: visibility, the filter, and the scene."""
    from store.models import Record

    conditions = transfer.export_conditions(viewer, object_type.value, export_filter(params))
    scene = params.get("scene")
    if scene:
        conditions.append(feed_store.scene_records(viewer, SCENES[FeedScene(scene)]).on(Record))
    return conditions


async def write_export(
    session_factory: async_sessionmaker[AsyncSession],
    viewer: Viewer,
    access: FieldAccessMap,
    object_type: ObjectType,
    params: dict[str, Any],
    path: Path,
    on_batch: Callable[[int], Awaitable[None]] | None = None,
) -> int:
    """Write the export to `path` (atomically); returns the number of records written.
    Columns: id, the fields the viewer may see (name first), status, owner, created and
    updated times; keyset batches keep memory flat whatever the size."""
    spec = spec_for(object_type)
    fields = [f for f in spec.fields if access.can_read(object_type.value, f.name)]
    columns = [
        TableColumn("Id"),
        *(TableColumn(f.label, cells_of(f)) for f in fields),
        TableColumn("Status"),
        TableColumn("Owner"),
        TableColumn("Owner email"),
        TableColumn("Created at", Cells.DATETIME),
        TableColumn("Updated at", Cells.DATETIME),
    ]
    statuses = {s.key: s.label for s in spec.statuses}
    conditions = export_conditions(viewer, object_type, params)
    keys = [f.name for f in fields]
    name_column = 1 + keys.index("name") if "name" in keys else None  # a column, not a value
    done = 0

    async def pages() -> AsyncGenerator[list[list[Any]], None]:
        nonlocal done
        before: int | None = None
        owners: dict[int, tuple[str, str]] = {}
        while True:
            async with session_factory() as session:
                page = await transfer.export_page(session, conditions, before, EXPORT_BATCH)
                missing = {row.owner_id for row in page} - owners.keys()
                owners.update(await transfer.users_named(session, viewer.enterprise_id, missing))
            if not page:
                return
            rows = []
            for record_id, name, values, status, owner_id, created_at, updated_at in page:
                owner = owners.get(owner_id, NO_OWNER)
                row = [
                    to_global(Kind.RECORD, record_id),
                    *map((values or {}).get, keys),
                    statuses.get(status, status),
                    *owner,
                    created_at,
                    updated_at,
                ]
                if name_column is not None:
                    row[name_column] = name
                rows.append(row)
            yield rows
            done += len(page)
            before = page[-1].id
            if on_batch is not None:
                await on_batch(done)
            if len(page) < EXPORT_BATCH:
                return

    await _write_atomically(path, spec.label, columns, pages())
    return done


async def _write_atomically(
    path: Path, sheet_name: str, columns: list[TableColumn], pages: AsyncGenerator[Any, None]
) -> None:
    """The table written next to `path`, then moved onto it (a failed write leaves nothing)."""
    tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.part")
    try:
        await write_table_async(tmp, sheet_name, columns, pages)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def feed_filter(viewer: Viewer, params: dict[str, Any]) -> feed_store.ItemFilter:
    """The feed an export lists: a record's (`recordId`, already checked readable) or a
    scene's, of the given item types."""
    scene = SCENES.get(FeedScene(params["scene"])) if params.get("scene") else None
    return feed_store.ItemFilter(
        types=tuple(params.get("types") or ()),
        record_id=params.get("recordId"),
        scene_records=None if scene is None else feed_store.scene_records(viewer, scene),
    )


async def write_feed_export(
    session_factory: async_sessionmaker[AsyncSession],
    viewer: Viewer,
    params: dict[str, Any],
    path: Path,
    on_batch: Callable[[int], Awaitable[None]] | None = None,
) -> int:
    """Write the feed's items the viewer sees (the feed's own visibility and paging), newest
    first, with the related records they may read; returns how many."""
    item_filter = feed_filter(viewer, params)
    columns = [
        TableColumn("Id"),
        TableColumn("Type"),
        TableColumn("Author"),
        TableColumn("Content", Cells.ANY),
        TableColumn("Related to", Cells.ANY),
        TableColumn("Created at", Cells.DATETIME),
    ]
    done = 0

    async def pages() -> AsyncGenerator[list[list[Any]], None]:
        nonlocal done
        before: int | None = None
        while True:
            async with session_factory() as session:
                page = await feed_store.page_items(
                    session, viewer, item_filter, before_id=before, limit=EXPORT_BATCH
                )
                related = await feed_store.related_records_by_item(
                    session, viewer, [item.id for item, _ in page]
                )
            yield [
                [
                    to_global(Kind.FEED_ITEM, item.id),
                    item.type,
                    author.name,
                    item.content,
                    ", ".join(record.name for record in related.get(item.id, [])),
                    item.created_at,
                ]
                for item, author in page
            ]
            done += len(page)
            if on_batch is not None and page:
                await on_batch(done)
            if len(page) < EXPORT_BATCH:
                return
            before = page[-1][0].id

    await _write_atomically(path, "Follow-up activity", columns, pages())
    return done


# -- the runner ------------------------------------------------------------------------------


class TransferRunner(Poller):
    """Polls for jobs and runs them one at a time (a process may run one job at once; several
    processes share the queue through the lease), and removes expired files now and then."""

    name = "crmfeed-transfer-jobs"

    def __init__(
        self,
        settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        hub: Hub | None,
    ) -> None:
        self.settings = settings
        self.session_factory = session_factory
        self.hub = hub
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._pruned_at: float | None = None
        super().__init__()

    @property
    def interval(self) -> float:
        return self.settings.transfer_poll_seconds

    async def poll(self) -> bool:
        """Prune first when it is due, then run one job (a job that fails stays claimed until
        its lease ends, then runs again)."""
        now = asyncio.get_running_loop().time()
        if self._pruned_at is None or now - self._pruned_at > PRUNE_SECONDS:
            self._pruned_at = now
            await self.prune()
        return await self.run_once() is not None

    async def run_once(self) -> TransferJob | None:
        """Claim one job and run it to its end; None when no job waits."""
        async with self.session_factory() as session:
            job = await transfer.claim_job(
                session, self.owner, self.settings.transfer_lease_seconds
            )
        if job is None:
            return None
        run = JobRun(self.settings, self.session_factory, self.owner, job)
        sent = await run.run()
        if self.hub is not None and sent:
            await self.hub.publish(sent)
        return job

    async def prune(self) -> int:
        """Delete the files of exports past their expiry (their jobs become EXPIRED)."""
        async with self.session_factory() as session:
            expired = await transfer.expire_exports(session, utcnow())
            await session.commit()
        for job_id in expired:
            export_path(self.settings, job_id).unlink(missing_ok=True)
        return len(expired)

    async def run_all(self) -> int:
        """Run jobs until none waits; returns how many ran."""
        ran = 0
        while await self.run_once() is not None:
            ran += 1
        return ran
