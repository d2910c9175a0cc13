"""One new row written by a Core INSERT and kept as a loaded object of the session.

The unit of work's flush of one new object (`session.add` + `flush`) costs several times the
INSERT it sends: it sorts the session's pending objects, builds and compiles the statement,
fetches the id and fires its bookkeeping events. A mutation that creates one row of a table
knows every column already, so `insert_row` sends the INSERT itself and attaches the object as
the flush would leave it: persistent, clean, every column loaded. Later changes to it are
flushed as UPDATEs, as for any object the session loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import insert
from sqlalchemy import inspect as inspect_mapper
from sqlalchemy.orm import make_transient_to_detached

if TYPE_CHECKING:
    from sqlalchemy import Insert, Table
    from sqlalchemy.ext.asyncio import AsyncSession

_Row = TypeVar("_Row")
_INSERTS: dict[Table, tuple[Insert, tuple[tuple[str, str], ...]]] = {}


def _insert_for(row: object) -> tuple[Insert, tuple[tuple[str, str], ...]]:
    """The table's INSERT ... RETURNING id, and the (attribute, column) pairs it takes: all
    but the id."""
    mapper = inspect_mapper(type(row))
    table: Table = mapper.local_table  # type: ignore[assignment]
    found = _INSERTS.get(table)
    if found is None:
        names = tuple(
            (prop.key, prop.columns[0].key) for prop in mapper.column_attrs if prop.key != "id"
        )
        found = _INSERTS[table] = (insert(table).returning(table.c.id), names)
    return found


async def insert_row(session: AsyncSession, row: _Row) -> _Row:
    """Insert the new object `row`, every column but its id given, and attach it to `session`
    as loaded (its id set). A column left unset is a programming error (ValueError): the
    object would otherwise not say what the row holds. Changes already pending in the session
    are flushed first, as a flush of `row` would have sent them before its INSERT."""
    statement, names = _insert_for(row)
    given: dict[str, Any] = row.__dict__
    missing = [name for name, _ in names if name not in given]
    if missing:
        raise ValueError(f"{type(row).__name__}: no value for {', '.join(missing)}")
    if not session.sync_session._is_clean():
        await session.flush()
    result = await session.execute(statement, {column: given[name] for name, column in names})
    row.id = result.scalar_one()  # type: ignore[attr-defined]
    make_transient_to_detached(row)
    session.add(row)
    return row
