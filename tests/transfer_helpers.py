"""Building real .xlsx files in tests (xlsxwriter), uploading them through the GraphQL
multipart request spec, and reading back what the server wrote (python-calamine)."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

import xlsxwriter
from python_calamine import CalamineWorkbook

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tests.conftest import Api

QUICK_IMPORT = """
mutation($type: ObjectType!, $file: Upload!, $mode: ImportMode!) {
  importRecords(objectType: $type, file: $file, mode: $mode) {
    rowsRead imported failed validRows recordIds
    errors { row column kind reason }
  }
}"""

START_IMPORT = """
mutation($type: ObjectType!, $file: Upload!, $mode: ImportMode!) {
  startImport(objectType: $type, file: $file, mode: $mode) { id status }
}"""

IMPORT_JOB = """
query($id: ID!) {
  importJob(id: $id) {
    id status phase rowsTotal rowsRead rowsImported rowsFailed message errorReportUrl
  }
}"""

START_EXPORT = """
mutation($type: ObjectType!, $filter: RecordFilter, $scene: FeedScene) {
  startExport(objectType: $type, filter: $filter, scene: $scene) {
    id status rowsTotal downloadUrl expiresAt
  }
}"""


def workbook(
    header: Sequence[str], rows: Sequence[Sequence[Any]], keys: Sequence[str] = ()
) -> bytes:
    """An .xlsx whose first sheet holds the header, an optional (hidden) row of field keys,
    and the rows."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("Data")
    dates = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, header)
    start = 1
    if keys:
        sheet.write_row(1, 0, keys)
        sheet.set_row(1, None, None, {"hidden": True})
        start = 2
    for offset, row in enumerate(rows):
        for column, cell in enumerate(row):
            if cell is None:
                continue
            if hasattr(cell, "isoformat") and not isinstance(cell, str):
                sheet.write_datetime(start + offset, column, cell, dates)
            else:
                sheet.write(start + offset, column, cell)
    book.close()
    return buffer.getvalue()


async def upload(
    api: Api,
    query: str,
    variables: dict[str, Any],
    data: bytes,
    token: str | None,
    name: str = "data.xlsx",
) -> dict[str, Any]:
    """POST a GraphQL multipart request with `data` as the `$file` variable."""
    operations = json.dumps({"query": query, "variables": {**variables, "file": None}})
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await api.client.post(
        "/graphql",
        data={"operations": operations, "map": json.dumps({"0": ["variables.file"]})},
        files={"0": (name, data, "application/octet-stream")},
        headers=headers,
    )
    return response.json()


def read_rows(data: bytes, sheet: int = 0) -> list[list[Any]]:
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    return [list(row) for row in book.get_sheet_by_index(sheet).iter_rows()]


async def download(api: Api, url: str, token: str | None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await api.client.get(url, headers=headers)
    return response.status_code, response.content
