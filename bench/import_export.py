"""Import and export benchmark: 300,000 account rows through `crmfeed import` and `crmfeed
export`, each in a process of its own so its wall time and peak RSS are its alone.

Steps: write an .xlsx of `--rows` accounts (xlsxwriter, constant memory; a few rows with an
unknown option and a few duplicate names, so the error path is on), migrate a fresh database,
register an enterprise, then time `crmfeed import FILE --object account --as ADMIN` (the
background job's code: streamed read, the createRecord checks, batched inserts) and `crmfeed
export --object account --as ADMIN -o OUT` (visibility in SQL, keyset batches, constant-memory
writing). Peak RSS is the child's `ru_maxrss` from `os.wait4`.

    python -m bench.import_export                      # SQLite file in a temporary directory
    python -m bench.import_export --database-url postgresql+asyncpg://postgres@127.0.0.1/test
    python -m bench.import_export --rows 20000         # a quick run
    python -m bench.import_export --source FILE --code /tmp/old-checkout   # compare code

The machine's load average is printed beside each figure: on shared cores the figures only
compare within one run (`--code` runs another checkout's crmfeed on the same file).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xlsxwriter

ADMIN = "bench-admin@example.com"
PASSWORD = "Tr0ub4dor&3-bench-horse"
HEADER = [
    "Name",
    "Account number",
    "Industry",
    "Level",
    "Phone",
    "Email",
    "Website",
    "Annual revenue",
    "Address",
]
INDUSTRIES = ("MANUFACTURING", "RETAIL", "FINANCE", "SOFTWARE", "HEALTHCARE", "OTHER")


def write_file(path: Path, rows: int) -> tuple[int, int]:
    """The workbook; returns (rows with an unknown option, duplicate names)."""
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_urls": False})
    sheet = book.add_worksheet("Accounts")
    sheet.write_row(0, 0, HEADER)
    bad = duplicates = 0
    for n in range(rows):
        name = f"Company {n:07d}"
        level = "ABC"[n % 3]
        if n % 10_000 == 17:
            level, bad = "Z", bad + 1
        elif n % 10_000 == 4242:
            name, duplicates = f"Company {n - 1:07d}", duplicates + 1
        sheet.write_row(
            n + 1,
            0,
            [
                name,
                f"AC-{n:07d}",
                INDUSTRIES[n % len(INDUSTRIES)],
                level,
                f"+1 555 {n % 10_000:04d}",
                f"contact{n}@company{n % 997}.example",
                f"https://company{n}.example",
                1000 + n,
                f"{n} Market Street, Springfield",
            ],
        )
    book.close()
    return bad, duplicates


def load() -> str:
    return "load average " + " ".join(f"{n:.1f}" for n in os.getloadavg())


def run(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, output) of one child process; fails on a non-zero exit. The
    output ends with the child's CPU time (user + system), which shared cores inflate less
    than its wall time."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{output}")
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, usage.ru_maxrss / 1024, f"{output.rstrip()}\n(CPU {cpu:.1f} s)"


async def reset_schema(url: str, schema: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--database-url", help="default: an SQLite file in --workdir")
    parser.add_argument("--schema", default="crmfeed_bench_io", help="PostgreSQL schema (reset)")
    parser.add_argument("--workdir", type=Path, help="default: a new temporary directory")
    parser.add_argument("--source", type=Path, help="an .xlsx this script wrote before (reused)")
    parser.add_argument("--code", type=Path, help="run the crmfeed of this checkout instead")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="crmfeed-bench-io-"))
    workdir.mkdir(parents=True, exist_ok=True)
    crmfeed = str(Path(sys.executable).with_name("crmfeed"))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "FILES_", "CRMFEED_"))
    }
    env.update(
        {
            "SECRET_KEY": "bench-secret-key-0123456789abcdefghijklmnop",
            "FILES_DIR": str(workdir / "files"),
            "CRMFEED_ADMIN_PASSWORD": PASSWORD,
        }
    )
    if args.code:
        env["PYTHONPATH"] = str(args.code.resolve())
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
        env["DATABASE_SCHEMA"] = args.schema
        asyncio.run(reset_schema(args.database_url, args.schema))
        where = f"PostgreSQL (schema {args.schema})"
    else:
        database = workdir / "bench.db"
        database.unlink(missing_ok=True)
        env["DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
        where = f"SQLite ({database})"
    source = args.source or workdir / "accounts.xlsx"
    if args.source is None:
        started = time.perf_counter()
        bad, duplicates = write_file(source, args.rows)
        print(
            f"wrote {args.rows:,} rows ({source.stat().st_size / 1e6:.1f} MB) in "
            f"{time.perf_counter() - started:.1f} s; {bad} bad, {duplicates} duplicate names"
        )
    run([crmfeed, "migrate"], env)
    run(
        [crmfeed, "create-enterprise", "--name", "Bench", "--admin-name", "Ada", "--email", ADMIN],
        env,
    )
    before = load()
    seconds, rss, output = run(
        [crmfeed, "import", str(source), "--object", "account", "--as", ADMIN], env
    )
    summary = next((line for line in output.splitlines() if "import finished" in line), output)
    print(
        f"import: {seconds:.1f} s {output.splitlines()[-1]}, peak RSS {rss:.0f} MB, "
        f"{summary.strip()} "
        f"({before} before, {load()} after)"
    )
    out = workdir / "export.xlsx"
    before = load()
    seconds, rss, output = run(
        [crmfeed, "export", "--object", "account", "--as", ADMIN, "-o", str(out)], env
    )
    print(
        f"export: {seconds:.1f} s {output.splitlines()[-1]}, peak RSS {rss:.0f} MB, "
        f"{output.strip().splitlines()[-2]} "
        f"({out.stat().st_size / 1e6:.1f} MB; {before} before, {load()} after)"
    )
    print(f"database: {where}; files in {workdir}")


if __name__ == "__main__":
    main()
