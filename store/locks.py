"""Locks that serialize one enterprise's changes of a kind until the transaction ends.

    await lock_org_chart(session, enterprise_id)   # first, before reading the tree
    ... read the parent links, check, rewrite the closure ...
    await session.commit()                         # releases it

Two re-parentings that each pass a cycle check against what the other has not written yet
(X under Y and Y under X at once) would together make a cycle. Whoever takes the lock second
reads the tree as the first one left it. PostgreSQL: a transaction-level advisory lock keyed by
(kind, enterprise), held until commit or rollback; other enterprises are not held up (ids are
folded into 31 bits, so two enterprises may share a key: they then wait for each other, which
is slower, never wrong). SQLite has one writer for the whole file: `BEGIN IMMEDIATE` takes it
before the reads, so the check reads what the write will build on.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:kind, :key)")
_KEY_SPACE = 2**31 - 1


class LockKind(IntEnum):
    """The first key of PostgreSQL's two-key advisory locks: what is being serialized."""

    ORG_CHART = 0x4F52  # reporting lines and departments


async def lock_enterprise(session: AsyncSession, kind: LockKind, enterprise_id: int) -> None:
    """Hold `kind` of `enterprise_id` until the session's transaction ends. Call it before
    reading what the transaction's writes depend on."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(
            _ADVISORY_LOCK, {"kind": int(kind), "key": enterprise_id % _KEY_SPACE}
        )
        return
    await _sqlite_writer(connection)


async def _sqlite_writer(connection: AsyncConnection) -> None:
    raw = await connection.get_raw_connection()
    # The sqlite3 driver opens a transaction at the first write only; one already open means
    # this connection holds the write lock already.
    if not raw.driver_connection.in_transaction:
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


async def lock_row(session: AsyncSession, row: object) -> None:
    """Hold one loaded row until the transaction ends and read it afresh, so what the
    transaction checks is what the previous writer left: PostgreSQL locks the row (SELECT ...
    FOR UPDATE); SQLite takes the file's write lock first."""
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        await _sqlite_writer(connection)
    await session.refresh(row, with_for_update=True)


async def lock_org_chart(session: AsyncSession, enterprise_id: int) -> None:
    """Serialize changes of the enterprise's reporting lines and department tree."""
    await lock_enterprise(session, LockKind.ORG_CHART, enterprise_id)
