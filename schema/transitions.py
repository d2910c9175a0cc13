"""Status transitions in the schema: what `Record.transitions` and `objectTypes` list."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry

if TYPE_CHECKING:
    from crmfeed.registry.transitions import Transition


@strawberry.type
class TransitionInput:
    """One entry of a transition's `input` JSON."""

    name: str
    label: str
    type: str
    required: bool


@strawberry.type
class TransitionInfo:
    name: str = strawberry.field(description="What to pass as transitionRecord's transition.")
    label: str
    from_statuses: list[str]
    to_status: str
    who: list[str] = strawberry.field(
        description="Who may apply it: OWNER, OWNER_SUPERIOR, SHARED_RW, TEAM_RW, "
        "TEAM_RW_SUPERIOR, CURRENT_CONFIRMER or a function role (CRM_ADMIN, PAYMENT_FINANCE, ...)."
    )
    condition: str | None = strawberry.field(
        description="A further condition on the record, in words (null when none)."
    )
    inputs: list[TransitionInput]

    @classmethod
    def build(cls, transition: Transition) -> TransitionInfo:
        return cls(
            name=transition.name,
            label=transition.label,
            from_statuses=sorted(transition.from_statuses),
            to_status=transition.to_status,
            who=sorted(actor.value for actor in transition.who),
            condition=transition.rule.describe or None,
            inputs=[
                TransitionInput(name=i.name, label=i.label, type=i.type.value, required=i.required)
                for i in transition.inputs
            ],
        )
