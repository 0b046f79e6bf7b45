"""Brand signing keys: Ed25519 key files and the public keyring used to verify codes.

A key directory holds one PKCS#8 PEM per private key (``brand-<kid>.pem``, mode 0600, never
overwritten) and ``keyring.json``, the public keys a resolver needs. Rotation adds a key;
old keys stay in the keyring so codes already printed keep verifying, until a key is revoked
(a leaked key): codes signed by a revoked key then fail verification.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloud.provenance.errors import KeyStoreError
from wire import keys as wire_keys
from wire.envelope import SignatureCheck, ed25519_check
from wire.errors import WireError

__all__ = [
    "KEYRING_FILE",
    "BrandKey",
    "Keyring",
    "create_brand_key",
    "key_id",
    "load_keyring",
    "load_private_key",
    "public_key_text",
    "revoke_key",
]

_logger = logging.getLogger(__name__)

KEYRING_FILE = "keyring.json"
_PREFIX = "ed25519:"


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """The short key id printed in codes: 8 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(_raw(public)).hexdigest()[:8]


def public_key_text(public: Ed25519PublicKey) -> str:
    return _PREFIX + base64.b64encode(_raw(public)).decode("ascii")


@functools.lru_cache(maxsize=1024)
def _parse_public(text: str) -> Ed25519PublicKey:
    # Remembered: every scan verifies with its brand's key (keys are immutable values).
    if not text.startswith(_PREFIX):
        raise KeyStoreError(f"public key must start with {_PREFIX!r}; got {text[:16]!r}")
    try:
        raw = base64.b64decode(text[len(_PREFIX) :], validate=True)
    except binascii.Error:
        raise KeyStoreError("public key is not valid base64") from None
    if len(raw) != 32:
        raise KeyStoreError(f"Ed25519 public key must be 32 bytes; got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


@functools.lru_cache(maxsize=1024)
def _checker(text: str) -> SignatureCheck:
    return ed25519_check(_raw(_parse_public(text)))


@dataclass(frozen=True, slots=True)
class BrandKey:
    """One public brand key in a keyring."""

    kid: str
    public_key: str
    created: str
    revoked: str | None = None

    def __post_init__(self) -> None:
        actual = key_id(_parse_public(self.public_key))
        if actual != self.kid:
            raise KeyStoreError(f"key id {self.kid!r} does not match its public key ({actual})")

    @property
    def key(self) -> Ed25519PublicKey:
        return _parse_public(self.public_key)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature of ``message`` (the one
        verifier, :func:`wire.envelope.ed25519_check`: libsodium, about half the cost of
        ``cryptography``'s per scanned code)."""
        return _checker(self.public_key)(signature, message)

    def to_json(self) -> dict[str, str | None]:
        return {
            "kid": self.kid,
            "public_key": self.public_key,
            "created": self.created,
            "revoked": self.revoked,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BrandKey:
        try:
            revoked = data.get("revoked")
            return cls(
                kid=str(data["kid"]),
                public_key=str(data["public_key"]),
                created=str(data["created"]),
                revoked=None if revoked is None else str(revoked),
            )
        except KeyError as exc:
            raise KeyStoreError(f"keyring entry lacks {exc.args[0]!r}") from None


@dataclass(frozen=True, slots=True)
class Keyring:
    """The brand's public keys by key id (what offline verification needs)."""

    keys: tuple[BrandKey, ...] = ()

    def __post_init__(self) -> None:
        kids = [k.kid for k in self.keys]
        if len(set(kids)) != len(kids):
            raise KeyStoreError(f"duplicate key ids in keyring: {kids}")

    def get(self, kid: str) -> BrandKey | None:
        return next((k for k in self.keys if k.kid == kid), None)

    def with_key(self, key: BrandKey) -> Keyring:
        return Keyring((*self.keys, key))

    def to_json(self) -> str:
        return json.dumps({"keys": [k.to_json() for k in self.keys]}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        try:
            data = json.loads(text)
            entries = data["keys"]
        except (ValueError, KeyError, TypeError):
            raise KeyStoreError('keyring is not JSON of the form {"keys": [...]}') from None
        return cls(tuple(BrandKey.from_json(e) for e in entries))

    @classmethod
    def of(cls, *publics: Ed25519PublicKey) -> Keyring:
        """A keyring of bare public keys (tests, and resolvers configured by key text)."""
        return cls(tuple(BrandKey(key_id(p), public_key_text(p), "") for p in publics))


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """A brand's PEM signing key (the same file format as device keys)."""
    try:
        return wire_keys.load_private_key(path)
    except WireError as exc:
        raise KeyStoreError(exc.message.replace("private key", "brand key", 1)) from None


def load_keyring(directory: Path) -> Keyring:
    """The keyring in ``directory`` (empty if the directory has none yet)."""
    path = directory / KEYRING_FILE
    try:
        return Keyring.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Keyring()
    except OSError as exc:
        raise KeyStoreError(f"cannot read keyring {path}: {exc.strerror}") from None


def _write_keyring(directory: Path, keyring: Keyring) -> None:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".keyring-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(keyring.to_json())
    os.replace(tmp, directory / KEYRING_FILE)


def create_brand_key(
    directory: Path, *, now: datetime | None = None, key: Ed25519PrivateKey | None = None
) -> tuple[Path, BrandKey]:
    """Write ``brand-<kid>.pem`` (0600, never overwritten) and add it to the keyring.

    ``key`` imports an existing key; by default a new one is generated.
    """
    directory.mkdir(parents=True, exist_ok=True)
    private = key or Ed25519PrivateKey.generate()
    public = private.public_key()
    entry = BrandKey(key_id(public), public_key_text(public), _stamp(now))
    keyring = load_keyring(directory)
    if keyring.get(entry.kid) is not None:
        raise KeyStoreError(f"key id {entry.kid} already in {directory / KEYRING_FILE}")
    path = directory / f"brand-{entry.kid}.pem"
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyStoreError(f"refusing to overwrite existing key file {path}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    _write_keyring(directory, keyring.with_key(entry))
    _logger.info("created brand key %s in %s", entry.kid, path)
    return path, entry


def revoke_key(directory: Path, kid: str, *, now: datetime | None = None) -> BrandKey:
    """Mark ``kid`` revoked: codes it signed stop verifying. The private key file is kept."""
    keyring = load_keyring(directory)
    entry = keyring.get(kid)
    if entry is None:
        raise KeyStoreError(f"no key {kid!r} in {directory / KEYRING_FILE}")
    revoked = replace(entry, revoked=_stamp(now))
    _write_keyring(directory, Keyring(tuple(revoked if k.kid == kid else k for k in keyring.keys)))
    return revoked


def _stamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).isoformat(timespec="seconds")
