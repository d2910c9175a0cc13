"""The confirmation of Sales Orders and Return Forms: what the confirmation transitions do to a
record's nodes, its submission on creation, and the enterprise's default chains.

The rules (who confirms, the node states) are `crmfeed.registry.confirmation`; the
transitions that run these effects are `crmfeed.registry.transitions` (`_order_flow`). Each
effect returns what the SALES_PROCESS item says and whom to notify; `resolvers.transitions`
writes both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from crmfeed.ids import Kind, from_global, to_global
from crmfeed.registry.confirmation import (
    CONFIRMATION_TYPES,
    CONFIRMING,
    CURRENT_FIELD,
    FALLBACK_CONFIRMER,
    FIRST_CONFIRMED_FIELD,
    MAX_NODES,
    NodeState,
    confirmable,
)
from crmfeed.registry.feed import FeedItemType
from crmfeed.registry.objects import spec_for
from crmfeed.registry.transitions import Effect
from resolvers import notify, system_items
from resolvers.errors import BadUserInput
from resolvers.validation import merged
from store import confirmation, org
from store.types import utcnow

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from crmfeed.registry.enums import ObjectType
    from resolvers.context import Context
    from store.confirmation_tables import ConfirmationNode
    from store.models import Record, User
    from store.viewer import Viewer

FIELD = "input.confirmerIds"


@dataclass(slots=True)
class Outcome:
    """What a confirmation effect did: the item's first line (the status change is added),
    the status it leaves (None: the transition's), who is asked to confirm now, and who
    learns the result (the submitter)."""

    said: str
    status: str | None = None
    ask: list[int] = field(default_factory=list)
    tell: list[int] = field(default_factory=list)
    nodes: int = 0  # the nodes a submission made


def _names(users: Sequence[User]) -> str:
    return ", then ".join(user.name for user in users)


async def _confirmers(
    session: AsyncSession, enterprise_id: int, ids: Sequence[int], where: str
) -> list[User]:
    """The users behind the ids, in order; BAD_USER_INPUT unless each is an active user of the
    enterprise, named once, and there are at most MAX_NODES."""
    if len(ids) > MAX_NODES:
        raise BadUserInput(f"{where}: at most {MAX_NODES} confirmers.", field=where)
    if len(set(ids)) != len(ids):
        raise BadUserInput(f"{where}: a confirmer is named twice.", field=where)
    found = await org.users_by_ids(session, enterprise_id, ids)
    for number in ids:
        user = found.get(number)
        if user is None or not user.active:
            raise BadUserInput(f"{where}: no active user with id usr_{number} exists.", field=where)
    return [found[number] for number in ids]


def parse_confirmer_ids(raw: Sequence[str], where: str) -> list[int]:
    try:
        return [from_global(Kind.USER, value) for value in raw]
    except ValueError:
        raise BadUserInput(f"{where}: expected user ids.", field=where) from None


async def _round(session: AsyncSession, record: Record) -> list[ConfirmationNode]:
    rounds = await confirmation.latest_rounds(session, record.enterprise_id, [record.id])
    return rounds.get(record.id, [])


async def submit(
    session: AsyncSession, viewer: Viewer, record: Record, given: Sequence[str] | None
) -> Outcome:
    """Start a round with the given confirmers, or the enterprise's default chain (its active
    users); with none, the order waits for the Order Administrators."""
    if given is not None:
        users = await _confirmers(
            session, viewer.enterprise_id, parse_confirmer_ids(given, FIELD), FIELD
        )
    else:
        chain = await confirmation.default_chain(session, viewer.enterprise_id, record.object_type)
        found = await org.users_by_ids(session, viewer.enterprise_id, chain)
        users = [found[n] for n in chain if n in found and found[n].active]
    nodes = await confirmation.start_round(session, record, [u.id for u in users], viewer.id)
    record.values = merged(
        record.values or {},
        {
            CURRENT_FIELD: _user_ref(nodes[0].confirmer_id) if nodes else None,
            FIRST_CONFIRMED_FIELD: None,  # absent: no one has confirmed
        },
    )
    if nodes:
        said = f"for confirmation to {_names(users)}"
        return Outcome(said=said, ask=[nodes[0].confirmer_id], nodes=len(nodes))
    fallback = await org.role_holder_ids(session, viewer.enterprise_id, FALLBACK_CONFIRMER)
    return Outcome(said="for confirmation to the Order Administrators", ask=fallback)


def _user_ref(number: int) -> str:
    return to_global(Kind.USER, number)


async def confirm(session: AsyncSession, viewer: Viewer, record: Record, actor: str) -> Outcome:
    """The current node confirms: the next one becomes current, or after the last the order
    is confirmed (an order with no nodes is confirmed at once by its Order Administrator)."""
    nodes = await _round(session, record)
    current = next((n for n in nodes if n.state == NodeState.CURRENT), None)
    if current is None:
        record.values = merged(record.values or {}, {CURRENT_FIELD: None})
        return Outcome(said=f"Confirmed by {actor}")
    _decide(current, viewer, NodeState.CONFIRMED, None)
    changes: dict[str, Any] = {}
    if current.position == 1:
        changes[FIRST_CONFIRMED_FIELD] = True
    names = await _node_names(session, viewer, nodes)
    on_behalf = f" for {names[current.confirmer_id]}" if current.confirmer_id != viewer.id else ""
    said = f"Confirmed by {actor}{on_behalf} ({current.position} of {len(nodes)})"
    following = next((n for n in nodes if n.position == current.position + 1), None)
    submitter = [current.submitted_by_id]
    if following is not None:
        following.state = NodeState.CURRENT.value
        changes[CURRENT_FIELD] = _user_ref(following.confirmer_id)
        record.values = merged(record.values or {}, changes)
        await session.flush()
        return Outcome(
            said=f"{said}; now waiting for {names[following.confirmer_id]}",
            status=CONFIRMING,
            ask=[following.confirmer_id],
        )
    changes[CURRENT_FIELD] = None
    record.values = merged(record.values or {}, changes)
    await session.flush()
    return Outcome(said=said, tell=submitter)


async def reject(
    session: AsyncSession, viewer: Viewer, record: Record, actor: str, reason: str
) -> Outcome:
    """The current node rejects: the round ends."""
    nodes = await _round(session, record)
    current = next((n for n in nodes if n.state == NodeState.CURRENT), None)
    said = f"Rejected by {actor}"
    tell: list[int] = []
    if current is not None:
        _decide(current, viewer, NodeState.REJECTED, reason)
        names = await _node_names(session, viewer, nodes)
        if current.confirmer_id != viewer.id:
            said += f" for {names[current.confirmer_id]}"
        said += f" ({current.position} of {len(nodes)})"
        tell = [current.submitted_by_id]
    await confirmation.cancel_open_nodes(session, record.id)
    record.values = merged(record.values or {}, {CURRENT_FIELD: None})
    return Outcome(said=said, tell=tell)


async def withdraw(session: AsyncSession, record: Record, actor: str) -> Outcome:
    """The round ends before anyone confirmed."""
    await confirmation.cancel_open_nodes(session, record.id)
    record.values = merged(record.values or {}, {CURRENT_FIELD: None})
    return Outcome(said=f"Withdrawn by {actor}")


def _decide(node: ConfirmationNode, viewer: Viewer, state: NodeState, comment: str | None) -> None:
    node.state = state.value
    node.decided_by_id = viewer.id
    node.decided_at = utcnow()
    node.comment = comment


async def _node_names(
    session: AsyncSession, viewer: Viewer, nodes: Sequence[ConfirmationNode]
) -> dict[int, str]:
    found = await org.users_by_ids(session, viewer.enterprise_id, [n.confirmer_id for n in nodes])
    return {number: user.name for number, user in found.items()}


async def run(
    effect: Effect,
    session: AsyncSession,
    viewer: Viewer,
    record: Record,
    actor: str,
    given: dict[str, Any],
) -> Outcome:
    """Apply a confirmation effect of a transition."""
    if effect is Effect.SUBMIT:
        outcome = await submit(session, viewer, record, given.get("confirmerIds"))
        outcome.said = f"Resubmitted by {actor} {outcome.said}"
        return outcome
    if effect is Effect.CONFIRM:
        return await confirm(session, viewer, record, actor)
    if effect is Effect.REJECT:
        return await reject(session, viewer, record, actor, given["reason"])
    return await withdraw(session, record, actor)


async def submitted_on_creation(
    session: AsyncSession, viewer: Viewer, record: Record
) -> list[tuple[int, int]]:
    """A new order is submitted: with the enterprise's default chain, its round starts, a
    SALES_PROCESS item says so and the first confirmer is asked (with no chain it waits for
    the Order Administrators, who list it, and nothing is written: only a resubmission with no
    confirmers asks them). Returns the notifications written."""
    if not confirmable(record.object_type) or record.status != CONFIRMING:
        return []
    outcome = await submit(session, viewer, record, None)
    if not outcome.nodes:
        return []
    me = await org.get_user(session, viewer.enterprise_id, viewer.id)
    actor = me.name if me else "Someone"
    item = await system_items.system_item(
        session,
        viewer,
        FeedItemType.SALES_PROCESS,
        f"Submitted by {actor} {outcome.said}.",
        [record.id],
    )
    return await notify.confirmation_step(
        session, viewer, actor, record, item, ask=outcome.ask, tell=[record.owner_id]
    )


# -- the enterprise's default chains -------------------------------------------------------------


def _confirmable_type(object_type: ObjectType) -> None:
    if object_type not in CONFIRMATION_TYPES:
        names = " and ".join(sorted(spec_for(o).label for o in CONFIRMATION_TYPES))
        raise BadUserInput(
            f"objectType: only {names} records are confirmed; "
            f"{spec_for(object_type).label} has no confirmation chain.",
            field="objectType",
        )


async def default_chain(context: Context, object_type: ObjectType) -> list[User]:
    """The enterprise's default confirmation chain for the type, in order."""
    viewer = await context.viewer()
    _confirmable_type(object_type)
    async with context.db() as session:
        chain = await confirmation.default_chain(session, viewer.enterprise_id, object_type.value)
        found = await org.users_by_ids(session, viewer.enterprise_id, chain)
    return [found[number] for number in chain if number in found]


async def set_default_chain(
    context: Context, object_type: ObjectType, confirmer_ids: Sequence[str]
) -> list[User]:
    """Replace the type's default chain (an empty list clears it); orders already submitted
    keep their nodes."""
    viewer = await context.viewer()
    _confirmable_type(object_type)
    ids = parse_confirmer_ids(confirmer_ids, "confirmerIds")
    async with context.db() as session:
        users = await _confirmers(session, viewer.enterprise_id, ids, "confirmerIds")
        await confirmation.set_default_chain(
            session, viewer.enterprise_id, object_type.value, [u.id for u in users]
        )
        await session.commit()
    return users
