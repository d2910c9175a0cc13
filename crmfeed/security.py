"""Password hashing (argon2) and signed access tokens (JWT, HS256)."""

from __future__ import annotations

import asyncio
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


def issue_token(settings: Settings, user_id: int, enterprise_id: int) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "ent": enterprise_id,
        "iat": now,
        "exp": now + timedelta(seconds=settings.token_ttl_seconds),
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)


def read_token(settings: Settings, token: str) -> TokenClaims | None:
    """The claims of a valid, unexpired token; None for anything else."""
    try:
        claims = jwt.decode(
            token, settings.secret_key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
        return TokenClaims(user_id=int(claims["sub"]), enterprise_id=int(claims["ent"]))
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return None
