"""The confirmation of Sales Orders and Return Forms in the schema: the nodes on those record
types, and the enterprise's default confirmation chains."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import Private

from crmfeed.registry.confirmation import NodeState as RegistryNodeState
from crmfeed.registry.confirmation import confirmable
from crmfeed.registry.enums import ObjectType as RegistryObjectType
from resolvers import confirmation
from schema.enums import ObjectType
from schema.org import User, wrap_user
from schema.permissions import ADMIN, SIGNED_IN
from store import confirmation_tables

NodeState = strawberry.enum(RegistryNodeState, name="ConfirmationNodeState")


@strawberry.type(description="One confirmer's step in the order's latest confirmation round.")
class ConfirmationNode:
    row: Private[confirmation_tables.ConfirmationNode]

    @strawberry.field(description="1 for the first confirmer.")
    def position(self) -> int:
        return self.row.position

    @strawberry.field
    async def confirmer(self, info: strawberry.Info) -> User:
        user = wrap_user(await info.context.loaders.user_by_id.load(self.row.confirmer_id))
        assert user is not None  # a foreign key
        return user

    @strawberry.field
    def state(self) -> NodeState:
        return NodeState(self.row.state)

    @strawberry.field(description="When the node confirmed or rejected (null until then).")
    def decided_at(self) -> datetime | None:
        return self.row.decided_at

    @strawberry.field(
        description="Who decided: the confirmer, or a CRM administrator on their behalf."
    )
    async def decided_by(self, info: strawberry.Info) -> User | None:
        if self.row.decided_by_id is None:
            return None
        return wrap_user(await info.context.loaders.user_by_id.load(self.row.decided_by_id))

    @strawberry.field(description="The reason given with a rejection.")
    def comment(self) -> str | None:
        return self.row.comment

    @strawberry.field
    async def submitted_by(self, info: strawberry.Info) -> User | None:
        return wrap_user(await info.context.loaders.user_by_id.load(self.row.submitted_by_id))


async def _nodes(root: Any, info: strawberry.Info) -> list[ConfirmationNode]:
    rows = await info.context.loaders.confirmation_nodes_by_record_id.load(root.row.id)
    return [ConfirmationNode(row=row) for row in rows]


async def _current(root: Any, info: strawberry.Info) -> User | None:
    rows = await info.context.loaders.confirmation_nodes_by_record_id.load(root.row.id)
    current = next((r for r in rows if r.state == RegistryNodeState.CURRENT), None)
    if current is None:
        return None
    return wrap_user(await info.context.loaders.user_by_id.load(current.confirmer_id))


def extra_fields(object_type: RegistryObjectType) -> dict[str, Any]:
    """The fields a record type of the registry gets besides its own: the confirmation nodes
    on Sales Orders and Return Forms."""
    if not confirmable(object_type):
        return {}
    return {
        "confirmation_nodes": strawberry.field(
            resolver=_nodes,
            description="The nodes of the latest confirmation round, in order (empty when it "
            "was submitted with no confirmers: the Order Administrators confirm it).",
        ),
        "current_confirmer": strawberry.field(
            resolver=_current,
            description="Whom the order waits for now (null when not confirming, or when the "
            "Order Administrators confirm it).",
        ),
    }


@strawberry.type
class ConfirmationQuery:
    @strawberry.field(
        permission_classes=SIGNED_IN,
        description="The enterprise's default confirmation chain for Sales Orders or Return "
        "Forms: the confirmers an order submitted without its own list goes to, in order.",
    )
    async def confirmation_chain(
        self, info: strawberry.Info, object_type: ObjectType
    ) -> list[User]:
        users = await confirmation.default_chain(info.context, RegistryObjectType(object_type))
        return [User(row=user) for user in users]


@strawberry.type
class ConfirmationMutation:
    @strawberry.mutation(
        extensions=ADMIN,
        description="Set the default confirmation chain for Sales Orders or Return Forms "
        "(confirmer user ids in order; an empty list clears it). Orders already submitted "
        "keep their nodes.",
    )
    async def set_confirmation_chain(
        self, info: strawberry.Info, object_type: ObjectType, confirmer_ids: list[strawberry.ID]
    ) -> list[User]:
        users = await confirmation.set_default_chain(
            info.context, RegistryObjectType(object_type), confirmer_ids
        )
        return [User(row=user) for user in users]
