"""SQLite connections with one thread hand-off per statement behave as aiosqlite's do."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, event, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from store import sqlite_connection
from store.engine import create_engine
from store.sqlite_connection import OneHopConnection
from tests import conftest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

METADATA = MetaData()
NOTES = Table(
    "notes",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("text", String, unique=True, nullable=False),
)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    settings = conftest.test_settings(f"sqlite+aiosqlite:///{tmp_path / 'hop.db'}")
    engine = create_engine(settings)
    async with engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
    yield engine
    await engine.dispose()


async def test_the_engine_opens_one_hop_connections(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, OneHopConnection)


async def test_rows_rowcount_and_lastrowid(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(insert(NOTES).values(text="a"))
        assert inserted.inserted_primary_key == (1,)  # from the cursor's lastrowid
        many = await connection.execute(insert(NOTES), [{"text": t} for t in "bcde"])
        assert many.rowcount == 4
        rows = (await connection.execute(select(NOTES.c.text).order_by(NOTES.c.id))).all()
    assert [text for (text,) in rows] == list("abcde")


async def test_streamed_results_come_in_chunks_in_order(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(NOTES), [{"text": f"n{i:03}"} for i in range(250)])
    async with engine.connect() as connection:
        result = await connection.stream(
            select(NOTES.c.text).order_by(NOTES.c.id).execution_options(yield_per=100)
        )
        chunks = [[text for (text,) in chunk] async for chunk in result.partitions()]
    assert [len(chunk) for chunk in chunks] == [100, 100, 50]
    assert [text for chunk in chunks for text in chunk] == [f"n{i:03}" for i in range(250)]


async def test_a_failed_statement_raises_and_the_connection_goes_on(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(insert(NOTES).values(text="same"))
        with pytest.raises(IntegrityError):
            await connection.execute(insert(NOTES).values(text="same"))
        await connection.rollback()
        assert (await connection.execute(select(NOTES.c.text))).all() == []


def count_hand_offs(raw: OneHopConnection) -> list[int]:
    """A one-item list that counts the calls `raw` hands to its thread from now on."""
    calls = [0]
    handed_off = raw._execute

    async def counted(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return await handed_off(*args, **kwargs)

    raw._execute = counted  # type: ignore[method-assign]
    return calls


async def test_one_thread_hand_off_per_statement(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        calls = count_hand_offs((await connection.get_raw_connection()).driver_connection)
        seen: list[str] = []
        event.listen(
            connection.sync_connection, "before_cursor_execute", lambda *a: seen.append(a[2])
        )
        for _ in range(3):
            await connection.execute(select(NOTES.c.id).where(NOTES.c.id > 0))
        assert (len(seen), calls[0]) == (3, 3)  # with aiosqlite's own cursors: (3, 12)


async def test_a_read_only_session_closes_without_a_rollback(engine: AsyncEngine) -> None:
    session = AsyncSession(engine)
    connection = await session.connection()
    calls = count_hand_offs((await connection.get_raw_connection()).driver_connection)
    await session.execute(select(NOTES.c.id))
    await session.commit()
    await session.execute(select(NOTES.c.id))
    await session.close()
    assert calls[0] == 2  # the statements; no transaction was open to commit or roll back


async def test_a_closed_session_rolls_back_what_it_wrote(engine: AsyncEngine) -> None:
    session = AsyncSession(engine)
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    calls = count_hand_offs(raw)
    await session.execute(insert(NOTES).values(text="undone"))
    await session.close()
    assert calls[0] == 0  # the INSERT and the ROLLBACK ran here (the lock was free); no pool's
    assert not raw.in_transaction
    async with engine.connect() as connection:
        assert (await connection.execute(select(NOTES.c.text))).all() == []


async def test_the_pool_rolls_back_a_connection_returned_in_a_transaction(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        await raw.execute("INSERT INTO notes (text) VALUES ('left open')")  # behind SQLAlchemy
        assert raw.in_transaction
    assert not raw.in_transaction
    async with engine.connect() as connection:
        assert (await connection.execute(select(NOTES.c.text))).all() == []


async def test_writers_of_one_process_queue_at_the_gate_not_in_sqlite(
    engine: AsyncEngine,
) -> None:
    first, second = AsyncSession(engine), AsyncSession(engine)
    second_raw = (await (await second.connection()).get_raw_connection()).driver_connection
    await first.execute(insert(NOTES).values(text="first"))  # holds the write lock
    calls = count_hand_offs(second_raw)
    read = await second.execute(select(NOTES.c.text))  # reads go on meanwhile
    assert read.all() == []
    waiting = asyncio.create_task(second.execute(insert(NOTES).values(text="second")))
    for _ in range(20):
        await asyncio.sleep(0)
    assert (calls[0], waiting.done()) == (1, False)  # the read only: the insert waits its turn
    await first.commit()
    await waiting
    await second.commit()
    assert calls[0] == 1  # the read; the insert and the commit run here, the lock being free
    async with engine.connect() as connection:
        rows = (await connection.execute(select(NOTES.c.text).order_by(NOTES.c.id))).all()
    assert [text for (text,) in rows] == ["first", "second"]
    await first.close()
    await second.close()


async def test_a_writer_that_outwaits_the_gate_meets_sqlites_lock(tmp_path: Path) -> None:
    settings = conftest.test_settings(f"sqlite+aiosqlite:///{tmp_path / 'gate.db'}")
    engine = create_engine(settings.model_copy(update={"sqlite_busy_timeout_ms": 50}))
    async with engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
    first, second = AsyncSession(engine), AsyncSession(engine)
    try:
        await first.execute(insert(NOTES).values(text="first"))
        with pytest.raises(OperationalError, match="database is locked"):
            await second.execute(insert(NOTES).values(text="second"))
        await second.rollback()
        await first.commit()
        await second.execute(insert(NOTES).values(text="second"))  # the gate is free again
        await second.commit()
    finally:
        await first.close()
        await second.close()
        await engine.dispose()


@pytest.mark.filterwarnings("ignore:The garbage collector is trying to clean up")
async def test_a_writer_dropped_mid_transaction_gives_the_gate_back(engine: AsyncEngine) -> None:
    """A session left for the garbage collector in the middle of a write (its task cancelled
    before it could close) has its connection terminated by the pool; the next writer must
    not wait for a turn that will never be passed on."""
    dropped = AsyncSession(engine)
    await dropped.execute(insert(NOTES).values(text="abandoned"))
    raw = (await (await dropped.connection()).get_raw_connection()).driver_connection
    assert raw.holds_gate
    del dropped, raw
    gc.collect()
    for _ in range(20):
        await asyncio.sleep(0)
    writer = AsyncSession(engine)
    writing = asyncio.create_task(writer.execute(insert(NOTES).values(text="next")))
    for _ in range(50):
        await asyncio.sleep(0.001)
        if writing.done():
            break
    assert writing.done(), "the next writer waits at a gate nobody holds"
    await writing
    await writer.commit()
    await writer.close()
    async with engine.connect() as connection:
        assert (await connection.execute(select(NOTES.c.text))).scalars().all() == ["next"]


async def test_a_write_transaction_runs_without_hand_offs(engine: AsyncEngine) -> None:
    """A connection whose turn it is at the gate tries for SQLite's write lock on the event
    loop's thread, without waiting; holding it, nothing in SQLite waits: the statements after
    the first write, the commit and the rollback run there too, so no other task runs (and no
    other writer waits on a sleeping one) while the lock is held. Reads outside a write
    transaction go to the connection's thread."""
    session = AsyncSession(engine)
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    calls = count_hand_offs(raw)
    await session.execute(select(NOTES.c.id))
    assert not raw.write_locked  # a read takes no lock
    await session.execute(insert(NOTES).values(text="one"))
    assert (calls[0], raw.write_locked) == (1, True)
    others_ran: list[str] = []

    async def other() -> None:
        others_ran.append("other task")

    waiting = asyncio.create_task(other())  # runs when the loop next gets to it
    await session.execute(insert(NOTES).values(text="two"))
    await session.execute(select(NOTES.c.text))
    await session.commit()
    assert (calls[0], raw.write_locked, raw.holds_gate, others_ran) == (1, False, False, [])
    await waiting
    async with engine.connect() as connection:
        rows = (await connection.execute(select(NOTES.c.text).order_by(NOTES.c.id))).all()
    assert [text for (text,) in rows] == ["one", "two"]
    await session.close()


async def test_a_failed_statement_inside_a_write_rolls_back_with_its_transaction(
    engine: AsyncEngine,
) -> None:
    session = AsyncSession(engine)
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    await session.execute(insert(NOTES).values(text="kept until the rollback"))
    with pytest.raises(IntegrityError):
        await session.execute(insert(NOTES).values(text="kept until the rollback"))
    assert raw.write_locked  # the transaction goes on after the failed statement
    await session.rollback()
    assert (raw.write_locked, raw.holds_gate, raw.in_transaction) == (False, False, False)
    await session.execute(insert(NOTES).values(text="after"))  # the next writer's turn
    await session.commit()
    async with engine.connect() as connection:
        assert (await connection.execute(select(NOTES.c.text))).scalars().all() == ["after"]
    await session.close()


async def test_a_deferred_begin_takes_no_write_lock(engine: AsyncEngine) -> None:
    """BEGIN (deferred) holds no lock, so what follows it still goes to the thread, where
    SQLite may wait for another process's writer; BEGIN IMMEDIATE holds the lock."""
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        await connection.exec_driver_sql("BEGIN")
        assert (raw.in_transaction, raw.write_locked) == (True, False)
        await connection.exec_driver_sql("ROLLBACK")
        await connection.exec_driver_sql("BEGIN IMMEDIATE")
        assert raw.write_locked
        await connection.exec_driver_sql("ROLLBACK")
        assert (raw.write_locked, raw.holds_gate) == (False, False)


async def test_a_write_meeting_another_processs_lock_waits_on_the_thread(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Another process's writer (here a plain sqlite3 connection) holds the lock: the first
    write does not wait on the event loop's thread but goes to its own, where SQLite's busy
    timeout applies, and goes on once the lock is free."""
    other = sqlite3.connect(tmp_path / "hop.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO notes (text) VALUES ('other process')")
    session = AsyncSession(engine)
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    calls = count_hand_offs(raw)
    writing = asyncio.create_task(session.execute(insert(NOTES).values(text="ours")))
    for _ in range(20):
        await asyncio.sleep(0.005)  # the loop goes on meanwhile
    assert not writing.done()
    other.execute("COMMIT")
    other.close()
    await writing
    await session.commit()
    assert (calls[0], raw.write_locked) == (1, False)  # the insert; the commit ran here
    async with engine.connect() as connection:
        rows = (await connection.execute(select(NOTES.c.text).order_by(NOTES.c.id))).all()
    assert [text for (text,) in rows] == ["other process", "ours"]
    await session.close()


async def test_batches_and_slow_statements_of_a_write_go_to_the_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What may take long runs on the connection's thread even while it holds the lock, so
    other requests' reads go on meanwhile: an executemany, a statement with many parameters,
    and, after one statement took long here, the rest of that transaction and its commit."""
    session = AsyncSession(engine)
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    calls = count_hand_offs(raw)
    await session.execute(insert(NOTES), [{"text": f"batch {n}"} for n in range(3)])
    assert (calls[0], raw.write_locked) == (1, True)  # executemany: on the thread
    many = [f"n{n}" for n in range(sqlite_connection.SMALL_STATEMENT_PARAMETERS + 1)]
    await session.execute(select(NOTES.c.id).where(NOTES.c.text.in_(many)))
    assert calls[0] == 2  # many parameters: on the thread
    await session.execute(insert(NOTES).values(text="small"))
    assert calls[0] == 2  # a small one: here
    monkeypatch.setattr(sqlite_connection, "SLOW_STATEMENT_SECONDS", -1.0)
    await session.execute(insert(NOTES).values(text="took long"))
    assert calls[0] == 2  # ran here, and took "long"
    await session.execute(insert(NOTES).values(text="after it"))
    await session.commit()
    assert (calls[0], raw.write_locked, raw.holds_gate) == (4, False, False)
    async with engine.connect() as connection:
        assert len((await connection.execute(select(NOTES.c.id))).all()) == 6
    await session.close()
