"""Cursor paging arguments: `first` (default 20, capped) and opaque `after` cursors."""

from __future__ import annotations

import base64

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
