"""Mutations run again when their transaction lost a race the database resolved by aborting it.

    retry_each_mutation(Mutation)   # schema/mutation.py, once

A reply and a like whose followers overlap can deadlock on PostgreSQL, which aborts one of the
two; a SQLite writer can outwait its busy timeout. Neither wrote anything, so the resolver runs
again from the start, on a new session and with empty DataLoaders, up to TRANSACTION_ATTEMPTS
times, after a short random pause that grows with each attempt (so two losers do not collide
again). Every mutation resolver commits once, at its end, and acts outside the database (live
push) only after that commit: a run that failed before its commit left nothing behind.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Any

from strawberry.extensions import FieldExtension

from store.transient import is_transient

if TYPE_CHECKING:
    from strawberry.extensions.field_extension import AsyncExtensionResolver
    from strawberry.types import Info

FIRST_PAUSE_SECONDS = 0.01
log = logging.getLogger("crmfeed.retry")


class RetryTransient(FieldExtension):
    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        context = info.context
        attempts = context.settings.transaction_attempts
        attempt = 1
        while True:
            try:
                return await next_(source, info, **kwargs)
            except Exception as error:
                if attempt >= attempts or not is_transient(error):
                    raise
                log.warning(
                    "%s: the database aborted the transaction (%s); running it again "
                    "(attempt %d of %d)",
                    info.field_name,
                    str(getattr(error, "orig", error)).splitlines()[0],
                    attempt + 1,
                    attempts,
                )
            await context.discard_transaction()
            await asyncio.sleep(random.uniform(0, FIRST_PAUSE_SECONDS * 2**attempt))
            attempt += 1


def retry_each_mutation(mutation: type) -> None:
    """Give every (async) field of the Mutation root the retry, once."""
    for field in mutation.__strawberry_definition__.fields:  # type: ignore[attr-defined]
        if field.is_async and not any(isinstance(e, RetryTransient) for e in field.extensions):
            field.extensions.append(RetryTransient())
