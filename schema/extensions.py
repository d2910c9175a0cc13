"""Schema extensions: closing each operation's session, masking unexpected errors, limits."""

from __future__ import annotations

import re
from contextlib import suppress
from functools import lru_cache
from typing import TYPE_CHECKING

from graphql import GraphQLError, parse
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from schema.cost import MaxCostLimiter

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from crmfeed.settings import Settings


class CloseSession(SchemaExtension):
    """End the operation's database session (rolling back anything uncommitted), and, for a
    subscription, after each result is resolved and before it is sent: a client that reads
    slowly must not keep a pooled connection while the server waits to send to it."""

    async def on_operation(self) -> AsyncIterator[None]:  # type: ignore[override]
        try:
            yield
        finally:
            await self._close()

    async def on_stream_result(self, result: object) -> AsyncIterator[None]:  # type: ignore[override]
        await self._close()
        yield

    async def _close(self) -> None:
        close = getattr(self.execution_context.context, "close", None)
        if close is not None:
            await close()


_parse = lru_cache(maxsize=512)(parse)


class ParseCache(SchemaExtension):
    """Parse each distinct query text (under the same token limit) once per process. A text
    that does not parse is left to strawberry's own parse step, which reports the error as
    without the cache (and RefusalCodes gives it its code)."""

    def on_parse(self) -> Iterator[None]:  # type: ignore[override]
        context = self.execution_context
        if context.query and context.graphql_document is None:
            with suppress(GraphQLError):
                context.graphql_document = _parse(context.query, **context.parse_options)
        yield


REFUSAL_CODES = [
    (re.compile(r"exceeds maximum operation depth"), "LIMIT_EXCEEDED"),
    (re.compile(r"aliases found\. Allowed"), "LIMIT_EXCEEDED"),
    (re.compile(r"contains more than \d+ tokens"), "LIMIT_EXCEEDED"),
    (re.compile(r"^Validation aborted\.$"), "LIMIT_EXCEEDED"),  # graphql-core's work budget
    (re.compile(r"introspection has been disabled"), "FORBIDDEN"),
]


class RefusalCodes(SchemaExtension):
    """Give strawberry's and graphql-core's own refusals (depth, alias and token limits, a
    document too costly to validate, disabled introspection) the `extensions.code` of API.md."""

    def on_operation(self) -> Iterator[None]:  # type: ignore[override]
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or self.execution_context.pre_execution_errors
        for error in errors or ():
            extensions = error.extensions or {}
            if "code" in extensions:
                continue
            for pattern, code in REFUSAL_CODES:
                if pattern.search(error.message):
                    error.extensions = {**extensions, "code": code}
                    break


def is_unexpected(error: GraphQLError) -> bool:
    """Mask errors raised by code, not the ones we raise on purpose or GraphQL's own."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def extensions(settings: Settings) -> list[Callable[[], SchemaExtension] | type[SchemaExtension]]:
    """Factories, so each operation gets fresh extension instances. The validation rules are
    built once, so the validation cache (keyed by document and rules) hits across requests;
    the parser cache is keyed by the query text and the token limit, so a repeated query
    skips parsing (and its validation is found by the same document)."""
    rules = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        *MaxCostLimiter(
            max_cost=settings.max_cost, max_page_size=settings.max_page_size
        ).validation_rules,
    ]
    if not settings.allow_introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return [
        CloseSession,
        RefusalCodes,
        lambda: MaskErrors(should_mask_error=is_unexpected, error_message="Unexpected error."),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        ParseCache,
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=512),
    ]
