"""The steps every action on one record shares, in one place.

Load the record the viewer may read (NOT_FOUND otherwise: a hidden record and a missing one
answer alike) and lock it until the commit (two actions at once apply one after the other, the
second to what the first left); let the gate check the registry's rule against what the viewer
is for the record (FORBIDDEN or CONFLICT); apply the change; touch the record (updated at / by);
commit; then push the notifications the change wrote. An action is its gate and its apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resolvers import checker
from resolvers.records import readable_or_not_found
from store import records

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncSession

    from resolvers.checker import Standing
    from resolvers.context import Context
    from store.models import Record
    from store.viewer import Viewer

Sent = list[tuple[int, int]]


async def act(
    context: Context,
    record_id: str,
    gate: Callable[[Record, Standing], None],
    apply: Callable[[AsyncSession, Viewer, Record], Awaitable[Sent]],
    *,
    touch: bool = True,
) -> Record:
    """Run one record action; `apply` returns the notifications it wrote (to push after the
    commit). `touch=False` for an action that removes the record."""
    viewer = await context.viewer()
    async with context.db() as session:
        record = await readable_or_not_found(session, viewer, record_id)
        await records.lock(session, record)
        gate(record, await checker.standing_for(session, viewer, record))
        sent = await apply(session, viewer, record)
        if touch:
            await records.touch(session, record, viewer.id)
        await session.commit()
    await context.publish(sent)
    return record
