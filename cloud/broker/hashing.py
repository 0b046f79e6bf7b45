"""Mosquitto's password hash: ``$7$<iterations>$<b64 salt>$<b64 PBKDF2-HMAC-SHA512>``.

The format of ``mosquitto_passwd`` (Mosquitto 2.x): a 12-byte salt, a 64-byte digest.
Device and service passwords are random 32-byte secrets, so Mosquitto's default iteration
count is enough (the work factor protects guessable passwords, which these are not) and
keeps broker connects cheap.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

__all__ = ["DEFAULT_ITERATIONS", "mosquitto_hash", "new_password", "verify_mosquitto_hash"]

DEFAULT_ITERATIONS: Final = 101  # mosquitto_passwd's default
_SALT_BYTES: Final = 12
_DIGEST_BYTES: Final = 64


def new_password() -> str:
    """A random password safe in an MQTT URL's userinfo (base64url, 43 characters)."""
    return secrets.token_urlsafe(32)


def mosquitto_hash(
    password: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
) -> str:
    if iterations < 1:
        raise ValueError("iterations must be positive")
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _DIGEST_BYTES)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_mosquitto_hash(encoded: str, password: str) -> bool:
    try:
        empty, version, iterations, salt, digest = encoded.split("$")
        if empty or version != "7":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.pbkdf2_hmac(
            "sha512", password.encode(), base64.b64decode(salt, validate=True),
            int(iterations), len(expected),
        )  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)
