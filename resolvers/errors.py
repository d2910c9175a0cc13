"""The error classes every refusal uses; each carries its `extensions.code` (the README's
Security section lists them)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


class CrmError(GraphQLError):
    """An expected refusal whose message is safe to show and says what to fix."""

    code = "INTERNAL"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class Unauthenticated(CrmError):
    code = "UNAUTHENTICATED"


class Forbidden(CrmError):
    code = "FORBIDDEN"


class NotFound(CrmError):
    code = "NOT_FOUND"


class BadUserInput(CrmError):
    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None, **extensions: Any) -> None:
        if field is not None:
            extensions["field"] = field
        super().__init__(message, **extensions)


class Conflict(CrmError):
    code = "CONFLICT"


class LimitExceeded(CrmError):
    code = "LIMIT_EXCEEDED"


class Busy(LimitExceeded):
    """The server has too much of this work under way: `retryAfter` seconds, then again."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retryAfter=retry_after)


class TooManyAttempts(CrmError):
    """A throttled login: `retryAfter` is the number of seconds to wait."""

    code = "TOO_MANY_ATTEMPTS"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retryAfter=retry_after)


def not_found(what: str, value: object) -> NotFound:
    """The same answer for a missing id and one the caller may not read."""
    return NotFound(f"No {what} with id {value!s} exists.")
