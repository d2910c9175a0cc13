"""Who may do which record action in which status (seed 002 tables).

Each action maps object type -> rules; a rule is (statuses, who, optional condition on the
record's values). A user may act when any rule whose statuses and condition match names one of
the actors the user is for that record. `checker.py` in resolvers evaluates these; nothing else
decides who may act.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from crmfeed.registry.enums import ObjectType
from crmfeed.registry.objects import REGISTRY

O = ObjectType  # noqa: E741


class Action(StrEnum):
    EDIT = "EDIT"
    CHANGE_OWNER = "CHANGE_OWNER"
    ADD_TEAM_MEMBER = "ADD_TEAM_MEMBER"
    INVALIDATE = "INVALIDATE"
    RESTORE = "RESTORE"
    DELETE = "DELETE"
    FORWARD = "FORWARD"


class Actor(StrEnum):
    """What a user may be for a record; roles count whatever the record."""

    READER = "READER"  # anyone who may read the record
    OWNER = "OWNER"
    OWNER_SUPERIOR = "OWNER_SUPERIOR"
    SHARED_RW = "SHARED_RW"
    TEAM_RW = "TEAM_RW"
    TEAM_RW_SUPERIOR = "TEAM_RW_SUPERIOR"
    CURRENT_CONFIRMER = "CURRENT_CONFIRMER"
    CRM_ADMIN = "CRM_ADMIN"
    ORDER_ADMIN = "ORDER_ADMIN"
    ORDER_FINANCE = "ORDER_FINANCE"
    PAYMENT_FINANCE = "PAYMENT_FINANCE"
    REFUND_FINANCE = "REFUND_FINANCE"
    INVOICE_FINANCE = "INVOICE_FINANCE"


A = Actor
STANDARD = frozenset({A.OWNER, A.OWNER_SUPERIOR, A.SHARED_RW, A.TEAM_RW, A.TEAM_RW_SUPERIOR})
OWNER_SIDE = frozenset({A.OWNER, A.OWNER_SUPERIOR, A.SHARED_RW})
ORDER_ROLES = frozenset({A.ORDER_ADMIN, A.ORDER_FINANCE})

Condition = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class Rule:
    statuses: frozenset[str]
    who: frozenset[Actor]
    condition: Condition | None = None
    describe: str = ""

    def applies(self, status: str, values: Mapping[str, Any]) -> bool:
        return status in self.statuses and (self.condition is None or self.condition(values))


def rule(
    statuses: str,
    who: frozenset[Actor] | set[Actor],
    condition: Condition | None = None,
    describe: str = "",
) -> Rule:
    return Rule(frozenset(statuses.split()), frozenset(who), condition, describe)


def every_status(object_type: ObjectType) -> str:
    return " ".join(REGISTRY[object_type].status_keys)


def approval_not_in_progress(values: Mapping[str, Any]) -> bool:
    return values.get("approvalStatus") != "IN_PROGRESS"


def first_confirmer_pending(values: Mapping[str, Any]) -> bool:
    return not values.get("firstConfirmerConfirmed")


def not_in_highseas(values: Mapping[str, Any]) -> bool:
    return not values.get("inHighseas")


EDIT: dict[ObjectType, tuple[Rule, ...]] = {
    O.ACCOUNT: (
        rule(
            "ASSIGNED REPORTING",
            STANDARD,
            approval_not_in_progress,
            "approval status is not In Progress",
        ),
    ),
    O.CONTACT: (rule("NORMAL", STANDARD),),
    O.SALES_LEAD: (rule("UNASSIGNED TO_BE_PROCESSED FOLLOWING_UP INVALID", STANDARD),),
    O.OPPORTUNITY: (rule("IN_PROGRESS CLOSE_WON CLOSE_LOST INVALID", STANDARD),),
    O.VISIT: (rule("INCOMPLETE", STANDARD),),
    O.SALES_ORDER: (
        rule(
            "CONFIRMING",
            STANDARD | ORDER_ROLES,
            first_confirmer_pending,
            "the first confirmer has not confirmed",
        ),
        rule("REJECTED WITHDRAWN", STANDARD | ORDER_ROLES),
        rule("CONFIRMING", {A.CURRENT_CONFIRMER} | ORDER_ROLES),
        rule("CONFIRMED SHIPPED RECEIVED", ORDER_ROLES),
    ),
    O.RETURN_FORM: (
        rule(
            "CONFIRMING",
            STANDARD | ORDER_ROLES,
            first_confirmer_pending,
            "the first confirmer has not confirmed",
        ),
        rule("REJECTED WITHDRAWN", STANDARD | ORDER_ROLES),
        rule("CONFIRMING", {A.CURRENT_CONFIRMER} | ORDER_ROLES),
        rule("CONFIRMED", ORDER_ROLES),
    ),
    O.PAYMENT: (
        rule("NOT_RECEIVED REJECTED", STANDARD | {A.PAYMENT_FINANCE}),
        rule("RECEIVED", {A.PAYMENT_FINANCE}),
    ),
    O.REFUND: (
        rule("NOT_REFUNDED REJECTED", STANDARD | {A.REFUND_FINANCE}),
        rule("REFUNDED", {A.REFUND_FINANCE}),
    ),
    O.PRODUCT: (rule("ON_SHELF OFF_SHELF", STANDARD),),
    O.CONTRACT: (rule("NORMAL", STANDARD),),
    O.INVOICING_APPLICATION: (
        rule("UNBILLED REJECTED", STANDARD),
        rule("INVOICED", {A.INVOICE_FINANCE}),
    ),
    O.CAMPAIGN: (rule(every_status(O.CAMPAIGN), STANDARD),),
    # Not in the seed tables; a CRM user expects the standard writers to edit these.
    O.COMPETITOR: (rule("NORMAL", STANDARD),),
    O.WORK_ORDER: (rule(every_status(O.WORK_ORDER), STANDARD),),
}

CHANGE_OWNER: dict[ObjectType, tuple[Rule, ...]] = {
    O.ACCOUNT: (
        rule(
            every_status(O.ACCOUNT), OWNER_SIDE, not_in_highseas, "the account is not in highseas"
        ),
    ),
    O.CONTACT: (rule("NORMAL", OWNER_SIDE),),
    O.SALES_LEAD: (rule("TO_BE_PROCESSED FOLLOWING_UP INVALID", OWNER_SIDE),),
    O.OPPORTUNITY: (rule(every_status(O.OPPORTUNITY), OWNER_SIDE),),
    O.SALES_ORDER: (rule(every_status(O.SALES_ORDER), OWNER_SIDE | ORDER_ROLES),),
    O.RETURN_FORM: (rule(every_status(O.RETURN_FORM), OWNER_SIDE | {A.ORDER_ADMIN}),),
    O.PAYMENT: (rule(every_status(O.PAYMENT), OWNER_SIDE | {A.PAYMENT_FINANCE}),),
    O.REFUND: (rule(every_status(O.REFUND), OWNER_SIDE | {A.REFUND_FINANCE}),),
    O.PRODUCT: (rule("ON_SHELF OFF_SHELF", OWNER_SIDE),),
    O.INVOICING_APPLICATION: (
        rule(every_status(O.INVOICING_APPLICATION), OWNER_SIDE | {A.INVOICE_FINANCE}),
    ),
    O.CAMPAIGN: (rule(every_status(O.CAMPAIGN), OWNER_SIDE),),
    # Not in the seed table; the same owner-side rule a CRM user expects.
    O.VISIT: (rule(every_status(O.VISIT), OWNER_SIDE),),
    O.CONTRACT: (rule("NORMAL", OWNER_SIDE),),
    O.COMPETITOR: (rule("NORMAL", OWNER_SIDE),),
    O.WORK_ORDER: (rule(every_status(O.WORK_ORDER), OWNER_SIDE),),
}

ADD_TEAM_MEMBER: dict[ObjectType, tuple[Rule, ...]] = {
    O.ACCOUNT: (rule("NOT_EFFECTIVE REPORTING ASSIGNED", STANDARD),),
    O.CONTACT: (rule("NORMAL", STANDARD),),
    O.SALES_LEAD: (rule("TO_BE_PROCESSED FOLLOWING_UP INVALID", STANDARD),),
    O.OPPORTUNITY: (rule(every_status(O.OPPORTUNITY), STANDARD),),
    O.SALES_ORDER: (rule(every_status(O.SALES_ORDER), STANDARD),),
    O.RETURN_FORM: (rule(every_status(O.RETURN_FORM), STANDARD),),
    O.PAYMENT: (rule(every_status(O.PAYMENT), STANDARD),),
    O.REFUND: (rule(every_status(O.REFUND), STANDARD),),
    O.PRODUCT: (rule("ON_SHELF OFF_SHELF", STANDARD),),
    O.INVOICING_APPLICATION: (rule(every_status(O.INVOICING_APPLICATION), STANDARD),),
    O.CAMPAIGN: (rule(every_status(O.CAMPAIGN), STANDARD),),
    # Not in seed 三; a CRM user expects the standard writers to manage these teams too.
    O.VISIT: (rule(every_status(O.VISIT), STANDARD),),
    O.CONTRACT: (rule("NORMAL", STANDARD),),
    O.COMPETITOR: (rule("NORMAL", STANDARD),),
    O.WORK_ORDER: (rule(every_status(O.WORK_ORDER), STANDARD),),
}

INVALIDATE: dict[ObjectType, tuple[Rule, ...]] = {
    O.ACCOUNT: (rule(every_status(O.ACCOUNT), {A.OWNER, A.OWNER_SUPERIOR}),),
    O.CONTACT: (rule("NORMAL", STANDARD),),
    O.SALES_LEAD: (rule("TO_BE_PROCESSED FOLLOWING_UP INVALID", STANDARD),),
    O.OPPORTUNITY: (rule(every_status(O.OPPORTUNITY), STANDARD),),
    O.VISIT: (rule(every_status(O.VISIT), STANDARD),),
    O.SALES_ORDER: (
        rule("REJECTED WITHDRAWN", STANDARD | ORDER_ROLES),
        rule("CONFIRMED SHIPPED RECEIVED", {A.SHARED_RW} | ORDER_ROLES),
    ),
    O.RETURN_FORM: (
        rule("REJECTED WITHDRAWN", STANDARD | ORDER_ROLES),
        rule("CONFIRMED", {A.SHARED_RW} | ORDER_ROLES),
    ),
    O.PAYMENT: (
        rule("NOT_RECEIVED REJECTED", STANDARD | {A.PAYMENT_FINANCE}),
        rule("RECEIVED", {A.SHARED_RW, A.PAYMENT_FINANCE}),
    ),
    O.REFUND: (
        rule("NOT_REFUNDED REJECTED", STANDARD | {A.REFUND_FINANCE}),
        rule("REFUNDED", {A.SHARED_RW, A.REFUND_FINANCE}),
    ),
    O.PRODUCT: (rule("OFF_SHELF", STANDARD),),
    O.INVOICING_APPLICATION: (
        rule("UNBILLED REJECTED", STANDARD | {A.INVOICE_FINANCE}),
        rule("INVOICED", {A.SHARED_RW, A.INVOICE_FINANCE}),
    ),
    O.CAMPAIGN: (rule(every_status(O.CAMPAIGN), STANDARD),),
    O.COMPETITOR: (rule("NORMAL", OWNER_SIDE),),
    # Not in seed 四; a CRM user expects the standard writers to void these.
    O.CONTRACT: (rule("NORMAL", STANDARD),),
    O.WORK_ORDER: (rule(every_status(O.WORK_ORDER), STANDARD),),
}

ADMIN_ONLY: dict[ObjectType, tuple[Rule, ...]] = {
    o: (rule(every_status(o), {A.CRM_ADMIN}),) for o in ObjectType
}

FORWARD: dict[ObjectType, tuple[Rule, ...]] = {
    # Seed 八: anyone who may read a record may send its card; a recipient who may not read
    # it sees the card only.
    o: (rule(every_status(o), {A.READER}),)
    for o in ObjectType
}

RULES: dict[Action, dict[ObjectType, tuple[Rule, ...]]] = {
    Action.EDIT: EDIT,
    Action.CHANGE_OWNER: CHANGE_OWNER,
    Action.ADD_TEAM_MEMBER: ADD_TEAM_MEMBER,
    Action.INVALIDATE: INVALIDATE,
    Action.RESTORE: ADMIN_ONLY,
    Action.DELETE: ADMIN_ONLY,
    Action.FORWARD: FORWARD,
}

ACTION_LABELS: dict[Action, str] = {
    Action.EDIT: "edit",
    Action.CHANGE_OWNER: "change the owner of",
    Action.ADD_TEAM_MEMBER: "change the related team of",
    Action.INVALIDATE: "invalidate",
    Action.RESTORE: "restore",
    Action.DELETE: "delete",
    Action.FORWARD: "forward",
}

if set(EDIT) != set(ObjectType) or any(set(t) != set(ObjectType) for t in RULES.values()):
    raise RuntimeError("every action must declare rules for every object type")
