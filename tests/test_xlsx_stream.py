"""The streamed .xlsx reader of the large import reads what python-calamine reads: shared
and inline strings, numbers, booleans, dates, entities, gaps, and cells written the unusual
way (its general path)."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from crmfeed.sheets import UnreadableWorkbook, open_sheet
from crmfeed.xlsx_stream import XlsxSheet

if TYPE_CHECKING:
    from pathlib import Path

ROWS: list[list[Any]] = [
    ["Name", "Amount", "Active", "Day", "Note"],
    ["Ada & Co <Ltd>", 12.5, True, date(2026, 1, 31), "naïve — ünïcode"],
    [None, 3, False, datetime(2026, 1, 31, 9, 30), "  spaced  "],
    ["only the first"],
    [],
    ["after a gap", None, None, None, "quote \" and apostrophe '"],
]


def _write(path: Path, constant_memory: bool) -> None:
    book = xlsxwriter.Workbook(str(path), {"constant_memory": constant_memory})
    sheet = book.add_worksheet()
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for r, row in enumerate(ROWS):
        for c, cell in enumerate(row):
            if isinstance(cell, datetime):
                sheet.write_datetime(r, c, cell, moment)
            elif isinstance(cell, date):
                sheet.write_datetime(r, c, cell, day)
            elif cell is not None:
                sheet.write(r, c, cell)
    sheet.write_formula(6, 0, "=1+1", None, 2)
    book.close()


def _calamine(path: Path) -> list[list[Any]]:
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    return [_trim(row) for row in sheet.iter_rows()]


def _trim(row: list[Any]) -> list[Any]:
    row = [None if cell == "" else cell for cell in row]
    while row and row[-1] is None:
        row.pop()
    return row


def _normal(cell: Any) -> Any:
    if isinstance(cell, datetime) and cell.time() == datetime.min.time():
        return cell.date()
    if isinstance(cell, float) and cell.is_integer():
        return int(cell)
    return cell


@pytest.mark.parametrize("constant_memory", [True, False], ids=["inline", "shared"])
def test_the_stream_reads_what_calamine_reads(tmp_path: Path, constant_memory: bool) -> None:
    path = tmp_path / "data.xlsx"
    _write(path, constant_memory)
    streamed = {number: _trim(cells) for number, cells in XlsxSheet(path).rows()}
    expected = _calamine(path)
    assert [[_normal(c) for c in streamed.get(n + 1, [])] for n in range(len(expected))] == [
        [_normal(c) for c in row] for row in expected
    ]
    assert streamed[2][0] == "Ada & Co <Ltd>" and streamed[2][3] == date(2026, 1, 31)
    assert streamed[3][3] == datetime(2026, 1, 31, 9, 30)


def test_cells_written_another_way_take_the_general_path(tmp_path: Path) -> None:
    """Attributes in another order, a namespace prefix, rich text: not the fast pattern."""
    path = tmp_path / "data.xlsx"
    _write(path, True)
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    sheet = sheet.replace('<c r="A2" t="inlineStr">', '<c t="inlineStr" r="A2">')
    sheet = sheet.replace(
        "<is><t>Ada &amp; Co &lt;Ltd&gt;</t></is>",
        "<is><r><t>Ada &amp; </t></r><r><t>Co &lt;Ltd&gt;</t></r></is>",
    )
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    changed = tmp_path / "changed.xlsx"
    with zipfile.ZipFile(changed, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    rows = dict(XlsxSheet(changed).rows())
    assert rows[2][:3] == ["Ada & Co <Ltd>", 12.5, True]
    assert _trim(rows[4]) == ["only the first"]


def test_open_sheet_streams_a_file_and_refuses_what_is_no_workbook(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    _write(path, False)
    reader = open_sheet(path, {"name": "name"}, stream=True)
    assert reader.keys[0] == "name" and reader.height == 7
    assert [number for number, _ in reader.rows()][:2] == [2, 3]
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UnreadableWorkbook):
        open_sheet(bad, {}, stream=True)
    with pytest.raises(UnreadableWorkbook):
        open_sheet(io.BytesIO(b"not a zip"), {})
