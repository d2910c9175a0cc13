"""Idempotency keys: the answers of mutations sent with an `Idempotency-Key` header.

A key's row is written by `claim`, inside the mutation's own transaction (just before its
commit), so a write is never committed without it; `save_answer` then stores the HTTP answer on
it in a small transaction of its own. A row without an answer is a request that committed and
has not answered yet, or never will (the process died in between). Rows older than the TTL count
as absent, and are pruned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from store.models import IdempotencyKey

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session


@dataclass(frozen=True)
class StoredKey:
    fingerprint: str
    status: int | None
    body: str | None


def _this_key(user_id: int, key: str) -> list[object]:
    return [IdempotencyKey.user_id == user_id, IdempotencyKey.key == key]


async def find(
    session: AsyncSession, user_id: int, key: str, *, not_before: datetime
) -> StoredKey | None:
    """The user's row for `key`, unless it was created before `not_before` (expired)."""
    row = (
        await session.execute(
            select(IdempotencyKey.fingerprint, IdempotencyKey.status, IdempotencyKey.body).where(
                *_this_key(user_id, key), IdempotencyKey.created_at >= not_before
            )
        )
    ).one_or_none()
    return None if row is None else StoredKey(row.fingerprint, row.status, row.body)


def claim(
    session: Session,
    *,
    enterprise_id: int,
    user_id: int,
    key: str,
    fingerprint: str,
    now: datetime,
    not_before: datetime,
) -> bool:
    """Write the key's row in the session's transaction (a synchronous Session: this runs in
    its `before_commit` event); False when a live row is already there, written by a request
    that committed first (PostgreSQL waits for that request's transaction to end)."""
    session.execute(
        delete(IdempotencyKey).where(
            *_this_key(user_id, key), IdempotencyKey.created_at < not_before
        )
    )
    dialect = session.get_bind().dialect.name
    statement = (
        (postgresql if dialect == "postgresql" else sqlite)
        .insert(IdempotencyKey)
        .values(
            enterprise_id=enterprise_id,
            user_id=user_id,
            key=key,
            fingerprint=fingerprint,
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    return session.execute(statement).rowcount == 1  # type: ignore[attr-defined]


async def save_answer(
    session: AsyncSession, user_id: int, key: str, *, status: int, body: str
) -> None:
    """Store the answer on the key's row (the caller commits)."""
    await session.execute(
        update(IdempotencyKey).where(*_this_key(user_id, key)).values(status=status, body=body)
    )


async def prune(session: AsyncSession, *, not_before: datetime) -> None:
    """Delete every key created before `not_before` (the caller commits)."""
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < not_before))
