"""Secrets stored at rest (a bound mailbox's password): Fernet, with a key derived from
SECRET_KEY by HKDF-SHA256 for this one purpose. During a key rotation the keys in
SECRET_KEY_PREVIOUS still decrypt (never encrypt); a password stored under a key that is gone
cannot be read, and its owner binds the mailbox again."""

from __future__ import annotations

import base64
from functools import cache
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from crmfeed.settings import Settings

PURPOSE = b"crmfeed mailbox password v1"


class Undecryptable(ValueError):
    """The secret was stored under a key this server no longer has."""


def _key(secret_key: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(derived)


@cache
def _box(current: str, previous: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_key(key)) for key in (current, *previous)])


def box(settings: Settings) -> MultiFernet:
    return _box(settings.secret_key, settings.previous_secret_keys)


def seal(settings: Settings, secret: str) -> str:
    return box(settings).encrypt(secret.encode()).decode()


def unseal(settings: Settings, sealed: str) -> str:
    try:
        return box(settings).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise Undecryptable from None
