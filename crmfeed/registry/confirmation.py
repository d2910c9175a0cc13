"""The confirmation of Sales Orders and Return Forms, as data.

Submitting an order (creating it, or resubmitting it) starts a confirmation round: an ordered
list of confirmation nodes, one confirmer user each, from the submission's own list or the
enterprise's default chain for the type. The first node is CURRENT, the others WAITING; the
current node's confirmer confirms (the next node becomes CURRENT, or the order is CONFIRMED
after the last) or rejects (the order is REJECTED); the owner side withdraws the order while the
first confirmer has not confirmed. A round ended by a rejection or a withdrawal keeps its nodes
as history; a resubmission starts the next round.

An order submitted with no confirmers (no default chain and none given) waits for the Order
Administrators: any of them is its current confirmer.
"""

from __future__ import annotations

from enum import StrEnum

from crmfeed.registry.enums import FunctionRole, ObjectType


class NodeState(StrEnum):
    WAITING = "WAITING"  # a later node; its confirmer has not been asked yet
    CURRENT = "CURRENT"  # the order waits for this node's confirmer
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"  # the round ended (rejected, withdrawn) before this node decided


CONFIRMATION_TYPES: frozenset[ObjectType] = frozenset(
    {ObjectType.SALES_ORDER, ObjectType.RETURN_FORM}
)
"""The object types whose records go through confirmation."""

CONFIRMING = "CONFIRMING"
"""The status an order has while a round is open."""

MAX_NODES = 10
"""Confirmers in one chain at most."""

FALLBACK_CONFIRMER = FunctionRole.ORDER_ADMIN
"""Who confirms an order submitted with no confirmers."""

CURRENT_FIELD = "currentConfirmerId"
FIRST_CONFIRMED_FIELD = "firstConfirmerConfirmed"
MIRRORED_FIELDS = (CURRENT_FIELD, FIRST_CONFIRMED_FIELD)
"""Values the confirmation keeps in step with its nodes (read by the action rules and the typed
fields); only the confirmation transitions write them."""


def confirmable(object_type: ObjectType | str) -> bool:
    return ObjectType(object_type) in CONFIRMATION_TYPES
