"""C2SP signed notes with Ed25519 keys (https://c2sp.org/signed-note).

What this module follows, from the spec and the Go reference
(``golang.org/x/mod/sumdb/note``):

- A signed note is UTF-8 text ending in ``"\\n"``, a blank line, then one or
  more signature lines ``"— <name> <base64(key id || signature)>\\n"`` (U+2014
  EM DASH, space). The text is separated from the signatures by the *last*
  blank line and the signature covers the text including its final newline.
- No ASCII control characters other than newline anywhere in the note.
- Key names are non-empty with no Unicode spaces and no ``+``.
- Key ID (Ed25519, signature type ``0x01``)::

      key id = SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4]

- Verifier key string: ``<name>+<hex key id>+<base64(0x01 || public key)>``;
  signer key string (Go's ``note.GenerateKey`` format):
  ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || 32-byte seed)>``.
- Opening: signatures from unknown keys (name *and* key id must both match) are
  ignored; a signature from a known key that fails to verify rejects the whole
  note; a note with no verified signature is rejected. At most 100 signatures.

Base64 is RFC 4648 §4 standard base64 with padding, decoded strictly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import NoteError

__all__ = ["ALG_ED25519", "LogKey", "VerifierKey", "key_id", "open_note", "sign_note"]

ALG_ED25519: Final = 0x01
SIG_PREFIX: Final = "\u2014 "  # EM DASH, space
MAX_SIGNATURES: Final = 100
_SKEY_PREFIX: Final = "PRIVATE+KEY+"
_CONTROL: Final = re.compile(r"[\x00-\x09\x0b-\x1f]")


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte C2SP key ID of an Ed25519 ``public_key`` under ``name``."""
    _check_name(name)
    data = name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key
    return hashlib.sha256(data).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A named Ed25519 public key, shared as a ``vkey`` string."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise NoteError(f"Ed25519 public key must be 32 bytes, got {len(self.public_key)}")
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError:
            raise NoteError("not a valid Ed25519 public key") from None

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    def to_vkey(self) -> str:
        blob = _b64(bytes([ALG_ED25519]) + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    @classmethod
    def parse(cls, vkey: str) -> VerifierKey:
        """Parse ``<name>+<hex key id>+<base64(0x01 || key)>``, checking the key ID."""
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise NoteError(f"vkey must have 3 '+'-separated fields, got {len(parts)}")
        name, hex_id, blob = parts
        key = cls(name, _decode_key_blob(blob, "vkey"))
        _check_id(hex_id, key.key_id, "vkey")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class LogKey:
    """A named Ed25519 signing key (the log's), stored as its 32-byte seed."""

    name: str
    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.seed) != 32:
            raise NoteError(f"Ed25519 seed must be 32 bytes, got {len(self.seed)}")

    @classmethod
    def generate(cls, name: str) -> LogKey:
        return cls(name, Ed25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def parse(cls, skey: str) -> LogKey:
        """Parse ``PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>``."""
        if not skey.startswith(_SKEY_PREFIX):
            raise NoteError(f"skey must start with {_SKEY_PREFIX!r}")
        parts = skey[len(_SKEY_PREFIX) :].split("+", 2)
        if len(parts) != 3:
            raise NoteError(f"skey must have 3 fields after {_SKEY_PREFIX!r}, got {len(parts)}")
        name, hex_id, blob = parts
        key = cls(name, _decode_key_blob(blob, "skey"))
        _check_id(hex_id, key.verifier().key_id, "skey")
        return key

    def to_skey(self) -> str:
        blob = _b64(bytes([ALG_ED25519]) + self.seed)
        return f"{_SKEY_PREFIX}{self.name}+{self.verifier().key_id.hex()}+{blob}"

    def verifier(self) -> VerifierKey:
        public = self._private().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return VerifierKey(self.name, public)

    def sign(self, message: bytes) -> bytes:
        return self._private().sign(message)

    def _private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)


def sign_note(text: str, *keys: LogKey) -> str:
    """Sign ``text`` (newline-terminated) with each key and return the signed note."""
    _check_text(text)
    if not keys:
        raise NoteError("sign_note needs at least one key")
    message = text.encode()
    lines = [f"{SIG_PREFIX}{k.name} {_b64(k.verifier().key_id + k.sign(message))}\n" for k in keys]
    return text + "\n" + "".join(lines)


def open_note(note: str | bytes, verifiers: Sequence[VerifierKey]) -> str:
    """Verify ``note`` against ``verifiers`` and return its text.

    Raises :class:`NoteError` if the note is malformed, a signature by a known
    key is invalid, or no known key signed it.
    """
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError(f"note must be UTF-8: {exc.reason} at byte {exc.start}") from None
    if _CONTROL.search(note):
        raise NoteError("note contains an ASCII control character other than newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    _check_text(text)
    if not sig_block.endswith("\n"):
        raise NoteError("signature block must end with a newline")
    sig_lines = sig_block[:-1].split("\n")
    if len(sig_lines) > MAX_SIGNATURES:
        raise NoteError(f"note has {len(sig_lines)} signatures, at most {MAX_SIGNATURES} allowed")
    known = {(v.name, v.key_id): v for v in verifiers}
    message, verified = text.encode(), 0
    for line in sig_lines:
        name, sig = _parse_sig_line(line)
        verifier = known.get((name, sig[:4]))
        if verifier is None:
            continue  # unknown keys are ignored (spec: MUST)
        if not verifier.verify(message, sig[4:]):
            raise NoteError(f"invalid signature for key {name}+{sig[:4].hex()}")
        verified += 1
    if not verified:
        wanted = ", ".join(f"{n}+{i.hex()}" for n, i in known) or "none given"
        raise NoteError(f"note has no signature from a known key (known: {wanted})")
    return text


def _parse_sig_line(line: str) -> tuple[str, bytes]:
    if not line.startswith(SIG_PREFIX):
        raise NoteError(f"signature line must start with an em dash and space, got {line[:20]!r}")
    name, sep, blob = line[len(SIG_PREFIX) :].partition(" ")
    if not sep:
        raise NoteError("signature line must be '— <name> <base64>'")
    _check_name(name)
    sig = _unb64(blob, "signature")
    if len(sig) < 5:
        raise NoteError(f"signature must be a 4-byte key id plus a signature, got {len(sig)} bytes")
    return name, sig


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("note text must be non-empty and end with a newline")
    if _CONTROL.search(text):
        raise NoteError("note text contains an ASCII control character other than newline")


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise NoteError(f"key name must be non-empty without spaces or '+', got {name!r}")


def _check_id(hex_id: str, want: bytes, what: str) -> None:
    if hex_id != want.hex():
        raise NoteError(f"{what} key id {hex_id!r} does not match the key, expected {want.hex()}")


def _decode_key_blob(blob: str, what: str) -> bytes:
    raw = _unb64(blob, what)
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise NoteError(f"{what} must encode 0x01 followed by 32 key bytes, got {len(raw)} bytes")
    return raw[1:]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    """Strict standard base64: alphabet, padding and canonical trailing bits."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise NoteError(f"{what} is not valid base64: {text[:60]!r}") from None
    if _b64(raw) != text:
        raise NoteError(f"{what} is not canonical base64: {text[:60]!r}")
    return raw
