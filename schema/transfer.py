"""GraphQL shape of import and export: the quick import's answer, import and export jobs, and
the Query, Mutation and Subscription fields (mixed into the roots)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.file_uploads import Upload

from crmfeed.ids import Kind, to_global
from resolvers import importing, records, transfer
from resolvers.sales_record_import import SALES_RECORD
from schema.enums import ObjectType
from schema.feed import FeedItemType, FeedScene
from schema.permissions import SIGNED_IN
from schema.records import RecordFilter
from store.transfer_tables import TransferJob as JobRow
from store.types import utcnow

ImportMode = strawberry.enum(importing.ImportMode, name="ImportMode")
ImportRowErrorKind = strawberry.enum(importing.RowErrorKind, name="ImportRowErrorKind")


@strawberry.type(description="A row an import did not take, and why.")
class ImportRowError:
    row: int = strawberry.field(description="The row number as Excel shows it.")
    column: str | None = strawberry.field(description="The column's header, when one is at fault.")
    kind: ImportRowErrorKind
    reason: str


@strawberry.type(description="The quick import's answer: what it read, took and refused.")
class ImportResult:
    object_type: ObjectType | None = strawberry.field(
        description="The records' type; null for an import of sales records."
    )
    feed_item_type: FeedItemType | None = strawberry.field(
        description="SALES_RECORD for an import of sales records (feed items); else null."
    )
    mode: ImportMode
    rows_read: int
    imported: int = strawberry.field(description="Rows written: created, and updated.")
    updated: int = strawberry.field(description="Of those, existing records updated by key.")
    failed: int
    valid_rows: list[int] = strawberry.field(description="Row numbers of the valid rows.")
    errors: list[ImportRowError]
    record_ids: list[strawberry.ID] = strawberry.field(
        description="The records created, or the sales records' feed items (none when "
        "ALL_OR_NOTHING met an error)."
    )
    ignored_columns: list[str] = strawberry.field(
        description="Header cells that name no field you may import (their cells were not read)."
    )


def _wrap_result(result: transfer.QuickImportResult) -> ImportResult:
    sales = result.object_type == SALES_RECORD
    kind = Kind.FEED_ITEM if sales else Kind.RECORD
    return ImportResult(
        object_type=None if sales else ObjectType(result.object_type),
        feed_item_type=FeedItemType.SALES_RECORD if sales else None,
        mode=result.mode,
        rows_read=result.rows_read,
        imported=result.imported,
        updated=result.updated,
        failed=len(result.errors),
        valid_rows=result.valid_rows,
        errors=[
            ImportRowError(row=e.row, column=e.column, kind=e.kind, reason=e.reason)
            for e in result.errors
        ],
        record_ids=[strawberry.ID(to_global(kind, n)) for n in result.record_ids],
        ignored_columns=result.ignored_columns,
    )


@strawberry.interface(description="A background import or export (the caller's own).")
class TransferJob:
    row: strawberry.Private[JobRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global(Kind.TRANSFER_JOB, self.row.id))

    @strawberry.field(
        description="STORING, QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, or EXPIRED (an "
        "export whose file is gone)."
    )
    def status(self) -> str:
        return self.row.status

    @strawberry.field(description="VALIDATING or WRITING while an import runs.")
    def phase(self) -> str | None:
        return self.row.phase

    @strawberry.field(description="The records' type; null for sales records and feed exports.")
    def object_type(self) -> ObjectType | None:
        found = self.row.object_type
        return ObjectType(found) if found and found != SALES_RECORD else None

    @strawberry.field
    def rows_total(self) -> int | None:
        return self.row.rows_total

    @strawberry.field(description="Rows read so far (for an export: rows written).")
    def rows_read(self) -> int:
        return self.row.rows_read

    @strawberry.field
    def message(self) -> str | None:
        return self.row.message

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def finished_at(self) -> datetime | None:
        return self.row.finished_at


@strawberry.type
class ImportJob(TransferJob):
    @strawberry.field(description="SALES_RECORD for an import of sales records; else null.")
    def feed_item_type(self) -> FeedItemType | None:
        return FeedItemType.SALES_RECORD if self.row.object_type == SALES_RECORD else None

    @strawberry.field
    def mode(self) -> ImportMode | None:
        return importing.ImportMode(self.row.mode) if self.row.mode else None

    @strawberry.field
    def file_name(self) -> str | None:
        return self.row.file_name

    @strawberry.field
    def rows_imported(self) -> int:
        return self.row.rows_imported

    @strawberry.field
    def rows_failed(self) -> int:
        return self.row.rows_failed

    @strawberry.field(description="Of rowsImported, existing records updated by key.")
    def rows_updated(self) -> int:
        return self.row.rows_updated

    @strawberry.field(
        description="The failed rows with their reasons, once the job ended (fix them and "
        "import the file again); the caller's bearer token opens it."
    )
    def error_report_url(self) -> str | None:
        if self.row.rows_failed and self.row.finished_at is not None:
            return f"/files/imports/{self.id()}/errors.xlsx"
        return None


@strawberry.type
class ExportJob(TransferJob):
    @strawberry.field(
        description="The .xlsx, once ready and until `expiresAt`, for the caller's token only."
    )
    def download_url(self) -> str | None:
        row = self.row
        if row.status == "SUCCEEDED" and (row.expires_at is None or row.expires_at > utcnow()):
            return f"/files/exports/{self.id()}.xlsx"
        return None

    @strawberry.field
    def expires_at(self) -> datetime | None:
        return self.row.expires_at


def wrap_job(row: JobRow | None) -> ImportJob | ExportJob | None:
    if row is None:
        return None
    return ImportJob(row=row) if row.kind == "IMPORT" else ExportJob(row=row)


def _import_job(row: JobRow | None) -> ImportJob | None:
    return ImportJob(row=row) if row is not None and row.kind == "IMPORT" else None


def _export_job(row: JobRow | None) -> ExportJob | None:
    return ExportJob(row=row) if row is not None and row.kind == "EXPORT" else None


@strawberry.type
class TransferQuery:
    @strawberry.field(permission_classes=SIGNED_IN, description="One of your imports.")
    async def import_job(self, info: strawberry.Info, id: strawberry.ID) -> ImportJob | None:
        return _import_job(await transfer.get_job(info.context, id))

    @strawberry.field(
        permission_classes=SIGNED_IN, description="Your imports, newest first (`after`: a job id)."
    )
    async def import_jobs(
        self, info: strawberry.Info, first: int | None = None, after: strawberry.ID | None = None
    ) -> list[ImportJob]:
        rows, _ = await transfer.list_jobs(info.context, "IMPORT", first, after)
        return [ImportJob(row=row) for row in rows]

    @strawberry.field(permission_classes=SIGNED_IN, description="One of your exports.")
    async def export_job(self, info: strawberry.Info, id: strawberry.ID) -> ExportJob | None:
        return _export_job(await transfer.get_job(info.context, id))

    @strawberry.field(
        permission_classes=SIGNED_IN, description="Your exports, newest first (`after`: a job id)."
    )
    async def export_jobs(
        self, info: strawberry.Info, first: int | None = None, after: strawberry.ID | None = None
    ) -> list[ExportJob]:
        rows, _ = await transfer.list_jobs(info.context, "EXPORT", first, after)
        return [ExportJob(row=row) for row in rows]


@strawberry.type
class TransferMutation:
    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Quick import of an .xlsx (at most 1,000 rows and 2 MB), answered at once "
        "with each failed row's number, column and reason. Needs the object's import "
        "permission. With updateExisting, a row matching a record you may read by the "
        "object's duplicate key updates it (if you may edit it) instead of being refused.",
    )
    async def import_records(
        self,
        info: strawberry.Info,
        object_type: ObjectType,
        file: Upload,
        mode: ImportMode,
        update_existing: bool = False,
    ) -> ImportResult:
        return _wrap_result(
            await transfer.import_records(info.context, object_type, file, mode, update_existing)
        )

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Large import (up to 300,000 rows) in the background: follow it with "
        "importJob or importProgress; you are notified (IMPORT_FINISHED) when it ends.",
    )
    async def start_import(
        self,
        info: strawberry.Info,
        object_type: ObjectType,
        file: Upload,
        mode: ImportMode,
        update_existing: bool = False,
    ) -> ImportJob:
        row = await transfer.start_import(info.context, object_type, file, mode, update_existing)
        return ImportJob(row=row)

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Quick import of sales records from an .xlsx (at most 1,000 rows and 2 MB; "
        "template: /files/templates/SALES_RECORD.xlsx), answered at once with each failed "
        "row's number, column and reason. Each row is a new sales record you write, about the "
        "account and/or record it names (by id or by its duplicate key) that you may read; an "
        "import never updates one. Needs SalesRecord.import and SalesRecord.create.",
    )
    async def import_sales_records(
        self, info: strawberry.Info, file: Upload, mode: ImportMode
    ) -> ImportResult:
        return _wrap_result(await transfer.import_records(info.context, SALES_RECORD, file, mode))

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Large import of sales records (up to 300,000 rows) in the background, as "
        "importSalesRecords checks them: follow it with importJob or importProgress; you are "
        "notified (IMPORT_FINISHED) once when it ends.",
    )
    async def start_sales_record_import(
        self, info: strawberry.Info, file: Upload, mode: ImportMode
    ) -> ImportJob:
        return ImportJob(row=await transfer.start_import(info.context, SALES_RECORD, file, mode))

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Stop an import: a queued one never runs, a running one stops after its "
        "current batch (the rows already imported stay).",
    )
    async def cancel_import(self, info: strawberry.Info, id: strawberry.ID) -> ImportJob:
        job = await transfer.cancel_job(info.context, id)
        return ImportJob(row=job)

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Export the records of a list (its filter and/or a CRM Information scene) "
        "as you see them, to .xlsx. Small exports are ready at once (status SUCCEEDED), larger "
        "ones run in the background and notify you (EXPORT_FINISHED).",
    )
    async def start_export(
        self,
        info: strawberry.Info,
        object_type: ObjectType,
        filter: RecordFilter | None = None,
        scene: FeedScene | None = None,
    ) -> ExportJob:
        given = filter or RecordFilter()
        record_filter = records.make_filter(
            statuses=given.status,
            owner_id=given.owner_id,
            name_contains=given.name_contains,
            updated_since=given.updated_since,
            object_type=object_type,
        )
        row = await transfer.start_export(info.context, object_type, record_filter, scene)
        return ExportJob(row=row)

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Export follow-up activity to .xlsx: a record's feed (an account's sales "
        "records: `types: [SALES_RECORD]`) or a CRM Information scene's, as you see it. Needs "
        "SalesRecord.export.",
    )
    async def start_feed_export(
        self,
        info: strawberry.Info,
        record_id: strawberry.ID | None = None,
        scene: FeedScene | None = None,
        types: list[FeedItemType] | None = None,
    ) -> ExportJob:
        chosen = [t.value for t in types] if types else None
        row = await transfer.start_feed_export(info.context, record_id, scene, chosen)
        return ExportJob(row=row)

    @strawberry.mutation(permission_classes=SIGNED_IN, description="Stop a background export.")
    async def cancel_export(self, info: strawberry.Info, id: strawberry.ID) -> ExportJob:
        return ExportJob(row=await transfer.cancel_job(info.context, id))


@strawberry.type
class TransferSubscription:
    @strawberry.subscription(
        permission_classes=SIGNED_IN,
        description="The import as it is, then each time it moves on, until it ends.",
    )
    async def import_progress(
        self, info: strawberry.Info, job_id: strawberry.ID
    ) -> AsyncGenerator[ImportJob, None]:
        async for row in transfer.progress(info.context, job_id):
            yield ImportJob(row=row)

    @strawberry.subscription(
        permission_classes=SIGNED_IN,
        description="The export as it is, then each time it moves on, until it ends.",
    )
    async def export_progress(
        self, info: strawberry.Info, job_id: strawberry.ID
    ) -> AsyncGenerator[ExportJob, None]:
        async for row in transfer.progress(info.context, job_id):
            yield ExportJob(row=row)
