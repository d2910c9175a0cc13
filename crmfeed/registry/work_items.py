"""Who may close or remove a work item (a task, a feed item, a reply, a reminder), as data.

A user is one or more parties to an item (its assignee, its creator, its author, someone it
reminds) and may hold the CRM administrator role; an action names the parties who may take
it. `resolvers/work_items.py` evaluates these and nothing else decides: the schema only asks
for a signed-in user, and whoever is no party to an item they cannot see gets NOT_FOUND before
any rule is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class WorkAction(StrEnum):
    COMPLETE_TASK = "COMPLETE_TASK"
    REOPEN_TASK = "REOPEN_TASK"
    DELETE_FEED_ITEM = "DELETE_FEED_ITEM"
    DELETE_REPLY = "DELETE_REPLY"
    CANCEL_REMINDER = "CANCEL_REMINDER"


class Party(StrEnum):
    """What a user is to a work item; CRM_ADMIN counts whatever the item."""

    ASSIGNEE = "ASSIGNEE"
    CREATOR = "CREATOR"
    AUTHOR = "AUTHOR"
    REMINDED = "REMINDED"
    CRM_ADMIN = "CRM_ADMIN"


@dataclass(frozen=True, slots=True)
class WorkRule:
    """`who` may do it; `doing` and `describe` make the refusal's message."""

    who: frozenset[Party]
    doing: str
    describe: str


P = Party
WORK_RULES: dict[WorkAction, WorkRule] = {
    WorkAction.COMPLETE_TASK: WorkRule(
        frozenset({P.ASSIGNEE, P.CREATOR}), "complete a task", "its assignee or its creator"
    ),
    WorkAction.REOPEN_TASK: WorkRule(
        frozenset({P.ASSIGNEE, P.CREATOR}), "reopen a task", "its assignee or its creator"
    ),
    WorkAction.DELETE_FEED_ITEM: WorkRule(
        frozenset({P.AUTHOR, P.CRM_ADMIN}),
        "delete a feed item",
        "its author or a CRM administrator",
    ),
    WorkAction.DELETE_REPLY: WorkRule(
        frozenset({P.AUTHOR, P.CRM_ADMIN}), "delete a reply", "its author or a CRM administrator"
    ),
    WorkAction.CANCEL_REMINDER: WorkRule(
        frozenset({P.CREATOR}), "cancel a reminder", "the person who set it"
    ),
}
