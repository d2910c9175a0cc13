"""Assemble the strawberry Schema."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry

from schema.extensions import extensions
from schema.mutation import Mutation
from schema.query import Query
from schema.records import RECORD_TYPES

if TYPE_CHECKING:
    from crmfeed.settings import Settings


def build_schema(settings: Settings) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        types=list(RECORD_TYPES.values()),
        extensions=extensions(settings),
    )
