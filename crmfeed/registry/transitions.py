"""How a record's status changes: each object type's transitions, declared as data.

A record's `status` is never written as a value: `transitionRecord` applies one of these. A
transition names the statuses it starts from, the status it leads to, who may apply it (the
actors of `actions.py`, plus the CRM administrator, who may apply every transition so that no
record is stuck for lack of a person), the input it needs (a reason, an assignee) and the values
it sets with the status (an account's approval status). `effect` names the extra work a few
transitions do (handing a record to a new owner, converting a lead). The tables are checked
when this module loads: a transition that names an unknown status, field or input stops the
service from starting.

Sales Order and Return Form share `_order_flow`: their confirmation through ordered
confirmation nodes (`crmfeed.registry.confirmation`), then, for a Sales Order, shipping and
receiving.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from crmfeed.registry.actions import (
    ORDER_ROLES,
    OWNER_SIDE,
    STANDARD,
    Actor,
    Condition,
    Rule,
    first_confirmer_pending,
)
from crmfeed.registry.confirmation import CONFIRMATION_TYPES, MIRRORED_FIELDS
from crmfeed.registry.enums import FieldType, ObjectType
from crmfeed.registry.objects import REGISTRY, FieldSpec

if TYPE_CHECKING:
    from collections.abc import Mapping

A = Actor
O = ObjectType  # noqa: E741
F = FieldType
ADMIN = frozenset({A.CRM_ADMIN})
SUPERIOR = frozenset({A.OWNER_SUPERIOR})


class Effect(StrEnum):
    """Extra work a transition does besides setting the status and values."""

    ASSIGN = "ASSIGN"  # the `assigneeId` input becomes the record's owner
    CONVERT_LEAD = "CONVERT_LEAD"  # the lead becomes an account, a contact, maybe an opportunity
    SUBMIT = "SUBMIT"  # a confirmation round starts (the `confirmerIds` input or the default chain)
    CONFIRM = "CONFIRM"  # the current node confirms: the next node, or `to_status` after the last
    REJECT = "REJECT"  # the current node rejects: the round ends
    WITHDRAW = "WITHDRAW"  # the round ends before anyone confirmed


CONFIRMATION_EFFECTS = frozenset({Effect.SUBMIT, Effect.CONFIRM, Effect.REJECT, Effect.WITHDRAW})


REASON = FieldSpec("reason", "Reason", F.LONG_TEXT, required=True)
ASSIGNEE = FieldSpec("assigneeId", "Assign to", F.USER, required=True)
CONFIRMERS = FieldSpec(
    "confirmerIds",
    "Confirmers, in order (default: the enterprise's confirmation chain for the type)",
    F.USERS,
)
CONVERT_INPUTS = (
    FieldSpec("accountName", "Account name (default: the lead's company, else its name)", F.TEXT),
    FieldSpec("contactName", "Contact name (default: the lead's name)", F.TEXT),
    FieldSpec("opportunityName", "Opportunity name (an opportunity is created if given)", F.TEXT),
    FieldSpec("opportunityAmount", "Opportunity amount", F.CURRENCY),
)


@dataclass(frozen=True, slots=True)
class Transition:
    """One way a record's status may change. `done` is the past tense for the feed item."""

    name: str
    label: str
    done: str
    rule: Rule
    to_status: str
    inputs: tuple[FieldSpec, ...] = ()
    sets: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    effect: Effect | None = None

    @property
    def from_statuses(self) -> frozenset[str]:
        return self.rule.statuses

    @property
    def who(self) -> frozenset[Actor]:
        return self.rule.who

    def input(self, name: str) -> FieldSpec | None:
        return next((spec for spec in self.inputs if spec.name == name), None)


def transition(
    name: str,
    label: str,
    done: str,
    *,
    from_: str,
    to: str,
    who: frozenset[Actor],
    inputs: tuple[FieldSpec, ...] = (),
    sets: Mapping[str, Any] | None = None,
    effect: Effect | None = None,
    condition: Condition | None = None,
    describe: str = "",
) -> Transition:
    return Transition(
        name=name,
        label=label,
        done=done,
        rule=Rule(frozenset(from_.split()), frozenset(who | ADMIN), condition, describe),
        to_status=to,
        inputs=inputs,
        sets=MappingProxyType(dict(sets or {})),
        effect=effect,
    )


def not_converted(values: Mapping[str, Any]) -> bool:
    return not values.get("convertedAccountId")


def _order_flow(*, shipping: bool) -> tuple[Transition, ...]:
    """Confirmation through ordered nodes (submit, confirm, reject, withdraw, resubmit), the
    order roles' revocation of a confirmation, and for a Sales Order shipping and receiving.
    The order is received by its owner side (the salesperson hears it from the customer) or
    by the Order Administrator."""
    confirmer = frozenset({A.CURRENT_CONFIRMER})
    order_admin = frozenset({A.ORDER_ADMIN})
    flow = (
        transition(
            "CONFIRM",
            "Confirm",
            "Confirmed",
            from_="CONFIRMING",
            to="CONFIRMED",
            who=confirmer,
            effect=Effect.CONFIRM,
        ),
        transition(
            "REJECT",
            "Reject",
            "Rejected",
            from_="CONFIRMING",
            to="REJECTED",
            who=confirmer,
            inputs=(REASON,),
            effect=Effect.REJECT,
        ),
        transition(
            "WITHDRAW",
            "Withdraw",
            "Withdrawn",
            from_="CONFIRMING",
            to="WITHDRAWN",
            who=STANDARD,
            effect=Effect.WITHDRAW,
            condition=first_confirmer_pending,
            describe="the first confirmer has not confirmed",
        ),
        transition(
            "RESUBMIT",
            "Resubmit",
            "Resubmitted",
            from_="REJECTED WITHDRAWN",
            to="CONFIRMING",
            who=STANDARD,
            inputs=(CONFIRMERS,),
            effect=Effect.SUBMIT,
        ),
        transition(
            "REVOKE_CONFIRMATION",
            "Revoke the confirmation",
            "Confirmation revoked",
            from_="CONFIRMED",
            to="REJECTED",
            who=ORDER_ROLES,
            inputs=(REASON,),
        ),
    )
    if not shipping:
        return flow
    return (
        *flow,
        transition("SHIP", "Ship", "Shipped", from_="CONFIRMED", to="SHIPPED", who=order_admin),
        transition(
            "RECEIVE",
            "Mark received",
            "Marked received",
            from_="SHIPPED",
            to="RECEIVED",
            who=STANDARD | order_admin,
        ),
        transition(
            "REVERT_SHIPMENT",
            "Revert the shipment",
            "Shipment reverted",
            from_="SHIPPED",
            to="CONFIRMED",
            who=order_admin,
            inputs=(REASON,),
        ),
        transition(
            "REVERT_RECEIPT",
            "Revert the receipt",
            "Receipt reverted",
            from_="RECEIVED",
            to="SHIPPED",
            who=order_admin,
            inputs=(REASON,),
        ),
    )


def _finance_flow(
    role: Actor,
    *,
    pending: str,
    done: tuple[str, str, str, str],
    revert: tuple[str, str, str],
) -> tuple[Transition, ...]:
    """A finance record's cycle: its finance role marks it done (name, label, what it says,
    status) or rejects it with a reason; the owner side or the role resubmits a rejected one;
    the role reverts a done one, with a reason."""
    name, label, said, done_status = done
    finance = frozenset({role})
    return (
        transition(name, label, said, from_=pending, to=done_status, who=finance),
        transition(
            "REJECT",
            "Reject",
            "Rejected",
            from_=pending,
            to="REJECTED",
            who=finance,
            inputs=(REASON,),
        ),
        transition(
            "RESUBMIT",
            "Resubmit",
            "Resubmitted",
            from_="REJECTED",
            to=pending,
            who=STANDARD | finance,
        ),
        transition(*revert, from_=done_status, to=pending, who=finance, inputs=(REASON,)),
    )


TRANSITIONS: dict[ObjectType, tuple[Transition, ...]] = {
    O.ACCOUNT: (
        transition(
            "SUBMIT_FOR_REPORTING",
            "Submit for reporting",
            "Submitted for reporting",
            from_="NOT_EFFECTIVE UNASSIGNED",
            to="REPORTING",
            who=STANDARD,
            sets={"approvalStatus": "IN_PROGRESS"},
        ),
        transition(
            "APPROVE",
            "Approve",
            "Approved",
            from_="REPORTING",
            to="ASSIGNED",
            who=SUPERIOR,
            sets={"approvalStatus": "APPROVED", "inHighseas": False},
        ),
        transition(
            "REJECT",
            "Reject",
            "Rejected",
            from_="REPORTING",
            to="NOT_EFFECTIVE",
            who=SUPERIOR,
            inputs=(REASON,),
            sets={"approvalStatus": "REJECTED"},
        ),
        transition(
            "ASSIGN",
            "Assign",
            "Assigned",
            from_="UNASSIGNED",
            to="ASSIGNED",
            who=SUPERIOR,
            inputs=(ASSIGNEE,),
            sets={"inHighseas": False},
            effect=Effect.ASSIGN,
        ),
        transition(
            "RETURN_TO_HIGHSEAS",
            "Return to the highseas",
            "Returned to the highseas",
            from_="ASSIGNED",
            to="UNASSIGNED",
            who=OWNER_SIDE,
            sets={"inHighseas": True},
        ),
    ),
    O.SALES_LEAD: (
        transition(
            "ASSIGN",
            "Assign",
            "Assigned",
            from_="UNASSIGNED",
            to="TO_BE_PROCESSED",
            who=OWNER_SIDE,
            inputs=(ASSIGNEE,),
            effect=Effect.ASSIGN,
        ),
        transition(
            "START_FOLLOWING_UP",
            "Start following up",
            "Following up started",
            from_="TO_BE_PROCESSED",
            to="FOLLOWING_UP",
            who=STANDARD,
        ),
        transition(
            "MARK_INVALID",
            "Mark invalid",
            "Marked invalid",
            from_="UNASSIGNED TO_BE_PROCESSED FOLLOWING_UP",
            to="INVALID",
            who=STANDARD,
            inputs=(REASON,),
        ),
        transition(
            "REOPEN",
            "Reopen",
            "Reopened",
            from_="INVALID",
            to="TO_BE_PROCESSED",
            who=STANDARD,
        ),
        transition(
            "RETURN_TO_POOL",
            "Return to the leads pool",
            "Returned to the leads pool",
            from_="TO_BE_PROCESSED FOLLOWING_UP",
            to="UNASSIGNED",
            who=OWNER_SIDE,
        ),
        transition(
            "CONVERT",
            "Convert",
            "Converted",
            from_="TO_BE_PROCESSED FOLLOWING_UP",
            to="FOLLOWING_UP",
            who=STANDARD,
            inputs=CONVERT_INPUTS,
            effect=Effect.CONVERT_LEAD,
            condition=not_converted,
            describe="it has not been converted yet",
        ),
    ),
    O.OPPORTUNITY: (
        transition(
            "CLOSE_WON",
            "Close won",
            "Closed won",
            from_="IN_PROGRESS",
            to="CLOSE_WON",
            who=STANDARD,
        ),
        transition(
            "CLOSE_LOST",
            "Close lost",
            "Closed lost",
            from_="IN_PROGRESS",
            to="CLOSE_LOST",
            who=STANDARD,
        ),
        transition(
            "MARK_INVALID",
            "Mark invalid",
            "Marked invalid",
            from_="IN_PROGRESS",
            to="INVALID",
            who=STANDARD,
            inputs=(REASON,),
        ),
        transition(
            "REOPEN",
            "Reopen",
            "Reopened",
            from_="CLOSE_WON CLOSE_LOST INVALID",
            to="IN_PROGRESS",
            who=STANDARD,
        ),
    ),
    O.VISIT: (
        transition(
            "COMPLETE", "Complete", "Completed", from_="INCOMPLETE", to="COMPLETED", who=STANDARD
        ),
        transition(
            "REOPEN", "Reopen", "Reopened", from_="COMPLETED", to="INCOMPLETE", who=OWNER_SIDE
        ),
    ),
    O.SALES_ORDER: _order_flow(shipping=True),
    O.RETURN_FORM: _order_flow(shipping=False),
    O.PAYMENT: _finance_flow(
        A.PAYMENT_FINANCE,
        pending="NOT_RECEIVED",
        done=("MARK_RECEIVED", "Mark received", "Marked received", "RECEIVED"),
        revert=("REVERT_RECEIPT", "Revert the receipt", "Receipt reverted"),
    ),
    O.REFUND: _finance_flow(
        A.REFUND_FINANCE,
        pending="NOT_REFUNDED",
        done=("MARK_REFUNDED", "Mark refunded", "Marked refunded", "REFUNDED"),
        revert=("REVERT_REFUND", "Revert the refund", "Refund reverted"),
    ),
    O.INVOICING_APPLICATION: _finance_flow(
        A.INVOICE_FINANCE,
        pending="UNBILLED",
        done=("MARK_INVOICED", "Mark invoiced", "Marked invoiced", "INVOICED"),
        revert=("CANCEL_INVOICE", "Cancel the invoice", "Invoice cancelled"),
    ),
    O.PRODUCT: (
        transition(
            "TAKE_OFF_SHELF",
            "Take off the shelf",
            "Taken off the shelf",
            from_="ON_SHELF",
            to="OFF_SHELF",
            who=STANDARD,
        ),
        transition(
            "PUT_ON_SHELF",
            "Put on the shelf",
            "Put on the shelf",
            from_="OFF_SHELF",
            to="ON_SHELF",
            who=STANDARD,
        ),
    ),
    O.CAMPAIGN: (
        transition("START", "Start", "Started", from_="PLANNED", to="IN_PROGRESS", who=STANDARD),
        transition("CLOSE", "Close", "Closed", from_="IN_PROGRESS", to="CLOSED", who=STANDARD),
        transition(
            "TERMINATE",
            "Terminate",
            "Terminated",
            from_="PLANNED IN_PROGRESS",
            to="TERMINATED",
            who=STANDARD,
            inputs=(REASON,),
        ),
        transition(
            "REPLAN",
            "Plan again",
            "Planned again",
            from_="CLOSED TERMINATED",
            to="PLANNED",
            who=OWNER_SIDE,
        ),
    ),
    O.WORK_ORDER: (
        transition(
            "START_PROCESSING",
            "Start processing",
            "Processing started",
            from_="NEW",
            to="PROCESSING",
            who=STANDARD,
        ),
        transition(
            "RESOLVE", "Resolve", "Resolved", from_="PROCESSING", to="RESOLVED", who=STANDARD
        ),
        transition("CLOSE", "Close", "Closed", from_="RESOLVED", to="CLOSED", who=STANDARD),
        transition("REOPEN", "Reopen", "Reopened", from_="RESOLVED CLOSED", to="NEW", who=STANDARD),
    ),
    # One status each: nothing to change.
    O.CONTACT: (),
    O.CONTRACT: (),
    O.COMPETITOR: (),
}


def transitions_of(object_type: ObjectType | str) -> tuple[Transition, ...]:
    return TRANSITIONS[ObjectType(object_type)]


def find(object_type: ObjectType | str, name: str) -> Transition | None:
    return next((t for t in transitions_of(object_type) if t.name == name), None)


def validate(table: Mapping[ObjectType, tuple[Transition, ...]]) -> None:
    """Raise RuntimeError unless the table names real statuses, fields, options and inputs
    (run on `TRANSITIONS` when this module loads)."""
    if set(table) != set(ObjectType):
        raise RuntimeError("transitions: every object type must declare its transitions")
    for object_type, declared in table.items():
        spec = REGISTRY[object_type]
        where = f"transitions of {spec.type_name}"
        names = [t.name for t in declared]
        if len(set(names)) != len(names):
            raise RuntimeError(f"{where}: a transition name is declared twice")
        for t in declared:
            unknown = sorted((t.from_statuses | {t.to_status}) - set(spec.status_keys))
            if unknown or not t.from_statuses:
                raise RuntimeError(f"{where}: {t.name} names unknown statuses {unknown}")
            if t.to_status in t.from_statuses and t.effect is None:
                raise RuntimeError(f"{where}: {t.name} leads back to a status it starts from")
            if not t.who:
                raise RuntimeError(f"{where}: {t.name} names no one who may apply it")
            for name, value in t.sets.items():
                target = spec.field_map.get(name)
                if target is None or (target.options and value not in target.options):
                    raise RuntimeError(f"{where}: {t.name} sets {name}={value!r}, not a field")
            inputs = [i.name for i in t.inputs]
            if len(set(inputs)) != len(inputs):
                raise RuntimeError(f"{where}: {t.name} declares an input twice")
            if t.effect is Effect.ASSIGN and t.input("assigneeId") is None:
                raise RuntimeError(f"{where}: {t.name} assigns but has no assigneeId input")
            if t.effect in CONFIRMATION_EFFECTS and object_type not in CONFIRMATION_TYPES:
                raise RuntimeError(f"{where}: {t.name}: only an order type is confirmed")
            if t.effect is Effect.CONVERT_LEAD:
                if object_type is not O.SALES_LEAD:
                    raise RuntimeError(f"{where}: only a Sales Lead can be converted")
                missing = [f for f in CONVERTED_FIELDS if f not in spec.field_map]
                if missing:
                    raise RuntimeError(f"{where}: {missing[0]} is not a Sales Lead field")


CONVERTED_FIELDS = ("convertedAccountId", "convertedContactId", "convertedOpportunityId")

validate(TRANSITIONS)

MANAGED_BY: dict[tuple[ObjectType, str], str] = {
    **{
        (object_type, name): t.name
        for object_type, declared in TRANSITIONS.items()
        for t in reversed(declared)  # the first transition that sets a field names it
        for name in t.sets
    },
    **{
        (object_type, name): t.name
        for object_type, declared in TRANSITIONS.items()
        for t in declared
        if t.effect is Effect.CONVERT_LEAD
        for name in CONVERTED_FIELDS
    },
    **{
        (object_type, name): t.name
        for object_type, declared in TRANSITIONS.items()
        for t in declared
        if t.effect is Effect.CONFIRM
        for name in MIRRORED_FIELDS
    },
}
"""(object type, field) -> a transition that writes the field: `values` may not, or a record
could say it is approved, in the highseas, converted or confirmed while its status says
otherwise."""
