"""File downloads of import and export, with the same bearer token as /graphql:

    GET /files/templates/{OBJECT_TYPE}.xlsx        the caller's import template (SALES_RECORD too)
    GET /files/exports/{job id}.xlsx               an export (its requester, until it expires)
    GET /files/imports/{job id}/errors.xlsx        an import's error report, for its importer

A job of someone else, an expired export or a missing file is 404, the same answer as an id
that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from resolvers import transfer
from resolvers.errors import CrmError
from resolvers.import_targets import target_of
from resolvers.transfer_jobs import error_report_path, export_path
from store.types import utcnow

if TYPE_CHECKING:
    from starlette.requests import Request

    from crmfeed.app import Services

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "BAD_USER_INPUT": 400}


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status)


def _not_found() -> JSONResponse:
    return _error(404, "No such file.", "NOT_FOUND")


def transfer_routes(services: Services) -> list[Route]:
    context_of = services.context_for

    async def template(request: Request) -> Response:
        name = request.path_params["object_type"]
        try:
            target = target_of(name)
        except ValueError:
            return _not_found()
        context = context_of(request)
        try:
            data = await transfer.template(context, target)
        except CrmError as error:
            code = (error.extensions or {}).get("code", "BAD_REQUEST")
            return _error(STATUS.get(code, 400), error.message, code)
        finally:
            await context.close()
        return Response(
            data,
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}-template.xlsx"'},
        )

    async def job_file(request: Request, kind: str) -> Response:
        context = context_of(request)
        try:
            job = await transfer.get_job(context, request.path_params["job_id"])
        except CrmError as error:
            code = (error.extensions or {}).get("code", "BAD_REQUEST")
            return _error(STATUS.get(code, 400), error.message, code)
        finally:
            await context.close()
        if job is None or job.kind != kind or job.finished_at is None:
            return _not_found()
        if kind == "EXPORT":
            if job.status != "SUCCEEDED" or (job.expires_at and job.expires_at <= utcnow()):
                return _not_found()
            path, name = export_path(services.settings, job.id), f"export-{job.id}.xlsx"
        else:
            path, name = error_report_path(services.settings, job.id), f"errors-{job.id}.xlsx"
        if not path.is_file():
            return _not_found()
        return FileResponse(path, media_type=XLSX, filename=name)

    async def export_file(request: Request) -> Response:
        return await job_file(request, "EXPORT")

    async def error_report(request: Request) -> Response:
        return await job_file(request, "IMPORT")

    return [
        Route("/files/templates/{object_type}.xlsx", template, methods=["GET"]),
        Route("/files/exports/{job_id}.xlsx", export_file, methods=["GET"]),
        Route("/files/imports/{job_id}/errors.xlsx", error_report, methods=["GET"]),
    ]
