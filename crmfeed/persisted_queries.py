"""Automatic persisted queries (APQ), as Apollo Client's persisted-query link speaks them.

A client sends `extensions: {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}`, first
without the query's text. A hash this server does not know is answered with the error
`PersistedQueryNotFound` (extensions.code `PERSISTED_QUERY_NOT_FOUND`), on which the link sends
the operation again with its text and the hash. The server checks that the hash is the sha256 of
that text (else BAD_REQUEST) and, once the document has parsed and validated, keeps it: later
requests send the hash alone (over POST, or GET with `extensions` in the query string), and run
the document parsed then, so they skip parsing; validation is found by ValidationCache (keyed by
the document). Over HTTP only documents that validated are kept.

The store is a bounded LRU per process (`PERSISTED_QUERY_CACHE_SIZE` entries, and texts of
MAX_TEXT_CHARS at most adding up to MAX_TOTAL_CHARS). When
BROADCAST_URL is Redis, texts are also kept there (for `PERSISTED_QUERY_TTL_SECONDS`), so a hash
registered on one process is known to the others; the text read back is checked against its hash
again. Redis being unreachable only costs a `PersistedQueryNotFound` (the client resends the text).

Three pieces: `PersistedQueries.prepare` fills in the text of an HTTP request before it runs (the
view calls it), the schema extension `PersistedDocuments` uses and remembers the documents, and
`PersistedQueryTransportWS` does the same for a graphql-transport-ws `subscribe` (subscriptions
come only that way): there a text sent with its hash is checked and kept as text, its document
parsed and validated (through the schema's caches) when it runs.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from graphql import DocumentNode
    from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
        ConnectionInitMessage,
        Message,
        SubscribeMessage,
    )

    from crmfeed.settings import Settings

log = logging.getLogger(__name__)

NOT_FOUND = "PersistedQueryNotFound"
NOT_FOUND_CODE = "PERSISTED_QUERY_NOT_FOUND"
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
REDIS_PREFIX = "crmfeed:apq:"
# Bounds on what an anonymous client can make a process keep (documents take several times
# their text's size): a longer text runs but is not kept; the texts kept add up to at most this.
MAX_TEXT_CHARS = 64 * 1024
MAX_TOTAL_CHARS = 4 * 1024 * 1024


def sha256_hex(text: str) -> str:
    """The hash Apollo's link sends: sha256 of the UTF-8 text, as 64 lowercase hex digits."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _bad_request(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "BAD_REQUEST"})


def requested_hash(extensions: dict[str, Any] | None) -> str | GraphQLError | None:
    """The `persistedQuery` hash a request names, None when it names none, or the error that
    says why its `persistedQuery` is malformed."""
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, dict):
        return _bad_request(
            '`extensions.persistedQuery` must be an object like {"version": 1, '
            '"sha256Hash": "<64 hex digits>"}.'
        )
    if persisted.get("version") != 1:
        return _bad_request(
            f"Unsupported persisted query version {persisted.get('version')!r}: this server "
            "speaks version 1."
        )
    value = persisted.get("sha256Hash")
    if not isinstance(value, str) or not SHA256_HEX.fullmatch(value):
        return _bad_request(
            "`extensions.persistedQuery.sha256Hash` must be the sha256 of the query's UTF-8 "
            "text, as 64 lowercase hex digits."
        )
    return value


@dataclass
class Persisted:
    text: str
    document: DocumentNode | None = None


class PersistedQueries:
    """The per-process store of persisted queries (see the module docstring)."""

    def __init__(
        self,
        *,
        max_entries: int,
        redis_url: str | None = None,
        ttl_seconds: int = 86400,
        max_total_chars: int = MAX_TOTAL_CHARS,
    ) -> None:
        self.max_entries = max_entries
        self.max_total_chars = max_total_chars
        self.ttl_seconds = ttl_seconds
        self._entries: OrderedDict[str, Persisted] = OrderedDict()
        self._chars = 0
        self._redis_url = redis_url
        self._redis: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PersistedQueries:
        url = settings.broadcast_url
        shared = urlparse(url).scheme in ("redis", "rediss")
        return cls(
            max_entries=settings.persisted_query_cache_size,
            redis_url=url if shared else None,
            ttl_seconds=settings.persisted_query_ttl_seconds,
        )

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, sha256: str) -> Persisted | None:
        entry = self._entries.get(sha256)
        if entry is not None:
            self._entries.move_to_end(sha256)
        return entry

    def _keep(self, sha256: str, entry: Persisted) -> None:
        old = self._entries.pop(sha256, None)
        if old is not None:
            self._chars -= len(old.text)
        self._entries[sha256] = entry
        self._chars += len(entry.text)
        while len(self._entries) > self.max_entries or self._chars > self.max_total_chars:
            _, dropped = self._entries.popitem(last=False)
            self._chars -= len(dropped.text)

    async def prepare(self, request: GraphQLRequestData) -> GraphQLError | None:
        """Check a request's `persistedQuery` and, when it sends the hash alone, fill in the
        text it names. Returns the error to answer instead of running it, or None."""
        sha256 = requested_hash(request.extensions)
        if sha256 is None:
            return None
        if isinstance(sha256, GraphQLError):
            return sha256
        if request.query is not None:
            if sha256_hex(request.query) != sha256:
                return _bad_request(
                    "`extensions.persistedQuery.sha256Hash` is not the sha256 of `query` (hash "
                    "the UTF-8 text exactly as sent, as 64 lowercase hex digits)."
                )
            return None  # PersistedDocuments keeps it once it has validated
        text = await self._text(sha256)
        if text is None:
            return GraphQLError(NOT_FOUND, extensions={"code": NOT_FOUND_CODE})
        request.query = text
        return None

    async def _text(self, sha256: str) -> str | None:
        entry = self.entry(sha256)
        if entry is not None:
            return entry.text
        if self._redis_url is None:
            return None
        try:
            raw = await self._client().get(REDIS_PREFIX + sha256)
        except Exception as error:  # the broker is down: the client will send the text
            log.warning("persisted queries: Redis is unreachable (%s)", error)
            return None
        if raw is None:
            return None
        text = raw.decode("utf-8", "surrogatepass")
        if sha256_hex(text) != sha256:
            log.warning("persisted queries: Redis holds a text that does not match %s", sha256)
            return None
        self._keep(sha256, Persisted(text))
        return text

    async def remember(self, sha256: str, text: str, document: DocumentNode | None) -> None:
        """Keep a text under its hash (checked again here), with its document once it has
        validated (None: the text alone, parsed and validated when it runs)."""
        entry = self.entry(sha256)
        if entry is not None and entry.text == text:
            entry.document = entry.document or document
            return
        if len(text) > MAX_TEXT_CHARS or sha256_hex(text) != sha256:
            return
        self._keep(sha256, Persisted(text, document))
        if self._redis_url is None:
            return
        try:
            await self._client().set(
                REDIS_PREFIX + sha256, text.encode("utf-8", "surrogatepass"), ex=self.ttl_seconds
            )
        except Exception as error:  # kept in this process all the same
            log.warning("persisted queries: Redis is unreachable (%s)", error)

    def _client(self) -> Any:
        if self._redis is None:
            from redis import asyncio as redis

            self._redis = redis.Redis.from_url(self._redis_url, socket_timeout=2.0)
        return self._redis

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def extension(self) -> Callable[[], SchemaExtension]:
        """The schema extension factory; it must come before any parse cache."""
        return lambda: PersistedDocuments(self)


class PersistedDocuments(SchemaExtension):
    """Runs a persisted query's kept document (skipping parsing), and keeps the document of a
    query sent with its hash once it has validated."""

    def __init__(self, store: PersistedQueries) -> None:
        self.store = store

    def _hash(self) -> str | None:
        sha256 = requested_hash(self.execution_context.operation_extensions)
        return sha256 if isinstance(sha256, str) else None

    def on_parse(self) -> Iterator[None]:  # type: ignore[override]
        context = self.execution_context
        sha256 = self._hash()
        if sha256 is not None and context.graphql_document is None and context.query:
            entry = self.store.entry(sha256)
            if entry is not None and entry.document is not None and entry.text == context.query:
                context.graphql_document = entry.document
        yield

    async def on_validate(self) -> AsyncIterator[None]:  # type: ignore[override]
        yield
        context = self.execution_context
        sha256 = self._hash()
        if (
            sha256 is not None
            and context.query
            and context.graphql_document is not None
            and not context.pre_execution_errors
        ):
            await self.store.remember(sha256, context.query, context.graphql_document)


class PersistedQueryTransportWS(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws whose `subscribe` payload may carry `extensions.persistedQuery`:
    a known hash alone runs its text; an unknown one, or a text that does not match its hash,
    is answered with an `error` message for that operation (the socket stays open). The view
    must have a `persisted_queries` store.

    An idle socket keeps neither its last message nor the finished connection_init timer:
    thousands of idle subscriptions each held a decoded `subscribe` and a done task."""

    async def handle_message(self, message: Message) -> None:
        try:
            await super().handle_message(message)
        finally:
            # The handler's loop holds the last message while it waits for the next one; what
            # it started keeps what it needs (an operation its query text and variables).
            if isinstance(message, dict):
                message.clear()  # type: ignore[attr-defined]

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        # Cancelled by now (a second connection_init closes the socket with 4429, decided
        # by `connection_init_received`, not by the timer).
        self.connection_init_timeout_task = None

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload: Any = message.get("payload")
        extensions = payload.get("extensions") if isinstance(payload, dict) else None
        if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
            await super().handle_subscribe(message)
            return
        query = payload.get("query")
        request = GraphQLRequestData(
            query=query if isinstance(query, str) else None,
            variables=payload.get("variables"),
            operation_name=payload.get("operationName"),
            extensions=extensions,
        )
        store: PersistedQueries = self.view.persisted_queries  # type: ignore[attr-defined]
        refusal = await store.prepare(request)
        if refusal is not None:
            if self.connection_acknowledged and message["id"] not in self.operations:
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [refusal.formatted]}
                )
                return
            await super().handle_subscribe(message)  # it refuses the message as it would
            return
        if isinstance(query, str):
            # The schema extension does not see a websocket's extensions: keep the text as it
            # came (its hash checked), to be parsed and validated when it runs.
            await store.remember(requested_hash(extensions), query, None)  # type: ignore[arg-type]
        await super().handle_subscribe({**message, "payload": {**payload, "query": request.query}})
