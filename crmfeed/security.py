"""Password hashing (argon2) and signed access tokens (JWT, HS256).

A token names its user (`sub`), enterprise (`ent`), its own id (`jti`, so one token can be
revoked by logging out) and the user's token version (`ver`, raised when the account is
deactivated, which ends every token issued before). It is signed with SECRET_KEY; during a key
rotation the keys in SECRET_KEY_PREVIOUS still verify tokens until their own expiry.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

if TYPE_CHECKING:
    from crmfeed.settings import Settings

ALGORITHM = "HS256"


def password_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_cost_kib
    )


async def hash_password(settings: Settings, password: str) -> str:
    """Argon2 hash, computed off the event loop."""
    return await asyncio.to_thread(password_hasher(settings).hash, password)


async def verify_password(settings: Settings, password_hash: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return password_hasher(settings).verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


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


def read_token(settings: Settings, token: str) -> TokenClaims | None:
    """The claims of a valid, unexpired token signed with SECRET_KEY or one of
    SECRET_KEY_PREVIOUS; None for anything else (revocation is checked with the user's row)."""
    for key in (settings.secret_key, *settings.previous_secret_keys):
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
