"""Schema extensions: closing each operation's session, masking unexpected errors, limits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from schema.cost import MaxCostLimiter

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from crmfeed.settings import Settings


class CloseSession(SchemaExtension):
    """End the operation's database session (rolling back anything uncommitted)."""

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        try:
            yield
        finally:
            close = getattr(self.execution_context.context, "close", None)
            if close is not None:
                await close()


def is_unexpected(error: GraphQLError) -> bool:
    """Mask errors raised by code, not the ones we raise on purpose or GraphQL's own."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def extensions(settings: Settings) -> list[Callable[[], SchemaExtension] | type[SchemaExtension]]:
    """Factories, so each operation gets fresh extension instances."""
    found: list[Callable[[], SchemaExtension] | type[SchemaExtension]] = [
        CloseSession,
        lambda: MaskErrors(should_mask_error=is_unexpected, error_message="Unexpected error."),
        lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: MaxCostLimiter(max_cost=settings.max_cost, max_page_size=settings.max_page_size),
    ]
    if not settings.allow_introspection:
        found.append(lambda: AddValidationRules([NoSchemaIntrospectionCustomRule]))
    return found
