"""crmfeed/sheets.py `write_table_async`, the exports' writer, without a database: rows fed page
by page from an async generator, an empty table keeps its header, and the writer stops with
its caller or with a failing page."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from python_calamine import CalamineWorkbook

from crmfeed.sheets import MAX_CELL_TEXT, Cells, TableColumn, write_table_async

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

COLUMNS = [
    TableColumn("Id"),
    TableColumn("Note", Cells.ANY),
    TableColumn("Status"),
    TableColumn("Status"),  # a repeated label gets a number, its cells stay in place
    TableColumn("At", Cells.DATETIME),
]


def read(path: Path) -> list[list[Any]]:
    return [
        list(row) for row in CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).iter_rows()
    ]


async def test_pages_are_written_in_order_with_their_types(tmp_path: Path) -> None:
    east = timezone(timedelta(hours=3))

    async def pages() -> AsyncIterator[list[list[Any]]]:
        yield [["a", None, "Open", "x", None], ["b", ["one", "two"], "Won", "y", None]]
        yield [["c", "z" * (MAX_CELL_TEXT + 5), "Lost", 5, datetime(2026, 5, 1, 12, tzinfo=east)]]

    path = tmp_path / "t.xlsx"
    await write_table_async(path, "Table", COLUMNS, pages())
    rows = read(path)
    assert rows[0] == ["Id", "Note", "Status", "Status (2)", "At"]
    assert rows[1] == ["a", "", "Open", "x", ""]
    assert rows[2] == ["b", "one, two", "Won", "y", ""]
    assert rows[3][1] == "z" * MAX_CELL_TEXT  # cut at Excel's limit instead of failing
    assert rows[3][3:] == [5, datetime(2026, 5, 1, 9, 0)]


async def test_an_empty_table_has_its_header(tmp_path: Path) -> None:
    async def pages() -> AsyncIterator[list[list[Any]]]:
        yield []

    path = tmp_path / "empty.xlsx"
    await write_table_async(path, "Empty", COLUMNS, pages())
    assert read(path) == [["Id", "Note", "Status", "Status (2)", "At"]]


async def test_the_writer_stops_with_its_caller_and_with_a_failing_page(tmp_path: Path) -> None:
    started, closed = asyncio.Event(), asyncio.Event()

    async def endless() -> AsyncIterator[list[list[Any]]]:
        try:
            number = 0
            while True:
                number += 1
                yield [[f"r{number}", None, "Open", None, datetime.now(UTC)]]
                started.set()
        finally:
            closed.set()

    task = asyncio.create_task(write_table_async(tmp_path / "c.xlsx", "T", COLUMNS, endless()))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert closed.is_set()  # the pages were closed once the writer thread had stopped

    async def failing() -> AsyncIterator[list[list[Any]]]:
        yield [["a", None, "Open", None, None]]
        raise LookupError("the database went away")

    with pytest.raises(LookupError, match="went away"):
        await asyncio.wait_for(write_table_async(tmp_path / "f.xlsx", "T", COLUMNS, failing()), 10)
