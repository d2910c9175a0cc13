"""Assemble the strawberry Schema."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import strawberry

from crmfeed.execution import PlainFieldExecution
from crmfeed.metrics import OperationMetrics
from schema.extensions import extensions, is_unexpected
from schema.mutation import Mutation
from schema.notifications import Subscription as NotificationSubscription
from schema.query import Query
from schema.records import RECORD_TYPES
from schema.transfer import TransferSubscription

if TYPE_CHECKING:
    from graphql import GraphQLError
    from strawberry.types import ExecutionContext

    from crmfeed.persisted_queries import PersistedQueries
    from crmfeed.settings import Settings


@strawberry.type
class Subscription(NotificationSubscription, TransferSubscription):
    """The Subscription root: notifications, and import and export progress."""


class CrmSchema(strawberry.Schema):
    """Logs only unexpected errors; refusals and bad input are answers, not incidents. Plain
    fields are read by crmfeed/execution.py's executor."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execution_context_class = PlainFieldExecution.for_schema(self)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        unexpected = [error for error in errors if is_unexpected(error)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def build_schema(
    settings: Settings, *, persisted_queries: PersistedQueries | None = None, **kwargs: Any
) -> strawberry.Schema:
    """The schema; with `persisted_queries`, it runs and keeps their documents (before the
    parse cache, so a persisted query skips parsing)."""
    persisted = [persisted_queries.extension()] if persisted_queries is not None else []
    return CrmSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=list(RECORD_TYPES.values()),
        extensions=[OperationMetrics, *persisted, *extensions(settings)],
        **kwargs,
    )
