"""Ed25519 signing and verification for the agent, with libsodium (PyNaCl).

The agent does not load `cryptography` (its own statically linked OpenSSL and Rust
extension cost about 8 MB of a gateway's memory budget): it signs and checks signatures
with libsodium, the same library the cloud verifies with (:func:`wire.ed25519_check`).
Ed25519 is deterministic, so the signatures are byte for byte those `cryptography` makes
(tests/edge/test_ed25519.py checks it).

Private keys are read from the unencrypted PKCS#8 PEM that `wire.keys.write_private_key`
writes; any other PEM goes through `wire.keys.load_private_key` and its error messages.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import TYPE_CHECKING

from nacl.signing import SigningKey as _NaclSigningKey

from wire.envelope import Signer, ed25519_check
from wire.keys import public_key_bytes

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["PublicKey", "Signer", "SigningKey", "load_signing_key", "parse_verify_key"]

_SEED_SIZE = 32
# DER of an Ed25519 OneAsymmetricKey v1 (RFC 8410): SEQUENCE { INTEGER 0,
# AlgorithmIdentifier { 1.3.101.112 }, OCTET STRING { OCTET STRING (32 bytes) } }.
_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_PEM_BEGIN = b"-----BEGIN PRIVATE KEY-----"
_PEM_END = b"-----END PRIVATE KEY-----"


class SigningKey:
    """An Ed25519 private key that signs (`Signer`)."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != _SEED_SIZE:
            raise ValueError(f"an Ed25519 private key is 32 bytes; got {len(seed)}")
        self._key = _NaclSigningKey(seed)

    def sign(self, data: bytes) -> bytes:
        return bytes(self._key.sign(data).signature)


class PublicKey:
    """An Ed25519 public key that checks signatures (libsodium's strict verification)."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._check = ed25519_check(raw)  # ValueError unless 32 bytes

    @classmethod
    def of(cls, key: PublicKey | Ed25519PublicKey) -> PublicKey:
        """``key`` as a `PublicKey` (a `cryptography` key is converted by its raw bytes)."""
        return key if isinstance(key, PublicKey) else cls(key.public_bytes_raw())

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``data`` (never raises for a
        wrong signature)."""
        return self._check(signature, data)


def parse_verify_key(text: str) -> PublicKey:
    """``ed25519:<base64>`` as a `PublicKey`; `wire.WireError` (the same messages as
    `wire.keys.parse_public_key`) when malformed."""
    return PublicKey(public_key_bytes(text))


def load_signing_key(path: Path) -> Signer:
    """The device key in ``path``. The PKCS#8 PEM that provisioning writes is read here;
    anything else is left to `wire.keys.load_private_key` (and `cryptography`)."""
    seed = _pkcs8_seed(path)
    if seed is not None:
        return SigningKey(seed)
    from wire.keys import load_private_key

    return load_private_key(path)


def _pkcs8_seed(path: Path) -> bytes | None:
    try:
        text = path.read_bytes().strip()
    except OSError:
        return None  # load_private_key reports it
    if not (text.startswith(_PEM_BEGIN) and text.endswith(_PEM_END)):
        return None
    body = text[len(_PEM_BEGIN) : -len(_PEM_END)]
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except binascii.Error:
        return None
    if len(der) != len(_PKCS8_PREFIX) + _SEED_SIZE or not der.startswith(_PKCS8_PREFIX):
        return None
    return der[len(_PKCS8_PREFIX) :]
