"""Reading and writing confirmation nodes and default confirmation chains."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from crmfeed.registry.confirmation import NodeState
from store.confirmation_tables import ConfirmationChainStep, ConfirmationNode
from store.types import utcnow

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from store.models import Record


async def default_chain(session: AsyncSession, enterprise_id: int, object_type: str) -> list[int]:
    """The confirmer ids of the enterprise's default chain for the type, in order."""
    rows = await session.scalars(
        select(ConfirmationChainStep.confirmer_id)
        .where(
            ConfirmationChainStep.enterprise_id == enterprise_id,
            ConfirmationChainStep.object_type == object_type,
        )
        .order_by(ConfirmationChainStep.position)
    )
    return list(rows)


async def set_default_chain(
    session: AsyncSession, enterprise_id: int, object_type: str, confirmer_ids: Sequence[int]
) -> None:
    await session.execute(
        delete(ConfirmationChainStep).where(
            ConfirmationChainStep.enterprise_id == enterprise_id,
            ConfirmationChainStep.object_type == object_type,
        )
    )
    session.add_all(
        ConfirmationChainStep(
            enterprise_id=enterprise_id,
            object_type=object_type,
            position=position,
            confirmer_id=confirmer_id,
        )
        for position, confirmer_id in enumerate(confirmer_ids, start=1)
    )
    await session.flush()


async def start_round(
    session: AsyncSession, record: Record, confirmer_ids: Sequence[int], submitted_by_id: int
) -> list[ConfirmationNode]:
    """The record's next round: the first node CURRENT, the others WAITING; a round with no
    confirmers has no nodes. Any node left open by an earlier round is CANCELLED."""
    await cancel_open_nodes(session, record.id)
    last = await session.scalar(
        select(func.max(ConfirmationNode.round)).where(ConfirmationNode.record_id == record.id)
    )
    number = (last or 0) + 1
    now = utcnow()
    nodes = [
        ConfirmationNode(
            enterprise_id=record.enterprise_id,
            record_id=record.id,
            round=number,
            position=position,
            confirmer_id=confirmer_id,
            state=(NodeState.CURRENT if position == 1 else NodeState.WAITING).value,
            submitted_by_id=submitted_by_id,
            submitted_at=now,
        )
        for position, confirmer_id in enumerate(confirmer_ids, start=1)
    ]
    session.add_all(nodes)
    await session.flush()
    return nodes


async def insert_nodes(session: AsyncSession, nodes: Sequence[ConfirmationNode]) -> None:
    """Nodes written as they are (the demo's orders, already through some steps)."""
    session.add_all(nodes)
    await session.flush()


async def latest_rounds(
    session: AsyncSession, enterprise_id: int, record_ids: Sequence[int]
) -> dict[int, list[ConfirmationNode]]:
    """Each record's nodes of its latest round, by position (records never submitted with
    confirmers are absent)."""
    if not record_ids:
        return {}
    latest = (
        select(ConfirmationNode.record_id, func.max(ConfirmationNode.round).label("round"))
        .where(
            ConfirmationNode.enterprise_id == enterprise_id,
            ConfirmationNode.record_id.in_(sorted(set(record_ids))),
        )
        .group_by(ConfirmationNode.record_id)
        .subquery("latest_round")
    )
    rows = await session.scalars(
        select(ConfirmationNode)
        .join(
            latest,
            (latest.c.record_id == ConfirmationNode.record_id)
            & (latest.c.round == ConfirmationNode.round),
        )
        .order_by(ConfirmationNode.record_id, ConfirmationNode.position)
    )
    found: dict[int, list[ConfirmationNode]] = {}
    for node in rows:
        found.setdefault(node.record_id, []).append(node)
    return found


async def current_confirmers(session: AsyncSession, record_ids: Sequence[int]) -> dict[int, int]:
    """Record id -> the confirmer of its CURRENT node, for those that have one."""
    if not record_ids:
        return {}
    rows = await session.execute(
        select(ConfirmationNode.record_id, ConfirmationNode.confirmer_id).where(
            ConfirmationNode.record_id.in_(sorted(set(record_ids))),
            ConfirmationNode.state == NodeState.CURRENT.value,
        )
    )
    return {record_id: confirmer_id for record_id, confirmer_id in rows.all()}


async def cancel_open_nodes(session: AsyncSession, record_id: int) -> None:
    """End the open round: its CURRENT and WAITING nodes are CANCELLED."""
    await session.flush()  # a node just decided is no longer open
    nodes = await session.scalars(
        select(ConfirmationNode).where(
            ConfirmationNode.record_id == record_id,
            ConfirmationNode.state.in_([NodeState.CURRENT.value, NodeState.WAITING.value]),
        )
    )
    for node in nodes:
        node.state = NodeState.CANCELLED.value
    await session.flush()
