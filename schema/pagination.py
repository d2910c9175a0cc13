"""Relay-style page info shared by every connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import strawberry

if TYPE_CHECKING:
    from collections.abc import Sequence


class HasCursor(Protocol):
    cursor: str


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None

    @classmethod
    def of(cls, edges: Sequence[HasCursor], has_next: bool) -> PageInfo:
        """The page info of a page of edges: its last cursor, and whether more follow."""
        return cls(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None)


@strawberry.type(
    description="A count that stops: `count` records or items when `exact`; when not, there "
    "are more than `count` (show it as e.g. `1000+`)."
)
class BoundedCount:
    count: int = strawberry.field(
        description="The total when `exact`; else the bound it stopped at (there are more)."
    )
    exact: bool = strawberry.field(
        description="Whether `count` is the total (false: the count stopped at `atMost`)."
    )

    @classmethod
    def of(cls, counted: tuple[int, bool]) -> BoundedCount:
        count, exact = counted
        return cls(count=count, exact=exact)
