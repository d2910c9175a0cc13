"""The one checker for record actions: reads `crmfeed.registry.actions` (who may act in which
status) and the viewer's function permissions (`crmfeed.registry.permissions`); nothing else
decides. `allowedActions`, `transitions` and every record mutation ask it the same question.

Other features that need a function permission (import, export, print, mail) call
`require_permission(context, object_type, operation)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crmfeed.registry.actions import ACTION_LABELS, RULES, Action, Actor
from crmfeed.registry.confirmation import FALLBACK_CONFIRMER
from crmfeed.registry.enums import FunctionRole, LifeStatus, ObjectType
from crmfeed.registry.objects import spec_for
from crmfeed.registry.permissions import (
    ACTION_PERMISSIONS,
    ACTIVITY_OPERATIONS,
    OPERATIONS,
    permission,
)
from resolvers.errors import Conflict, Forbidden
from store.access import AccessFacts, access_facts

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from crmfeed.registry.transitions import Transition
    from resolvers.context import Context
    from store.models import Record
    from store.viewer import Viewer


@dataclass(frozen=True, slots=True)
class Standing:
    """What a viewer is for one record (the actors the rules name) and the function
    permissions their roles grant."""

    actors: frozenset[Actor]
    permissions: frozenset[str]


ROLE_ACTORS: dict[FunctionRole, Actor] = {
    FunctionRole.CRM_ADMIN: Actor.CRM_ADMIN,
    FunctionRole.ORDER_ADMIN: Actor.ORDER_ADMIN,
    FunctionRole.ORDER_FINANCE: Actor.ORDER_FINANCE,
    FunctionRole.PAYMENT_FINANCE: Actor.PAYMENT_FINANCE,
    FunctionRole.REFUND_FINANCE: Actor.REFUND_FINANCE,
    FunctionRole.INVOICE_FINANCE: Actor.INVOICE_FINANCE,
}

ACTOR_LABELS: dict[Actor, str] = {
    Actor.READER: "those who may read it",
    Actor.OWNER: "the owner",
    Actor.OWNER_SUPERIOR: "the owner's superiors",
    Actor.SHARED_RW: "parties it is shared with Read & Write",
    Actor.TEAM_RW: "related-team members with Read & Write",
    Actor.TEAM_RW_SUPERIOR: "the superiors of those members",
    Actor.CURRENT_CONFIRMER: "the current confirmer (Order Administrators when it has none)",
    Actor.CRM_ADMIN: "CRM administrators",
    Actor.ORDER_ADMIN: "Order Administrators",
    Actor.ORDER_FINANCE: "Order Finance",
    Actor.PAYMENT_FINANCE: "Payment Finance",
    Actor.REFUND_FINANCE: "Refund Finance",
    Actor.INVOICE_FINANCE: "Invoice Finance",
}


def actors(viewer: Viewer, record: Record, facts: AccessFacts) -> set[Actor]:
    """What the viewer is for this record, in the vocabulary of the action rules (a record
    the viewer may read: every action loads it readable first)."""
    found = {ROLE_ACTORS[role] for role in viewer.roles if role in ROLE_ACTORS} | {Actor.READER}
    checks = {
        Actor.OWNER: facts.is_owner,
        Actor.OWNER_SUPERIOR: facts.superior_of_owner,
        Actor.SHARED_RW: facts.shared_rw,
        Actor.TEAM_RW: facts.team_rw,
        Actor.TEAM_RW_SUPERIOR: facts.team_rw_superior,
        Actor.CURRENT_CONFIRMER: facts.current_confirmer
        or (facts.no_confirmer and FALLBACK_CONFIRMER in viewer.roles),
    }
    found.update(actor for actor, holds in checks.items() if holds)
    return found


def standing(viewer: Viewer, record: Record, facts: AccessFacts) -> Standing:
    return Standing(frozenset(actors(viewer, record, facts)), viewer.permissions)


ON_INVALID = frozenset({Action.RESTORE, Action.DELETE})


def needed_permission(action: Action, record: Record) -> str | None:
    """The function permission the action needs on this record's type, if any."""
    operation = ACTION_PERMISSIONS.get(action)
    return None if operation is None else permission(record.object_type, operation)


def allowed(action: Action, record: Record, who: Standing) -> bool:
    if (record.life_status != LifeStatus.NORMAL) != (action in ON_INVALID):
        return False
    needed = needed_permission(action, record)
    if needed is not None and needed not in who.permissions:
        return False
    rules = RULES[action][ObjectType(record.object_type)]
    status = record.status_before_invalid if action is Action.RESTORE else record.status
    return any(
        rule.applies(status or record.status, record.values or {}) and who.actors & rule.who
        for rule in rules
    )


def lacking(action: Action, record: Record, needed: str) -> Forbidden:
    verb = ACTION_LABELS[action]
    return Forbidden(
        f"To {verb} a {spec_for(record.object_type).label} you need the function permission "
        f"{needed}, which none of your roles grants.",
        rule=f"PERMISSION:{needed}",
    )


def refusal(action: Action, record: Record) -> Forbidden:
    """Say which rule refused, in terms of the record the caller can already read."""
    spec = spec_for(record.object_type)
    verb = ACTION_LABELS[action]
    matching = [
        rule
        for rule in RULES[action][spec.object_type]
        if rule.applies(record.status, record.values or {})
    ]
    if not matching:
        unmet = [
            rule.describe
            for rule in RULES[action][spec.object_type]
            if record.status in rule.statuses and rule.describe
        ]
        when = f" unless {' or '.join(unmet)}" if unmet else ""
        return Forbidden(
            f"No one may {verb} a {spec.label} in status {record.status}{when}.",
            rule=f"{action.value}:{spec.object_type.value}:{record.status}",
        )
    who = sorted({ACTOR_LABELS[actor] for rule in matching for actor in rule.who})
    return Forbidden(
        f"Only {', '.join(who)} may {verb} a {spec.label} in status {record.status}.",
        rule=f"{action.value}:{spec.object_type.value}:{record.status}",
    )


NOT_INVALID = {
    Action.RESTORE: "Only an invalid record can be restored; this one is not invalid.",
    Action.DELETE: "Only invalid records can be deleted: invalidate it first.",
}


def check(action: Action, record: Record, who: Standing) -> None:
    """Raise CONFLICT for a record in the wrong life status, FORBIDDEN unless the action's
    rules let `who` act on it now and they hold the function permission it needs (the
    message names the rule or the permission). Restoring or deleting a record that is not
    invalid is FORBIDDEN to those the rules never let do it, a CONFLICT for the others."""
    if record.life_status != LifeStatus.NORMAL and action not in ON_INVALID:
        raise Conflict("This record is invalid (in the recycle bin): restore it first.")
    if record.life_status == LifeStatus.NORMAL and action in ON_INVALID:
        if not any(who.actors & r.who for r in RULES[action][ObjectType(record.object_type)]):
            raise refusal(action, record)
        raise Conflict(NOT_INVALID[action])
    needed = needed_permission(action, record)
    if (
        needed is not None
        and needed not in who.permissions
        and allowed(action, record, Standing(who.actors, who.permissions | {needed}))
    ):
        raise lacking(action, record, needed)
    if not allowed(action, record, who):
        raise refusal(action, record)


async def require(session: AsyncSession, viewer: Viewer, record: Record, action: Action) -> None:
    """Raise FORBIDDEN unless the viewer may do the action on this record now."""
    check(action, record, await standing_for(session, viewer, record))


async def standing_for(session: AsyncSession, viewer: Viewer, record: Record) -> Standing:
    """What the viewer is for this record (one access-facts read) and what they may do."""
    return standing(viewer, record, await access_facts(session, viewer, record))


# -- transitions ---------------------------------------------------------------------------------


def transition_allowed(transition: Transition, record: Record, who: Standing) -> bool:
    return (
        record.life_status == LifeStatus.NORMAL
        and transition.rule.applies(record.status, record.values or {})
        and bool(who.actors & transition.who)
    )


def check_transition(transition: Transition, record: Record, who: Standing) -> None:
    """CONFLICT on an invalid record; FORBIDDEN, saying which part of the rule refused,
    unless `who` may apply the transition to the record now."""
    if record.life_status != LifeStatus.NORMAL:
        raise Conflict("This record is invalid (in the recycle bin): restore it first.")
    spec = spec_for(record.object_type)
    rule = transition.rule
    code = f"TRANSITION:{spec.object_type.value}:{transition.name}:{record.status}"
    if record.status not in rule.statuses:
        raise Forbidden(
            f"{transition.label} applies to a {spec.label} in status "
            f"{' or '.join(sorted(rule.statuses))}; this one is {record.status}.",
            rule=code,
        )
    if not rule.applies(record.status, record.values or {}):
        raise Forbidden(
            f"{transition.label} applies to a {spec.label} only when {rule.describe}.", rule=code
        )
    if not who.actors & rule.who:
        names = sorted(ACTOR_LABELS[actor] for actor in rule.who)
        raise Forbidden(
            f"Only {', '.join(names)} may {transition.label.lower()} a {spec.label} "
            f"in status {record.status}.",
            rule=code,
        )


async def may(session: AsyncSession, viewer: Viewer, record: Record, action: Action) -> bool:
    return allowed(action, record, await standing_for(session, viewer, record))


# -- function permissions, for features outside the record actions -------------------------------


def check_permission(
    viewer: Viewer, object_type: ObjectType | str, operation: str, *, doing: str = "This"
) -> None:
    """FORBIDDEN, naming the permission, unless the viewer's roles grant `operation` on the
    object type (`ObjectType.ACCOUNT` or "ACCOUNT"; or "SalesRecord" / "ServiceRecord");
    `doing` starts the message ("Creating a Product")."""
    known = ACTIVITY_OPERATIONS.get(str(object_type), OPERATIONS)
    if operation not in known:
        raise ValueError(f"no function permission for {operation!r} on {object_type}")
    needed = permission(object_type, operation)
    if needed not in viewer.permissions:
        raise Forbidden(
            f"{doing} needs the function permission {needed}, which none of your roles grants.",
            rule=f"PERMISSION:{needed}",
        )


async def require_permission(
    context: Context, object_type: ObjectType | str, operation: str
) -> Viewer:
    """Raise FORBIDDEN (naming the permission) unless the signed-in viewer's roles grant
    `operation` ("create", "edit", "changeOwner", "invalidate", "import", "export", "print",
    "mail") on `object_type`; return the viewer. E.g. before an import:
    `viewer = await require_permission(context, ObjectType.ACCOUNT, "import")`."""
    viewer = await context.viewer()
    check_permission(viewer, object_type, operation)
    return viewer
