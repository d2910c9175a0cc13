"""Password hashing (argon2) and signed access tokens (JWT, HS256).

Argon2 is slow and memory-hard on purpose (`ARGON2_MEMORY_COST_KIB` per hash), so hashes run in
worker threads, at most `PASSWORD_HASH_CONCURRENCY` at once per process: a flood of logins waits
its turn instead of filling the default thread pool (which SQLite statements also use) and the
memory. A login for an unknown email verifies against a dummy hash made with the same
parameters, so the answer takes as long as for a known one.

A token names its user (`sub`), enterprise (`ent`), its own id (`jti`, so one token can be
revoked by logging out) and the user's token version (`ver`, raised when the account is
deactivated, which ends every token issued before). It is signed with SECRET_KEY; during a key
rotation the keys in SECRET_KEY_PREVIOUS still verify tokens until their own expiry.

A token that verified is remembered (`VerifiedTokens`, up to `VERIFIED_TOKENS` of them) with the
keys that were current and its claims, so the next request with the same token skips the
signature check and claim parsing (a fifth of a small request's CPU): it counts only while the
keys are the same and until its `exp`, and its revocation is checked with the user's row on every
request, as before.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from crmfeed.settings import Settings

ALGORITHM = "HS256"


def password_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_cost_kib
    )


class Passwords:
    """One process's password hashing: argon2 in worker threads, at most `concurrency` at once."""

    def __init__(self, settings: Settings) -> None:
        self.hasher = password_hasher(settings)
        self.concurrency = settings.password_hash_concurrency
        self._slots = asyncio.Semaphore(self.concurrency)
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(
        self,
        password_hash: str | None,
        password: str,
        *,
        admit: Callable[[], Awaitable[object]] | None = None,
    ) -> bool:
        """Whether `password` matches `password_hash`. With no hash (an unknown account) the
        same work is done against a dummy hash, and the answer is False.

        `admit`, when given, runs once a hashing slot is ours and before the hash: a last
        check (a login's throttle) that may raise to refuse without hashing.
        """
        async with self._slots:
            if admit is not None:
                await admit()
            if password_hash is None:
                await asyncio.to_thread(self._verify, None, password)
                return False
            return await asyncio.to_thread(self._verify, password_hash, password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        if password_hash is None:
            if self._dummy_hash is None:
                # Made once per process, with its parameters; nobody knows its password.
                self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(32))
            password_hash = self._dummy_hash
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


async def hash_password(settings: Settings, password: str) -> str:
    """Argon2 hash, computed off the event loop (for one-off uses such as the demo loader;
    requests go through their process's `Passwords`)."""
    return await Passwords(settings).hash(password)


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    enterprise_id: int
    token_id: str
    version: int
    expires_at: datetime


def issue_token(settings: Settings, user_id: int, enterprise_id: int, *, version: int = 0) -> str:
    """A token for the user, signed with the current SECRET_KEY; `version` is the user's
    `token_version` (tokens of an older version are refused)."""
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "ent": enterprise_id,
        "jti": uuid.uuid4().hex,
        "ver": version,
        "iat": now,
        "exp": now + timedelta(seconds=settings.token_ttl_seconds),
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)


REQUIRED_CLAIMS = ["exp", "iat", "sub", "jti"]
VERIFIED_TOKENS = 4096  # tokens remembered as verified, per process


class VerifiedTokens:
    """Tokens that verified, with the keys they verified under, their claims and their expiry
    (a POSIX timestamp); the oldest is forgotten when `size` are kept."""

    def __init__(self, size: int = VERIFIED_TOKENS) -> None:
        self.size = size
        self._kept: dict[str, tuple[tuple[str, ...], TokenClaims, float]] = {}

    def get(self, token: str, keys: tuple[str, ...], now: float) -> TokenClaims | None:
        """The claims of `token` if it verified under these same `keys` and `now` is before
        its expiry (an expired one is forgotten)."""
        kept = self._kept.get(token)
        if kept is None or kept[0] != keys:
            return None
        if now >= kept[2]:  # PyJWT refuses a token from its `exp` on
            del self._kept[token]
            return None
        return kept[1]

    def add(self, token: str, keys: tuple[str, ...], claims: TokenClaims) -> None:
        if len(self._kept) >= self.size:
            del self._kept[next(iter(self._kept))]
        self._kept[token] = (keys, claims, claims.expires_at.timestamp())

    def clear(self) -> None:
        self._kept.clear()


verified_tokens = VerifiedTokens()


def read_token(settings: Settings, token: str) -> TokenClaims | None:
    """The claims of a valid, unexpired token signed with SECRET_KEY or one of
    SECRET_KEY_PREVIOUS; None for anything else (revocation is checked with the user's row)."""
    keys = (settings.secret_key, *settings.previous_secret_keys)
    claims = verified_tokens.get(token, keys, time.time())
    if claims is None:
        claims = _verify(keys, token)
        if claims is not None:
            verified_tokens.add(token, keys, claims)
    return claims


def _verify(keys: tuple[str, ...], token: str) -> TokenClaims | None:
    for key in keys:
        try:
            claims = jwt.decode(
                token, key, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS}
            )
        except jwt.InvalidSignatureError:
            continue  # maybe signed with a previous key
        except jwt.PyJWTError:
            return None
        try:
            return TokenClaims(
                user_id=int(claims["sub"]),
                enterprise_id=int(claims["ent"]),
                token_id=_text(claims["jti"]),
                version=int(claims.get("ver", 0)),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
    return None


def _text(value: object) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise ValueError("jti must be a short string")
    return value
