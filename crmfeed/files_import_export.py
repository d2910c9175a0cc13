"""File downloads of import and export, with the same bearer token as /graphql:

    GET /files/templates/{OBJECT_TYPE}.xlsx        the caller's import template (SALES_RECORD too)
    GET /files/exports/{job id}.xlsx               an export (its requester, until it expires)
    GET /files/imports/{job id}/errors.xlsx        an import's error report, for its importer

A job of someone else, an expired export or a missing file is 404, the same answer as an id
that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import FileResponse, Response
from starlette.routing import Route

from crmfeed.file_routes import file_endpoint
from resolvers import transfer
from resolvers.import_targets import target_of
from resolvers.transfer_jobs import error_report_path, export_path
from store.types import utcnow

if TYPE_CHECKING:
    from starlette.requests import Request

    from crmfeed.app import Services
    from resolvers.context import Context

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def transfer_routes(services: Services) -> list[Route]:
    async def template(context: Context, request: Request) -> Response | None:
        name = request.path_params["object_type"]
        try:
            target = target_of(name)
        except ValueError:
            return None
        data = await transfer.template(context, target)
        return Response(
            data,
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}-template.xlsx"'},
        )

    async def job_file(context: Context, request: Request, kind: str) -> Response | None:
        job = await transfer.get_job(context, request.path_params["job_id"])
        if job is None or job.kind != kind or job.finished_at is None:
            return None
        if kind == "EXPORT":
            if job.status != "SUCCEEDED" or (job.expires_at and job.expires_at <= utcnow()):
                return None
            path, name = export_path(services.settings, job.id), f"export-{job.id}.xlsx"
        else:
            path, name = error_report_path(services.settings, job.id), f"errors-{job.id}.xlsx"
        return FileResponse(path, media_type=XLSX, filename=name) if path.is_file() else None

    async def export_file(context: Context, request: Request) -> Response | None:
        return await job_file(context, request, "EXPORT")

    async def error_report(context: Context, request: Request) -> Response | None:
        return await job_file(context, request, "IMPORT")

    return [
        Route(
            "/files/templates/{object_type}.xlsx",
            file_endpoint(services, template),
            methods=["GET"],
        ),
        Route(
            "/files/exports/{job_id}.xlsx", file_endpoint(services, export_file), methods=["GET"]
        ),
        Route(
            "/files/imports/{job_id}/errors.xlsx",
            file_endpoint(services, error_report),
            methods=["GET"],
        ),
    ]
