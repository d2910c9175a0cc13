"""Excel files: import templates generated from the object registry, streamed reading of an
uploaded workbook (python-calamine), and row-by-row writing of exports (rust_xlsxwriter through
rustpy-xlsxwriter, constant memory: about five times less CPU than xlsxwriter) and of error
reports and templates (xlsxwriter: hidden rows, notes, validation lists). No database and no
permission decisions here: callers pass the columns the person may see or write."""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, BinaryIO

import xlsxwriter
from python_calamine import CalamineError, CalamineWorkbook
from rustpy_xlsxwriter import Format, write_worksheet

from crmfeed.registry.enums import FieldType
from crmfeed.xlsx_stream import XlsxError, XlsxSheet

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping, Sequence
    from pathlib import Path

    from crmfeed.registry.objects import FieldSpec

F = FieldType
OWNER_EMAIL = "ownerEmail"
OWNER_EMAIL_LABEL = "Owner email"
REQUIRED_MARK = " *"
EXCEL_EPOCH = datetime(1899, 12, 30)
LAST_ROW = 1_048_575
MAX_CELL_TEXT = 32_767  # Excel's limit; a longer text is cut (rust_xlsxwriter refuses it)
EXCEL_FIRST_YEAR = 1900  # an earlier date has no serial number: written as text
SAMPLES: dict[FieldType, Any] = {
    F.TEXT: "Sample text",
    F.LONG_TEXT: "A longer description",
    F.NUMBER: 42,
    F.CURRENCY: 1000.5,
    F.BOOLEAN: True,
    F.DATE: date(2026, 1, 31),
    F.DATETIME: datetime(2026, 1, 31, 9, 30),
    F.EMAIL: "name@example.com",
    F.PHONE: "+1 555 0100",
    F.URL: "https://example.com",
    F.LOOKUP: "",
    F.USER: "",
}
HINTS: dict[FieldType, str] = {
    F.DATE: "a date (YYYY-MM-DD)",
    F.DATETIME: "a date and time (UTC unless an offset is written, e.g. 2026-01-31T09:00+02:00)",
    F.NUMBER: "a number",
    F.CURRENCY: "an amount",
    F.BOOLEAN: "TRUE or FALSE",
    F.EMAIL: "an email address",
    F.PHONE: "a phone number",
    F.URL: "an http(s) URL",
    F.LOOKUP: "the id of the related record",
    F.USER: "the id of a user",
}


class UnreadableWorkbook(ValueError):
    """The file is not an .xlsx (or .xls/.ods) workbook calamine can read."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a template or import: a registry field, or the owner's email."""

    key: str
    label: str
    field: FieldSpec | None = None

    @property
    def required(self) -> bool:
        return self.field is not None and self.field.required

    @property
    def header(self) -> str:
        return self.label + (REQUIRED_MARK if self.required else "")


def import_columns(fields: Iterable[FieldSpec]) -> list[Column]:
    """The columns of a template: the given fields, then the owner's email."""
    columns = [Column(f.name, f.label, f) for f in fields]
    return [*columns, Column(OWNER_EMAIL, OWNER_EMAIL_LABEL)]


def _formats(workbook: Any) -> dict[str, Any]:
    return {
        "header": workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1}),
        "required": workbook.add_format(
            {"bold": True, "bg_color": "#FCE4D6", "border": 1, "font_color": "#9C0006"}
        ),
        "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
        "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
        "text": workbook.add_format({"num_format": "@"}),
    }


def _write_header(sheet: Any, columns: Sequence[Column], formats: dict[str, Any]) -> None:
    """Row 1: labels (required ones marked); row 2, hidden: the field keys, so a relabelled
    header still maps."""
    for index, column in enumerate(columns):
        style = formats["required"] if column.required else formats["header"]
        sheet.write_string(0, index, column.header, style)
        sheet.write_string(1, index, column.key)
        sheet.set_column(
            index, index, max(14, len(column.header) + 4), _cell_format(column, formats)
        )
    sheet.set_row(1, None, None, {"hidden": True})
    sheet.freeze_panes(2, 0)


def _cell_format(column: Column, formats: dict[str, Any]) -> Any:
    kind = column.field.type if column.field else None
    if kind is F.DATE:
        return formats["date"]
    if kind is F.DATETIME:
        return formats["datetime"]
    if kind is F.PHONE:
        return formats["text"]
    return None


def write_template(
    target: BinaryIO | str,
    title: str,
    columns: Sequence[Column],
    notes: Mapping[str, str] | None = None,
) -> None:
    """An import template (`title` names its sheet): the header, a note and option list per
    column (`notes` adds to a column's note), and one sample row on a second sheet (the import
    reads the first sheet only)."""
    workbook = xlsxwriter.Workbook(target, {"in_memory": True})
    formats = _formats(workbook)
    sheet = workbook.add_worksheet(title[:31])
    _write_header(sheet, columns, formats)
    for index, column in enumerate(columns):
        field = column.field
        note = f"Field key: {column.key}."
        if column.required:
            note += " Required."
        if field is not None and field.type in (F.SELECT, F.MULTI_SELECT):
            note += " One of: " + ", ".join(field.options) + "."
            if field.type is F.MULTI_SELECT:
                note += " Separate several with commas."
            else:
                sheet.data_validation(
                    2,
                    index,
                    LAST_ROW,
                    index,
                    {
                        "validate": "list",
                        "source": list(field.options),
                        "error_title": column.label,
                        "error_message": "Pick one of the listed options.",
                    },
                )
        elif field is not None and field.type in HINTS:
            note += f" Write {HINTS[field.type]}."
        elif column.key == OWNER_EMAIL:
            note += " The owner's email; empty: you own the record."
        if notes and column.key in notes:
            note += " " + notes[column.key]
        sheet.write_comment(0, index, note)
    example = workbook.add_worksheet("Example")
    _write_header(example, columns, formats)
    for index, column in enumerate(columns):
        example.write(2, index, sample_value(column), _cell_format(column, formats))
    workbook.close()


def sample_value(column: Column) -> Any:
    field = column.field
    if field is None:
        return "owner@example.com"
    if field.name == "name":
        return "Sample name"
    if field.type in (F.SELECT, F.MULTI_SELECT):
        return field.options[0]
    return SAMPLES.get(field.type, "")


# -- reading -------------------------------------------------------------------------------


@dataclass(slots=True)
class SheetReader:
    """The first sheet of a workbook: `headers` (row 1 as written), the field key each column
    maps to (or None), and `rows()` yielding (row number as Excel shows it, cells). `height`
    counts the rows from the header on (the sheet's declared range for a streamed file)."""

    headers: list[str]
    keys: list[str | None]
    first_data_row: int
    height: int
    _rows: Callable[[], Iterator[tuple[int, list[Any]]]]

    def rows(self, skip: int = 0) -> Iterator[tuple[int, list[Any]]]:
        """Data rows after the header, the first `skip` of them left out."""
        for index, row in enumerate(self._rows()):
            if index < self.first_data_row + skip:
                continue
            yield row


def _calamine_rows(source: Path | str | BinaryIO) -> tuple[int, Callable[[], Iterator[Any]]]:
    """python-calamine: fast, but the whole sheet in memory (small files, .xls and .ods)."""
    if isinstance(source, str) or hasattr(source, "__fspath__"):
        workbook = CalamineWorkbook.from_path(str(source))
    else:
        workbook = CalamineWorkbook.from_filelike(source)
    sheet = workbook.get_sheet_by_index(0)
    start = sheet.start[0] if sheet.start else 0

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for index, cells in enumerate(sheet.iter_rows()):
            yield start + index + 1, cells

    return sheet.height, rows


def _streamed_rows(path: Path | str) -> tuple[int, Callable[[], Iterator[Any]]] | None:
    """crmfeed/xlsx_stream.py: row by row in flat memory (an .xlsx on disk); None for a file
    that is no .xlsx (calamine then reads .xls and .ods)."""
    try:
        sheet = XlsxSheet(path)
    except XlsxError:
        return None
    if sheet.dimension is not None:
        first, last = sheet.dimension
        height = last - first + 1
    else:  # no declared range: count the rows once
        height = sum(1 for _ in sheet.rows())
    return height, sheet.rows


def open_sheet(
    source: Path | str | BinaryIO, known: dict[str, str], *, stream: bool = False
) -> SheetReader:
    """Open the first sheet and map its header: `known` maps casefolded labels and keys to
    field keys. A hidden second row of keys (as templates have) wins over the labels. With
    `stream` (a file on disk), an .xlsx is read row by row in flat memory."""
    try:
        found = None
        if stream and (isinstance(source, str) or hasattr(source, "__fspath__")):
            found = _streamed_rows(source)  # type: ignore[arg-type]
        height, make_rows = found or _calamine_rows(source)
        rows = make_rows()
        header = next(rows, (0, None))[1]
        second = next(rows, (0, None))[1]
    except (CalamineError, XlsxError, IndexError, ValueError, OSError) as error:
        raise UnreadableWorkbook(str(error)) from None
    except Exception as error:  # calamine raises panics and zip errors of several kinds
        raise UnreadableWorkbook(type(error).__name__) from None
    headers = [text_of(cell) for cell in header or []]
    key_row = [text_of(cell) for cell in second or []]
    values = set(known.values())
    is_key_row = any(key_row) and all(not key or key in values for key in key_row)
    keys: list[str | None] = []
    for index, label in enumerate(headers):
        key = key_row[index] if is_key_row and index < len(key_row) and key_row[index] else None
        if key is None:
            key = known.get(normalize_label(label))
        keys.append(key)
    return SheetReader(
        headers=headers,
        keys=keys,
        first_data_row=2 if is_key_row else 1,
        height=height,
        _rows=make_rows,
    )


def normalize_label(label: str) -> str:
    label = label.strip()
    if label.endswith("*"):
        label = label[:-1].strip()
    return label.casefold()


def text_of(cell: Any) -> str:
    """A cell as text: whole numbers without `.0`, dates in ISO form."""
    if cell is None or cell == "":
        return ""
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime | date | time):
        return cell.isoformat()
    return str(cell).strip()


def is_blank(cells: Sequence[Any]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def cell_value(field: FieldSpec, cell: Any) -> Any:
    """An Excel cell as the JSON value `createRecord` takes for the field (left as is when it
    cannot be, so validation names the problem)."""
    kind = field.type
    if kind in (F.NUMBER, F.CURRENCY):
        if isinstance(cell, str):
            try:
                number = float(cell.strip().replace(",", ""))
            except ValueError:
                return cell
            return int(number) if number.is_integer() else number
        if isinstance(cell, float) and math.isfinite(cell) and cell.is_integer():
            return int(cell)
        return cell
    if kind is F.BOOLEAN:
        if isinstance(cell, str):
            word = cell.strip().casefold()
            if word in ("true", "yes", "1", "y"):
                return True
            if word in ("false", "no", "0", "n"):
                return False
        if isinstance(cell, int | float) and not isinstance(cell, bool) and cell in (0, 1):
            return bool(cell)
        return cell
    if kind is F.DATE:
        if isinstance(cell, datetime):
            return cell.date().isoformat()
        if isinstance(cell, date):
            return cell.isoformat()
        if isinstance(cell, float | int) and not isinstance(cell, bool):
            return (EXCEL_EPOCH + timedelta(days=cell)).date().isoformat()
        return cell.strip() if isinstance(cell, str) else cell
    if kind is F.DATETIME:
        if isinstance(cell, datetime):
            return (cell if cell.tzinfo else cell.replace(tzinfo=UTC)).isoformat()
        if isinstance(cell, date):
            return datetime.combine(cell, time(), UTC).isoformat()
        if isinstance(cell, str):
            text = cell.strip()
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                return text
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()
        return cell
    if kind is F.MULTI_SELECT:
        text = text_of(cell)
        return [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    if isinstance(cell, str):
        return cell.strip()
    return text_of(cell) if kind is not F.SELECT or not isinstance(cell, bool) else cell


# -- writing -------------------------------------------------------------------------------


class Cells(StrEnum):
    """What a column of an export holds, and so how its cells are written."""

    KNOWN = "known"  # text, numbers or None the caller built: written as they are
    ANY = "any"  # a stored value of any JSON type: lists joined, long text cut
    DATE = "date"  # a date, or a date in ISO form: written as a date
    DATETIME = "datetime"  # an aware datetime, or one in ISO form: written as a UTC date-time


@dataclass(frozen=True, slots=True)
class TableColumn:
    """One column of an export: its header and what its cells hold."""

    label: str
    cells: Cells = Cells.KNOWN


def cells_of(field: FieldSpec) -> Cells:
    """How an export writes the stored values of a registry field."""
    if field.type is F.DATE:
        return Cells.DATE
    if field.type is F.DATETIME:
        return Cells.DATETIME
    return Cells.ANY


def _any_cell(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return value if len(value) <= MAX_CELL_TEXT else value[:MAX_CELL_TEXT]
    if value is None or kind is int or kind is float or kind is bool:
        return value
    if kind is list:
        return _any_cell(", ".join(map(str, value)))
    if isinstance(value, datetime):
        return _datetime_cell(value)
    if isinstance(value, date):
        return value if value.year >= EXCEL_FIRST_YEAR else value.isoformat()
    return _any_cell(str(value))


def _date_cell(value: Any) -> Any:
    if type(value) is str:
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return _any_cell(value)
    return value if isinstance(value, date) and value.year >= EXCEL_FIRST_YEAR else _any_cell(value)


def _datetime_cell(value: Any) -> Any:
    if type(value) is str:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return _any_cell(value)
    if not isinstance(value, datetime):
        return _any_cell(value)
    if value.tzinfo is not None:
        value = (value if value.tzinfo is UTC else value.astimezone(UTC)).replace(tzinfo=None)
    return value if value.year >= EXCEL_FIRST_YEAR else value.isoformat(sep=" ")


CONVERTERS: dict[Cells, Callable[[Any], Any]] = {
    Cells.ANY: _any_cell,
    Cells.DATE: _date_cell,
    Cells.DATETIME: _datetime_cell,
}


def _unique(labels: Iterable[str]) -> list[str]:
    """The labels, a repeated one numbered (the header comes from the keys of a dict)."""
    seen: set[str] = set()
    unique = []
    for label in labels:
        candidate, number = label, 1
        while candidate in seen:
            number += 1
            candidate = f"{label} ({number})"
        seen.add(candidate)
        unique.append(candidate)
    return unique


def write_table(
    target: Path | str, sheet_name: str, columns: Sequence[TableColumn], rows: Iterable[Any]
) -> None:
    """An export: a header of `columns` and `rows` (sequences of cells in column order) in
    constant memory (rust_xlsxwriter through rustpy-xlsxwriter: a row is handed over and
    written as it comes). Dates and date-times are real ones in yyyy-mm-dd (hh:mm) form,
    text stays text (no number, URL or formula detection)."""
    labels = _unique(column.label for column in columns)
    converted = [(i, CONVERTERS[c.cells]) for i, c in enumerate(columns) if c.cells in CONVERTERS]

    def records() -> Iterator[dict[str, Any]]:
        row = None
        for row in rows:
            cells = list(row)
            for index, convert in converted:
                cells[index] = convert(cells[index])
            yield dict(zip(labels, cells, strict=True))
        if row is None:  # no rows: an empty one, so the header is written (and nothing else)
            yield dict.fromkeys(labels)

    header = Format().set_bold().set_background_color("#DDEBF7").set_border("thin")
    date_format = Format().set_num_format("yyyy-mm-dd")
    write_worksheet(
        records(),
        str(target),
        sheet_name=sheet_name[:31],
        datetime_format="yyyy-mm-dd hh:mm",
        column_formats={
            label: date_format
            for label, column in zip(labels, columns, strict=True)
            if column.cells is Cells.DATE
        },
        column_widths=[max(12, min(40, len(label) + 4)) for label in labels],
        header_format=header,
    )


async def write_table_async(
    target: Path | str,
    sheet_name: str,
    columns: Sequence[TableColumn],
    pages: AsyncGenerator[Sequence[Any], None],
) -> None:
    """`write_table` in a worker thread, fed page by page from `pages` (which runs on the
    calling event loop: the loop is free while a page is written and the file compressed).
    When the caller is cancelled, the writer stops at its next page before this returns."""
    loop = asyncio.get_running_loop()
    stopped = threading.Event()

    async def next_page() -> Sequence[Any] | None:
        return await anext(pages, None)

    def rows() -> Iterator[Any]:
        while True:
            if stopped.is_set():
                raise WriteStopped
            page = asyncio.run_coroutine_threadsafe(next_page(), loop).result()
            if page is None:
                return
            yield from page

    writing = loop.run_in_executor(None, write_table, target, sheet_name, columns, rows())
    try:
        await asyncio.shield(writing)
    except asyncio.CancelledError:
        stopped.set()
        with contextlib.suppress(Exception):
            await writing
        raise
    finally:
        await pages.aclose()


class WriteStopped(Exception):
    """The export's writer thread was told to stop (its caller was cancelled)."""


class SheetWriter:
    """Rows written one at a time and flushed as they go (xlsxwriter's constant memory): the
    error reports, which need the hidden row of field keys under the header."""

    def __init__(self, target: Path | str, sheet_name: str, header: Sequence[str]) -> None:
        self.workbook = xlsxwriter.Workbook(
            str(target), {"constant_memory": True, "strings_to_numbers": False}
        )
        self.formats = _formats(self.workbook)
        self.sheet = self.workbook.add_worksheet(sheet_name[:31])
        for index, label in enumerate(header):
            self.sheet.write_string(0, index, label, self.formats["header"])
            self.sheet.set_column(index, index, max(12, min(40, len(label) + 4)))
        self.next_row = 1

    def keys_row(self, keys: Sequence[str]) -> None:
        """A hidden row of field keys under the header (error reports re-import with it)."""
        for index, key in enumerate(keys):
            self.sheet.write_string(self.next_row, index, key)
        self.sheet.set_row(self.next_row, None, None, {"hidden": True})
        self.next_row += 1

    def row(self, cells: Sequence[Any]) -> None:
        sheet, row = self.sheet, self.next_row
        for index, cell in enumerate(cells):
            if cell is None or cell == "":
                continue
            kind = type(cell)
            if kind is str:
                sheet.write_string(row, index, cell)
            elif kind is bool:
                sheet.write_boolean(row, index, cell)
            elif kind is int or kind is float:
                sheet.write_number(row, index, cell)
            elif isinstance(cell, datetime):
                naive = cell.astimezone(UTC).replace(tzinfo=None) if cell.tzinfo else cell
                sheet.write_datetime(row, index, naive, self.formats["datetime"])
            elif isinstance(cell, date):
                sheet.write_datetime(row, index, cell, self.formats["date"])
            elif isinstance(cell, list):
                sheet.write_string(row, index, ", ".join(map(str, cell)))
            else:
                sheet.write_string(row, index, str(cell))
        self.next_row += 1

    def close(self) -> None:
        self.workbook.close()
