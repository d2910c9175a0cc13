"""`Record.allowedActions`: what the viewer may do to a record now, asked of the same checker
the mutations ask (so a button the page shows is an action the API accepts).

Each record action the rules and the viewer's function permissions allow, then each status
transition they may apply. The facts come through the per-request DataLoader, so a page of
records costs one batch of access-facts statements, not one per row. What the answer cannot
know is the mutation's input: a team role the type lacks, an owner who is already the owner,
a restore whose sales order is gone are still refused then.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crmfeed.registry.actions import Action
from crmfeed.registry.transitions import transitions_of
from resolvers import checker

if TYPE_CHECKING:
    from resolvers.context import Context
    from store.models import Record

TRANSITION = "TRANSITION"
BUTTONS: dict[Action, str] = {
    Action.EDIT: "Edit",
    Action.CHANGE_OWNER: "Change owner",
    Action.ADD_TEAM_MEMBER: "Related team",
    Action.INVALIDATE: "Invalidate",
    Action.RESTORE: "Restore",
    Action.DELETE: "Delete",
    Action.FORWARD: "Forward",
}


@dataclass(frozen=True, slots=True)
class Allowed:
    name: str  # an Action's name, or a transition's
    kind: str  # the Action, or TRANSITION
    label: str


async def allowed_actions(context: Context, record: Record) -> list[Allowed]:
    viewer = await context.viewer()
    facts = await context.loaders.access_facts_by_record.load(record)
    who = checker.standing(viewer, record, facts)
    found = [
        Allowed(action.value, action.value, BUTTONS[action])
        for action in Action
        if checker.allowed(action, record, who)
    ]
    found += [
        Allowed(t.name, TRANSITION, t.label)
        for t in transitions_of(record.object_type)
        if checker.transition_allowed(t, record, who)
    ]
    return found
