"""Retries without duplicates: a mutation sent with an `Idempotency-Key` header runs once.

A client that loses the answer to a mutation (a timeout, a dropped connection, a server killed
after its commit) cannot tell whether it was applied; retrying it with the same key is safe. The
key is scoped to the signed-in user; its row (store/idempotency.py) is written in the same
database transaction as the mutation's first commit, through the session's `before_commit`
event (`Claim`, hooked into every session of the request's Context), so a committed write never
lacks it. Once the answer is built it is stored on the row, in a second small transaction, and
a retry within IDEMPOTENCY_TTL_SECONDS gets that answer again, byte for byte, writing nothing.

- A request that committed nothing (refused, or failed before its first commit) leaves no row:
  its retry runs again. A request that committed something has its answer stored, errors of
  later fields included.
- A key found without an answer (the first request is still finishing, or its process died
  between the commit and storing the answer) is refused, 409 CONFLICT: the writes happened, the
  client should read the current state. Two requests racing with one key: the second's commit
  finds the row and is rolled back, CONFLICT.
- The same key with another request (query, variables or operationName differ): 422
  BAD_USER_INPUT.
- Queries (and GETs) ignore the header, and so do requests without a signed-in user, and
  `login` and `registerEnterprise`: their answers carry a token, which must not be stored,
  and retrying them creates no duplicate (a new token; "email taken").

The header's syntax is checked by crmfeed/request_guard.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationType,
    get_operation_ast,
    parse,
)
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from crmfeed.request_guard import IDEMPOTENCY_HEADER, PAYLOAD_KEY, error_response
from resolvers.errors import Conflict
from store import idempotency
from store.types import utcnow

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

    from graphql import DocumentNode, SelectionSetNode
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session
    from starlette.requests import Request

    from resolvers.context import Context

log = logging.getLogger(__name__)

REPLAYED_HEADER = "Idempotent-Replayed"
# Mutations whose answers carry a token: never stored, whatever the header says.
UNKEYED_FIELDS = frozenset({"login", "registerEnterprise"})
LOST_ANSWER = (
    "A request with this Idempotency-Key was applied, but its answer is not stored: it is "
    "still finishing, or the server stopped before answering. Read the current state instead "
    "of sending it again with a new key (while it is still finishing, a retry with this key "
    "soon gets its answer)."
)
RACED = (
    "Another request with this Idempotency-Key was applied meanwhile; nothing of this one was "
    "written. Send it again with the same key to get that request's answer."
)
REUSED = (
    "This Idempotency-Key was used for a different request (another query, variables or "
    "operationName): use a new key for each new request."
)


@dataclass
class Claim:
    """Writes the key's row in the first transaction the request commits (see the module)."""

    enterprise_id: int
    user_id: int
    key: str
    fingerprint: str
    not_before: datetime
    committed: bool = False

    def watch(self, session: AsyncSession) -> None:
        """Hook into `session`'s commits (once per session)."""
        sync_session = session.sync_session
        if event.contains(sync_session, "before_commit", self._before_commit):
            return
        event.listen(sync_session, "before_commit", self._before_commit)
        event.listen(sync_session, "after_commit", self._after_commit)

    def _before_commit(self, session: Session) -> None:
        if self.committed:
            return
        # The key's row is the transaction's last write: a racing request with the same key
        # waits for it (PostgreSQL) holding no lock this transaction still needs.
        session.flush()
        claimed = idempotency.claim(
            session,
            enterprise_id=self.enterprise_id,
            user_id=self.user_id,
            key=self.key,
            fingerprint=self.fingerprint,
            now=utcnow(),
            not_before=self.not_before,
        )
        if not claimed:
            raise Conflict(RACED)

    def _after_commit(self, _session: Session) -> None:
        self.committed = True


def fingerprint(payload: dict[str, Any]) -> str:
    """What makes two requests the same one: the query text, variables and operationName."""
    canonical = json.dumps(
        [payload.get("query"), payload.get("variables") or {}, payload.get("operationName")],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _root_fields(
    selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: set[str]
) -> set[str]:
    names: set[str] = set()
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            names |= _root_fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name not in seen and name in fragments:
                seen.add(name)
                names |= _root_fields(fragments[name].selection_set, fragments, seen)
    return names


def is_keyed_mutation(payload: dict[str, Any], max_tokens: int) -> bool:
    """Whether the request is a mutation the key applies to. A document that does not parse,
    or names no operation to run, is left to the GraphQL view, which says what is wrong."""
    try:
        document: DocumentNode = parse(payload["query"], max_tokens=max_tokens)
    except GraphQLError:
        return False
    operation = get_operation_ast(document, payload.get("operationName"))
    if operation is None or operation.operation is not OperationType.MUTATION:
        return False
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    return not _root_fields(operation.selection_set, fragments, set()) & UNKEYED_FIELDS


async def answer(
    context: Context, request: Request, run: Callable[[Context], Awaitable[Response]]
) -> Response:
    """Answer a POST that carries the header (already checked): the stored answer, a refusal,
    or `run(context)`, storing its answer when it committed something."""
    key = request.headers[IDEMPOTENCY_HEADER]
    # The guard parsed the body and checked it is an operation object.
    payload = request.scope.get(PAYLOAD_KEY) or json.loads(await request.body())
    if not is_keyed_mutation(payload, context.settings.max_tokens):
        return await run(context)
    viewer = await context.optional_viewer()
    if viewer is None:
        return await run(context)
    not_before = utcnow() - timedelta(seconds=context.settings.idempotency_ttl_seconds)
    request_fingerprint = fingerprint(payload)
    async with context.db() as session:
        stored = await idempotency.find(session, viewer.id, key, not_before=not_before)
    if stored is not None:
        if stored.fingerprint != request_fingerprint:
            return error_response(422, REUSED, "BAD_USER_INPUT")
        if stored.status is None or stored.body is None:
            return error_response(409, LOST_ANSWER, "CONFLICT")
        return Response(
            stored.body,
            status_code=stored.status,
            media_type="application/json",
            headers={REPLAYED_HEADER: "true"},
        )
    claim = Claim(viewer.enterprise_id, viewer.id, key, request_fingerprint, not_before)
    context.claim_idempotency(claim)
    response = await run(context)
    if claim.committed:
        await _store(context, claim, response)
    return response


async def _store(context: Context, claim: Claim, response: Response) -> None:
    """Store the answer and prune expired keys. A failure here loses only the stored answer
    (a retry is then refused with LOST_ANSWER): the client still gets this one."""
    body = bytes(response.body).decode()
    try:
        async with context.db() as session:
            await idempotency.save_answer(
                session, claim.user_id, claim.key, status=response.status_code, body=body
            )
            await idempotency.prune(session, not_before=claim.not_before)
            await session.commit()
    except (SQLAlchemyError, OSError):
        log.exception("Could not store the answer of Idempotency-Key %r", claim.key)
    finally:
        await context.close()
