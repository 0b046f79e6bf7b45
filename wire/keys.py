"""Ed25519 device keys: generation and text forms for config files and the registry.

Public keys travel as ``ed25519:<base64 of the 32 raw bytes>``; private keys are
stored as unencrypted PKCS#8 PEM files readable only by the agent's user.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import TYPE_CHECKING

from wire.errors import WireError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

# `cryptography` is imported where it is used, not with this module: the edge agent reads
# key text through here and signs without it (edge/ed25519.py), saving ~8 MB of memory.

__all__ = [
    "PUBLIC_KEY_PREFIX",
    "format_public_key",
    "generate_private_key",
    "load_private_key",
    "parse_public_key",
    "private_key_pem",
    "public_key_bytes",
    "write_private_key",
]

PUBLIC_KEY_PREFIX = "ed25519:"


def generate_private_key() -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private_key(key: Ed25519PrivateKey, path: Path) -> None:
    """Write ``key`` as PEM with mode 0600, refusing to overwrite an existing key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_key_pem(key))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WireError(f"cannot read private key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise WireError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise WireError(f"{path} holds a {type(key).__name__}, expected an Ed25519 key")
    return key


def format_public_key(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(public_key_bytes(text))


def public_key_bytes(text: str) -> bytes:
    """The 32 raw bytes of an ``ed25519:<base64>`` public key; :class:`WireError` if malformed."""
    if not text.startswith(PUBLIC_KEY_PREFIX):
        raise WireError(f"public key must start with {PUBLIC_KEY_PREFIX!r}; got {text[:16]!r}")
    try:
        raw = base64.b64decode(text[len(PUBLIC_KEY_PREFIX) :], validate=True)
    except binascii.Error:
        raise WireError("public key is not valid base64") from None
    if len(raw) != 32:
        raise WireError(f"Ed25519 public key must be 32 bytes; got {len(raw)}")
    return raw
