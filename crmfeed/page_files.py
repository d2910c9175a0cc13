"""Files of the record page actions, mounted beside /graphql: a record printed to PDF, a
calendar event as .ics (both with the same bearer token as the API; 404 for what the caller may
not see), and a user's calendar feed at a secret URL for calendar programs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import Route, Router

from crmfeed.file_routes import file_endpoint
from resolvers import calendar_files, printing

if TYPE_CHECKING:
    from starlette.requests import Request

    from crmfeed.app import Services
    from resolvers.context import Context

ICS = "text/calendar; charset=utf-8"
PDF = "application/pdf"


def _file(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def page_files(services: Services) -> Router:
    """The routes, each with a per-request Context like a GraphQL operation's."""

    async def record_pdf(context: Context, request: Request) -> Response | None:
        record_id = request.path_params["record_id"]
        printed = await printing.print_record(
            context, record_id, request.query_params.get("template")
        )
        return _file(printed, PDF, f"{record_id}.pdf") if printed is not None else None

    async def event_ics(context: Context, request: Request) -> Response | None:
        event_id = request.path_params["event_id"]
        found = await calendar_files.event_ics(context, event_id)
        return _file(found, ICS, f"{event_id}.ics") if found is not None else None

    async def feed_ics(context: Context, request: Request) -> Response | None:
        found = await calendar_files.feed_ics(context, request.path_params["token"])
        return _file(found, ICS, "calendar.ics") if found is not None else None

    return Router(
        routes=[
            Route(
                "/files/records/{record_id}.pdf",
                file_endpoint(services, record_pdf),
                methods=["GET"],
            ),
            Route(
                "/files/events/{event_id}.ics", file_endpoint(services, event_ics), methods=["GET"]
            ),
            Route("/calendar/{token}.ics", file_endpoint(services, feed_ics), methods=["GET"]),
        ]
    )
