"""Password hashing for people (Argon2id via argon2-cffi, its recommended parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_password", "needs_rehash", "verify_password"]

_HASHER = PasswordHasher()
# Verified when the username is unknown, so that a miss costs as much as a wrong password.
_DUMMY_HASH = _HASHER.hash("channeltrace: no such user")


def hash_password(password: str) -> str:
    """An encoded Argon2id hash (salt and parameters included)."""
    if not password:
        raise ValueError("an empty password is not allowed")
    return _HASHER.hash(password)


def verify_password(encoded: str | None, password: str) -> bool:
    """True if ``password`` matches ``encoded``; ``None`` burns the same time and fails."""
    try:
        return _HASHER.verify(encoded or _DUMMY_HASH, password) and encoded is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(encoded: str) -> bool:
    return _HASHER.check_needs_rehash(encoded)
