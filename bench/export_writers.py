"""Export writers compared on the same rows: 300,000 account rows shaped as `write_export`
writes them (17 columns: id, the account fields, status, owner, owner email, created and
updated times), each writer in a child process of its own so its CPU time and peak RSS are
its alone. The rows are generated in the child (the generation alone is measured too, as
`rows-only`, to subtract); no database.

    python -m bench.export_writers                 # every writer, 300,000 rows
    python -m bench.export_writers --rows 20000 --writers rustpy xlsxwriter-typed

Writers: `xlsxwriter-typed` (constant memory, one typed write_* call per cell: the code
before session 8), `xlsxwriter-row` (constant memory, `write_row` through `write()`'s type
dispatch, URL and number detection off), `xlsxwriter-memory` (the typed calls without
constant memory), `pyexcelerate` (whole sheet in memory), `rustpy` (rustpy-xlsxwriter,
rust_xlsxwriter in constant-memory mode fed by a generator), and `crmfeed-table` (rustpy
through crmfeed's `write_table`, with its per-cell conversions: the exports' writer). CPU
time is the figure to compare on shared cores; the load average is printed with each line.
pyexcelerate is no dependency of crmfeed: `pip install pyexcelerate` before measuring it.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

HEADER = [
    "Id",
    "Name",
    "Account number",
    "Industry",
    "Level",
    "Phone",
    "Email",
    "Website",
    "Address",
    "Approval status",
    "In highseas pool",
    "Annual revenue",
    "Status",
    "Owner",
    "Owner email",
    "Created at",
    "Updated at",
]
INDUSTRIES = ("MANUFACTURING", "RETAIL", "FINANCE", "SOFTWARE", "HEALTHCARE", "OTHER")
WRITERS = (
    "rows-only",
    "xlsxwriter-typed",
    "xlsxwriter-row",
    "xlsxwriter-memory",
    "pyexcelerate",
    "rustpy",
    "crmfeed-table",
)
START = datetime(2026, 1, 1, tzinfo=UTC)


def rows(count: int) -> Iterator[list[Any]]:
    """Rows as the export's loop builds them (created/updated as aware UTC datetimes, as
    PostgreSQL returns them; empty fields as None)."""
    for n in range(count):
        created = START + timedelta(seconds=n)
        yield [
            f"UmVjb3JkOjE{n:07d}",
            f"Company {n:07d}",
            f"AC-{n:07d}",
            INDUSTRIES[n % len(INDUSTRIES)],
            "ABC"[n % 3],
            f"+1 555 {n % 10_000:04d}",
            f"contact{n}@company{n % 997}.example",
            f"https://company{n}.example",
            f"{n} Market Street, Springfield",
            None,
            None if n % 2 else False,
            1000 + n,
            "Active",
            "Ada",
            "bench-admin@example.com",
            created,
            created,
        ]


def naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def write(kind: str, path: Path, count: int) -> None:
    if kind == "rows-only":
        collections.deque(rows(count), maxlen=0)  # only build the rows: the writers' floor
    elif kind.startswith("xlsxwriter"):
        import xlsxwriter

        options = {"strings_to_numbers": False, "strings_to_urls": False}
        if kind != "xlsxwriter-memory":
            options["constant_memory"] = True
        book = xlsxwriter.Workbook(str(path), options)
        stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        sheet = book.add_worksheet("Accounts")
        sheet.write_row(0, 0, HEADER)
        for index, row in enumerate(rows(count), start=1):
            row[15], row[16] = naive(row[15]), naive(row[16])
            if kind == "xlsxwriter-row":
                sheet.write_row(index, 0, row[:15])
                sheet.write_datetime(index, 15, row[15], stamp)
                sheet.write_datetime(index, 16, row[16], stamp)
                continue
            for column, cell in enumerate(row):
                if cell is None:
                    continue
                if type(cell) is str:
                    sheet.write_string(index, column, cell)
                elif type(cell) is bool:
                    sheet.write_boolean(index, column, cell)
                elif type(cell) is int:
                    sheet.write_number(index, column, cell)
                else:
                    sheet.write_datetime(index, column, cell, stamp)
        book.close()
    elif kind == "pyexcelerate":
        from pyexcelerate import Format as NumberFormat
        from pyexcelerate import Style, Workbook

        book = Workbook()

        def data() -> Iterator[list[Any]]:
            yield HEADER
            for row in rows(count):
                row[15], row[16] = naive(row[15]), naive(row[16])
                yield row

        sheet = book.new_sheet("Accounts", data=list(data()))
        stamp = Style(format=NumberFormat("yyyy-mm-dd hh:mm"))
        sheet.set_col_style(16, stamp)
        sheet.set_col_style(17, stamp)
        book.save(str(path))
    elif kind == "rustpy":
        from rustpy_xlsxwriter import write_worksheet

        def records() -> Iterator[dict[str, Any]]:
            for row in rows(count):
                row[15], row[16] = naive(row[15]), naive(row[16])
                yield dict(zip(HEADER, row, strict=True))

        write_worksheet(
            records(), str(path), sheet_name="Accounts", datetime_format="yyyy-mm-dd hh:mm"
        )
    elif kind == "crmfeed-table":
        from crmfeed.sheets import Cells, TableColumn, write_table

        kinds = {"Created at": Cells.DATETIME, "Updated at": Cells.DATETIME}
        plain = HEADER[1:12]  # the registry's fields: stored values of any type
        columns = [
            TableColumn(label, kinds.get(label, Cells.ANY if label in plain else Cells.KNOWN))
            for label in HEADER
        ]
        write_table(path, "Accounts", columns, rows(count))
    else:
        raise SystemExit(f"unknown writer {kind}")


def load() -> str:
    return "load " + " ".join(f"{n:.1f}" for n in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--writers", nargs="+", default=list(WRITERS), choices=WRITERS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        write(args.child, args.out, args.rows)
        return
    workdir = Path(tempfile.mkdtemp(prefix="crmfeed-bench-writers-"))
    print(f"{args.rows:,} rows, {len(HEADER)} columns")
    for kind in args.writers:
        out = workdir / f"{kind}.xlsx"
        before = load()
        started = time.perf_counter()
        command = [sys.executable, "-m", "bench.export_writers", "--child", kind]
        process = subprocess.Popen([*command, "--rows", str(args.rows), "--out", str(out)])
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{kind} failed")
        cpu = usage.ru_utime + usage.ru_stime
        size = f"{out.stat().st_size / 1e6:.1f} MB file" if out.exists() else "no file"
        print(
            f"{kind:18} CPU {cpu:5.1f} s  wall {wall:5.1f} s  peak RSS "
            f"{usage.ru_maxrss / 1024:4.0f} MB  {size}  ({before} before, {load()} after)"
        )
        out.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
