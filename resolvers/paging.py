"""Cursor paging arguments: `first` (default 20, capped) and opaque `after` cursors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from resolvers.errors import BadUserInput

DEFAULT_PAGE_SIZE = 20


def page_size(first: int | None, maximum: int) -> int:
    if first is None:
        return min(DEFAULT_PAGE_SIZE, maximum)
    if first < 0:
        raise BadUserInput("first must be 0 or more.", field="first")
    if first > maximum:
        raise BadUserInput(f"first may be at most {maximum}.", field="first")
    return first


COUNT_UP_TO = 1_000
"""`countUpTo(atMost:)` when the client does not say."""
MAX_COUNT_UP_TO = 10_000
"""The largest `atMost`: a bound keeps the count's cost in proportion to it."""


def count_bound(at_most: int) -> int:
    """`atMost` of `countUpTo`, checked: 1 to MAX_COUNT_UP_TO."""
    if not 1 <= at_most <= MAX_COUNT_UP_TO:
        raise BadUserInput(f"atMost must be between 1 and {MAX_COUNT_UP_TO}.", field="atMost")
    return at_most


def bounded(found: int, at_most: int) -> tuple[int, bool]:
    """(count, exact) of a count that read at most `at_most` + 1 rows: more than `at_most`
    found means the count stopped there."""
    return (at_most, False) if found > at_most else (found, True)


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"c:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        prefix, _, number = base64.urlsafe_b64decode(padded).decode().partition(":")
        if prefix != "c" or not (number.isascii() and number.isdigit()) or len(number) > 18:
            raise ValueError(cursor)
        return int(number)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadUserInput(
            f"after: '{cursor}' is not a cursor from this list; pass a cursor or "
            "pageInfo.endCursor it returned.",
            field="after",
        ) from error


# A list in time order: the cursor carries the row's time (microseconds since 1970, signed;
# `-` alone for none) and its id, "t:<time>:<id>".
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def encode_timed_cursor(moment: datetime | None, position: int) -> str:
    stamp = "-" if moment is None else str((moment - _EPOCH) // _MICROSECOND)
    return base64.urlsafe_b64encode(f"t:{stamp}:{position}".encode()).decode().rstrip("=")


def decode_timed_cursor(cursor: str | None) -> tuple[datetime | None, int] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        prefix, stamp, number = base64.urlsafe_b64decode(padded).decode().split(":")
        timed = stamp == "-" or _digits(stamp.removeprefix("-"))
        if prefix != "t" or not timed or not _digits(number):
            raise ValueError(cursor)
        moment = None if stamp == "-" else _EPOCH + int(stamp) * _MICROSECOND
        return moment, int(number)
    except (ValueError, UnicodeDecodeError, OverflowError) as error:
        raise BadUserInput(
            f"after: '{cursor}' is not a cursor from this list; pass a cursor or "
            "pageInfo.endCursor it returned.",
            field="after",
        ) from error


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 18
