"""Schema extensions: closing each operation's session, masking unexpected errors, limits,
refusing subscriptions over HTTP."""

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
from strawberry.types.graphql import OperationType

from schema.cost import MaxCostLimiter
from schema.input_text import InputTextLimits, input_text_rule

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
    document too costly to validate, disabled introspection) their `extensions.code`, and any
    other error of a request that could not run (a syntax error, a document that does
    not validate, variables that do not fit it: errors outside any field) BAD_REQUEST. It runs
    before MaskErrors (it is listed after it), so it sees which errors are unexpected."""

    def on_operation(self) -> Iterator[None]:  # type: ignore[override]
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or self.execution_context.pre_execution_errors
        for error in errors or ():
            extensions = error.extensions or {}
            if "code" in extensions or is_unexpected(error):
                continue
            code = next(
                (code for pattern, code in REFUSAL_CODES if pattern.search(error.message)),
                "BAD_REQUEST" if error.path is None else None,
            )
            if code is not None:
                error.extensions = {**extensions, "code": code}


class WebsocketSubscriptions(SchemaExtension):
    """Refuse a subscription sent over HTTP (BAD_REQUEST, before it runs): subscriptions are
    served over the websocket at the same URL. Like InputTextLimits, it comes after
    ValidationCache."""

    def on_validate(self) -> Iterator[None]:  # type: ignore[override]
        context = self.execution_context
        request = getattr(context.context, "request", None)
        if (
            context.operation_type is OperationType.SUBSCRIPTION
            and request is not None
            and request.scope["type"] == "http"
        ):
            refusal = GraphQLError(
                "Subscriptions are served over the websocket at this same URL "
                "(ws:// or wss://, subprotocol graphql-transport-ws or graphql-ws); over HTTP, "
                "send queries and mutations.",
                extensions={"code": "BAD_REQUEST"},
            )
            context.pre_execution_errors = [*(context.pre_execution_errors or ()), refusal]
        yield


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
    rules.append(input_text_rule(settings.max_string_length))
    if not settings.allow_introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    return [
        CloseSession,
        lambda: MaskErrors(should_mask_error=is_unexpected, error_message="Unexpected error."),
        RefusalCodes,
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        ParseCache,
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=512),
        # These two add to the validation errors that ValidationCache sets: after it.
        lambda: InputTextLimits(max_length=settings.max_string_length),
        WebsocketSubscriptions,
    ]
