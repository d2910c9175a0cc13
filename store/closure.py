"""Closure tables for the two trees (reporting lines, departments), kept in step on every change.

A closure table holds (ancestor, descendant, depth) for every pair on a path, each node with
itself at depth 0, so "everyone under X at any depth" is one indexed lookup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, insert, literal, select, true
from sqlalchemy.orm import aliased, join

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from store.models import DepartmentClosure, UserClosure

    Closure = type[UserClosure] | type[DepartmentClosure]


async def add_node(
    session: AsyncSession, closure: Closure, enterprise_id: int, node: int, parent: int | None
) -> None:
    """Link a new leaf `node` under `parent` (or as a root)."""
    await session.execute(
        insert(closure).values(
            enterprise_id=enterprise_id, ancestor_id=node, descendant_id=node, depth=0
        )
    )
    if parent is not None:
        await session.execute(
            insert(closure).from_select(
                ["enterprise_id", "ancestor_id", "descendant_id", "depth"],
                select(
                    literal(enterprise_id), closure.ancestor_id, literal(node), closure.depth + 1
                ).where(closure.descendant_id == parent),
            )
        )


async def is_in_subtree(session: AsyncSession, closure: Closure, root: int, node: int) -> bool:
    """Whether `node` is `root` or below it."""
    found = await session.scalar(
        select(closure.depth).where(closure.ancestor_id == root, closure.descendant_id == node)
    )
    return found is not None


async def move_subtree(
    session: AsyncSession, closure: Closure, enterprise_id: int, node: int, parent: int | None
) -> None:
    """Re-hang `node` (and everything below it) under `parent`. The caller refuses cycles."""
    subtree = select(closure.descendant_id).where(closure.ancestor_id == node)
    await session.execute(
        delete(closure).where(
            closure.descendant_id.in_(subtree), closure.ancestor_id.not_in(subtree)
        )
    )
    if parent is None:
        return
    above = aliased(closure)
    below = aliased(closure)
    await session.execute(
        insert(closure).from_select(
            ["enterprise_id", "ancestor_id", "descendant_id", "depth"],
            select(
                literal(enterprise_id),
                above.ancestor_id,
                below.descendant_id,
                above.depth + below.depth + 1,
            )
            .select_from(join(above, below, true()))  # every pair: a deliberate cross join
            .where(above.descendant_id == parent, below.ancestor_id == node),
        )
    )
