"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Integer, String, bindparam
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from sqlalchemy.sql.compiler import SQLCompiler
    from sqlalchemy.sql.elements import BindParameter, ColumnElement
    from sqlalchemy.types import TypeEngine

Id = BigInteger().with_variant(Integer, "sqlite")
Json = JSON().with_variant(JSONB, "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite keeps them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class IdList(TypeDecorator[Collection[int]]):
    """A list of ids bound as one parameter: an array on PostgreSQL, a JSON array on SQLite.
    (An expanding IN list of 10,000 ids costs ~100 ms to render and to plan.)"""

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(BigInteger))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Collection[int] | None, dialect: Any) -> Any:
        if value is None:
            return None
        ids = [int(v) for v in value]
        return ids if dialect.name == "postgresql" else json.dumps(ids)


class InIdList(FunctionElement[bool]):
    """`column` is one of the ids bound to `list_`: `column = ANY(:ids)` on PostgreSQL,
    `column IN (SELECT value FROM json_each(:ids))` on SQLite; both read the column's index."""

    inherit_cache = True
    type = Boolean()
    name = "in_id_list"
    _is_implicitly_boolean = True


@compiles(InIdList)
def _in_json_each(element: InIdList, compiler: SQLCompiler, **kw: Any) -> str:
    column, ids = element.clauses.clauses
    return (
        f"{compiler.process(column, **kw)} IN "
        f"(SELECT value FROM json_each({compiler.process(ids, **kw)}))"
    )


@compiles(InIdList, "postgresql")
def _in_array(element: InIdList, compiler: SQLCompiler, **kw: Any) -> str:
    column, ids = element.clauses.clauses
    return f"{compiler.process(column, **kw)} = ANY({compiler.process(ids, **kw)})"


def in_id_list(column: ColumnElement[int], name: str) -> InIdList:
    """`column` is one of the ids given as the parameter `name` (any collection of ints)."""
    ids: BindParameter[Collection[int]] = bindparam(name, type_=IdList())
    return InIdList(column, ids)
