"""`crmfeed import`, `crmfeed export` and `crmfeed template`: the import and export of the API,
run by an operator as a named user (their permissions, visibility and field access apply).

    crmfeed template --object account --as ada@example.com -o account-template.xlsx
    crmfeed import accounts.xlsx --object account --as ada@example.com
    crmfeed import calls.xlsx --object sales-record --as ada@example.com
    crmfeed export --object account --as ada@example.com -o accounts.xlsx

An import runs as a background job would (batches, the same checks, one notification at the
end), in this process, with a progress bar; the failed rows are listed and written to an error
report.
"""

from __future__ import annotations

import shutil
import uuid
from datetime import timedelta
from pathlib import Path  # noqa: TC003 (typer reads the annotations)
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from crmfeed.registry.enums import ObjectType

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from crmfeed.settings import Settings
    from resolvers.import_targets import ImportTarget
    from store.transfer_tables import TransferJob
    from store.viewer import Viewer

SHOWN_ERRORS = 20
T = TypeVar("T")


def _object_type(name: str) -> ObjectType:
    key = name.strip().upper().replace("-", "_").replace(" ", "_")
    if key not in ObjectType.__members__:
        known = ", ".join(t.name.lower().replace("_", "-") for t in ObjectType)
        raise typer.BadParameter(f"unknown object type {name!r}; one of: {known}")
    return ObjectType[key]


def _import_target(name: str) -> ImportTarget:
    """An object type, or `sales-record` (sales records are imported, not exported here)."""
    from resolvers.sales_record_import import SALES_RECORD

    if name.strip().upper().replace("-", "_").replace(" ", "_") == SALES_RECORD:
        return SALES_RECORD
    return _object_type(name)


async def _viewer(session_factory: async_sessionmaker[AsyncSession], email: str) -> Viewer:
    from sqlalchemy import func, select

    from store import notifications, org
    from store.models import User

    async with session_factory() as session:
        user_id = await session.scalar(
            select(User.id).where(func.lower(User.email) == email.strip().lower())
        )
        found = await notifications.viewers(session, [user_id]) if user_id else {}
        viewer = None
        if user_id is not None and user_id in found:  # with their stored permissions
            viewer = await org.load_viewer(session, found[user_id].enterprise_id, user_id)
    if viewer is None:
        raise typer.BadParameter(f"no active user with the email {email}", param_hint="--as")
    return viewer


OBJECT_OPTION = typer.Option(
    "--object",
    help="The object type, e.g. account, sales-lead (import and template: also sales-record).",
)
AS_OPTION = typer.Option("--as", help="Email of the user to act as.")
OUTPUT_OPTION = typer.Option("-o", "--output", help="Where to write it.")


def template_command(
    object_name: Annotated[str, OBJECT_OPTION],
    email: Annotated[str, AS_OPTION],
    output: Annotated[Path, OUTPUT_OPTION],
) -> None:
    """Write the import template of an object type, as the user would download it."""
    from crmfeed.cli import load_settings, say
    from crmfeed.registry.objects import spec_for
    from crmfeed.sheets import write_template
    from resolvers import sales_record_import
    from resolvers.import_targets import require_import_permission
    from resolvers.importing import importable_columns
    from resolvers.transfer_jobs import field_access_of
    from store.engine import create_session_factory

    target = _import_target(object_name)
    settings = load_settings()

    async def step(engine: AsyncEngine) -> None:
        factory = create_session_factory(engine)
        viewer = await _viewer(factory, email)
        require_import_permission(viewer, target)
        async with factory() as session:
            access = await field_access_of(session, viewer)
        with output.open("wb") as out:
            if isinstance(target, ObjectType):
                spec = spec_for(target)
                write_template(out, spec.label, importable_columns(spec, access))
            else:
                columns = sales_record_import.template_columns()
                write_template(out, sales_record_import.LABEL, columns, sales_record_import.NOTES)

    _run(settings, step)
    say(f"Wrote {output}.")


def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The .xlsx file.")],
    object_name: Annotated[str, OBJECT_OPTION],
    email: Annotated[str, AS_OPTION],
    all_or_nothing: Annotated[
        bool,
        typer.Option(
            "--all-or-nothing/--valid-rows-only",
            help="Import nothing when a row fails (default: import the valid rows).",
        ),
    ] = False,
) -> None:
    """Import an .xlsx as the user, with a progress bar and a table of the failed rows."""
    from crmfeed.cli import console, load_settings, say
    from resolvers.transfer_jobs import error_report_path

    target = _import_target(object_name)
    settings = load_settings()

    async def step(engine: AsyncEngine) -> TransferJob:
        return await _import(settings, engine, file, target, email, all_or_nothing)

    job = _run(settings, step)
    say(job.message or job.status)
    if job.rows_failed:
        _error_table(settings, job)
        console.print(f"Error report: {error_report_path(settings, job.id)}")
    if job.status != "SUCCEEDED":
        raise typer.Exit(1)


def export_command(
    object_name: Annotated[str, OBJECT_OPTION],
    email: Annotated[str, AS_OPTION],
    output: Annotated[Path, OUTPUT_OPTION],
) -> None:
    """Export the records of a type the user may read, with the fields they may see."""
    from crmfeed.cli import load_settings, say

    object_type = _object_type(object_name)
    settings = load_settings()

    async def step(engine: AsyncEngine) -> int:
        return await _export(engine, object_type, email, output)

    count = _run(settings, step)
    say(f"Exported {count:,} records to {output}.")


def register(app: typer.Typer) -> None:
    """Add the commands to the `crmfeed` app."""
    app.command("template")(template_command)
    app.command("import")(import_command)
    app.command("export")(export_command)


def _run(settings: Settings, step: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    from crmfeed.cli import run_db, say
    from resolvers.errors import CrmError

    try:
        return run_db(settings, step)
    except CrmError as error:
        say(error.message, prefix="Refused: ", style="red", err=True)
        raise typer.Exit(1) from None


def _progress() -> Progress:
    from crmfeed.cli import console

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


async def _import(
    settings: Settings,
    engine: AsyncEngine,
    file: Path,
    object_type: ImportTarget,
    email: str,
    all_or_nothing: bool,
) -> TransferJob:
    from resolvers.import_targets import require_import_permission
    from resolvers.importing import ImportMode
    from resolvers.transfer_jobs import JobRun, prepare_dir, upload_path
    from store import transfer
    from store.engine import create_session_factory
    from store.types import utcnow

    factory = create_session_factory(engine)
    viewer = await _viewer(factory, email)
    require_import_permission(viewer, object_type)
    owner = f"cli-{uuid.uuid4().hex[:12]}"
    mode = ImportMode.ALL_OR_NOTHING if all_or_nothing else ImportMode.VALID_ROWS_ONLY
    async with factory() as session:
        job = await transfer.create_job(
            session,
            enterprise_id=viewer.enterprise_id,
            user_id=viewer.id,
            kind="IMPORT",
            object_type=str(object_type),
            mode=mode.value,
            file_name=file.name[:255],
            status="RUNNING",
            lease_owner=owner,
            lease_until=utcnow() + timedelta(seconds=settings.transfer_lease_seconds),
        )
        await session.commit()
    shutil.copyfile(file, prepare_dir(upload_path(settings, job.id)))
    with _progress() as progress:
        task = progress.add_task(f"Importing {file.name}", total=None)

        async def moved(current: TransferJob) -> None:
            label = "Checking" if current.phase == "VALIDATING" else "Importing"
            progress.update(
                task,
                total=current.rows_total,
                completed=current.rows_read,
                description=f"{label} {file.name} ({current.rows_failed:,} failed)",
            )

        run = JobRun(settings, factory, owner, job, on_progress=moved)
        await run.run()
    async with factory() as session:
        found = await session.get(type(job), job.id)
        assert found is not None
        return found


def _error_table(settings: Settings, job: TransferJob) -> None:
    from crmfeed.cli import console, run_db
    from store import transfer
    from store.engine import create_session_factory

    async def rows(engine: AsyncEngine) -> list[tuple[int, str, str, str]]:
        found = []
        async with create_session_factory(engine)() as session:
            async for error in transfer.row_errors(session, job.id):
                found.append((error.row_number, error.column_name or "", error.kind, error.reason))
                if len(found) >= SHOWN_ERRORS:
                    break
        return found

    table = Table(title=f"Failed rows ({job.rows_failed:,}; the first {SHOWN_ERRORS} shown)")
    for name in ("Row", "Column", "Kind", "Reason"):
        table.add_column(name)
    for row, column, kind, reason in run_db(settings, rows):
        table.add_row(str(row), column, kind, reason)
    console.print(table)


async def _export(engine: AsyncEngine, object_type: ObjectType, email: str, output: Path) -> int:
    from resolvers.transfer_jobs import export_conditions, field_access_of, write_export
    from resolvers.transfer_permissions import require_transfer_permission
    from store import transfer
    from store.engine import create_session_factory

    factory = create_session_factory(engine)
    viewer = await _viewer(factory, email)
    require_transfer_permission(viewer, object_type, "export")
    async with factory() as session:
        access = await field_access_of(session, viewer)
        total = await transfer.export_count(session, export_conditions(viewer, object_type, {}))
    with _progress() as progress:
        task = progress.add_task(f"Exporting to {output.name}", total=total)

        async def moved(done: int) -> None:
            progress.update(task, completed=done)

        return await write_export(factory, viewer, access, object_type, {}, output, moved)
