"""`Record.allowedActions` entries."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

import strawberry

if TYPE_CHECKING:
    from resolvers.allowed_actions import Allowed


@strawberry.enum
class RecordActionKind(Enum):
    EDIT = "EDIT"
    CHANGE_OWNER = "CHANGE_OWNER"
    ADD_TEAM_MEMBER = "ADD_TEAM_MEMBER"
    INVALIDATE = "INVALIDATE"
    RESTORE = "RESTORE"
    DELETE = "DELETE"
    FORWARD = "FORWARD"
    TRANSITION = "TRANSITION"


@strawberry.type
class RecordAction:
    name: str = strawberry.field(
        description="The action (EDIT, CHANGE_OWNER, ADD_TEAM_MEMBER, INVALIDATE, RESTORE, "
        "DELETE, FORWARD) or, for a transition, its name (what transitionRecord takes)."
    )
    kind: RecordActionKind
    label: str

    @classmethod
    def of(cls, allowed: Allowed) -> RecordAction:
        return cls(name=allowed.name, kind=RecordActionKind(allowed.kind), label=allowed.label)
