"""The signed envelope around every message payload.

Byte layout (all integers unsigned, big-endian); documented in docs/protocol.md:

    offset      size  field
    0           2     magic b"CT"
    2           1     envelope version (1)
    3           1     flags (0; any other value is rejected)
    4           8     seq: per-device sequence number, >= 1
    12          1     n: length of the device id
    13          n     device id (ASCII, same alphabet as a topic segment)
    13+n        4     m: length of the payload
    17+n        m     payload: the exact bytes of the JSON document
    17+n+m      64    Ed25519 signature

The signature covers ``CONTEXT || u16(len(topic)) || topic || envelope[0:17+n+m]``,
so a message moved to another topic, device or sequence number, or with one
payload byte changed, no longer verifies.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError
from nacl.exceptions import ValueError as NaclValueError

from wire.errors import MalformedMessage, SignatureError, TopicError
from wire.topics import SEGMENT_PATTERN, Topic

if TYPE_CHECKING:  # imported where used: the edge agent signs without `cryptography`
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "CONTEXT",
    "MAGIC",
    "MAX_PAYLOAD",
    "MAX_SEQ",
    "SIGNATURE_SIZE",
    "VERSION",
    "Envelope",
    "SignatureCheck",
    "Signer",
    "check_signature",
    "decode",
    "ed25519_check",
    "seal",
    "signed_bytes",
    "verify",
]

MAGIC = b"CT"
VERSION = 1
CONTEXT = b"channeltrace/wire/v1\x00"
SIGNATURE_SIZE = 64
MAX_PAYLOAD = 1 << 20  # 1 MiB: a generous batch; anything larger is hostile or a bug
MAX_SEQ = (1 << 63) - 1  # fits PostgreSQL bigint
_HEAD = struct.Struct(">2sBBQB")  # magic, version, flags, seq, device id length
_LEN = struct.Struct(">I")
_MIN_SIZE = _HEAD.size + 1 + _LEN.size + SIGNATURE_SIZE


class Signer(Protocol):
    """An Ed25519 private key as sealing uses it: `cryptography`'s Ed25519PrivateKey, or
    the edge agent's lighter `edge.ed25519.SigningKey` (same signatures)."""

    def sign(self, data: bytes) -> bytes: ...


SignatureCheck = Callable[[bytes, bytes], bool]
"""``check(signature, signed_bytes)``: True when one public key's Ed25519 signature verifies.

Lets each side verify with the library it carries (the edge agent checks cloud signatures
through the system libcrypto, without `cryptography`)."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded envelope; ``signature`` is not yet verified."""

    device_id: str
    seq: int
    payload: bytes
    signature: bytes
    unsigned: bytes  # envelope bytes covered by the signature (everything but the signature)


def _header(device_id: str, seq: int, payload: bytes) -> bytes:
    if not 1 <= seq <= MAX_SEQ:
        raise ValueError(f"seq must be in 1..{MAX_SEQ}; got {seq}")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload must be at most {MAX_PAYLOAD} bytes; got {len(payload)}")
    device = device_id.encode("ascii")
    return (
        _HEAD.pack(MAGIC, VERSION, 0, seq, len(device)) + device + _LEN.pack(len(payload)) + payload
    )


def signed_bytes(topic: str, unsigned: bytes) -> bytes:
    """The exact bytes the Ed25519 signature is computed over."""
    encoded = topic.encode("utf-8")
    return CONTEXT + struct.pack(">H", len(encoded)) + encoded + unsigned


def seal(topic: Topic, seq: int, payload: bytes, key: Signer) -> bytes:
    """Wrap ``payload`` for ``topic`` (whose device is the signer) as sequence ``seq``."""
    unsigned = _header(topic.device, seq, payload)
    return unsigned + key.sign(signed_bytes(str(topic), unsigned))


def decode(data: bytes) -> Envelope:
    """Parse envelope structure; raises :class:`MalformedMessage` on any defect."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedMessage(f"envelope must be bytes; got {type(data).__name__}")
    data = bytes(data)
    if len(data) < _MIN_SIZE:
        raise MalformedMessage(f"envelope too short: {len(data)} bytes, need at least {_MIN_SIZE}")
    magic, version, flags, seq, device_len = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise MalformedMessage(f"bad magic: expected {MAGIC!r}, got {magic!r}")
    if version != VERSION:
        raise MalformedMessage(
            f"unsupported envelope version {version}; this reader knows {VERSION}"
        )
    if flags != 0:
        raise MalformedMessage(f"unknown flags 0x{flags:02x}; expected 0x00")
    if not 1 <= seq <= MAX_SEQ:
        raise MalformedMessage(f"seq must be in 1..{MAX_SEQ}; got {seq}")
    offset = _HEAD.size
    raw_device = data[offset : offset + device_len]
    try:
        device_id = raw_device.decode("ascii")
    except UnicodeDecodeError:
        raise MalformedMessage("device id is not ASCII") from None
    if len(raw_device) != device_len or not SEGMENT_PATTERN.fullmatch(device_id):
        raise MalformedMessage(f"bad device id {raw_device!r}")
    offset += device_len
    if len(data) < offset + _LEN.size:
        raise MalformedMessage("envelope truncated before the payload length")
    (payload_len,) = _LEN.unpack_from(data, offset)
    offset += _LEN.size
    if payload_len > MAX_PAYLOAD:
        raise MalformedMessage(f"payload length {payload_len} exceeds the {MAX_PAYLOAD}-byte limit")
    expected = offset + payload_len + SIGNATURE_SIZE
    if len(data) != expected:
        raise MalformedMessage(
            f"envelope length mismatch: header says {expected} bytes, got {len(data)}"
        )
    payload = data[offset : offset + payload_len]
    signature = data[offset + payload_len :]
    return Envelope(device_id, seq, payload, signature, data[: offset + payload_len])


def ed25519_check(public_key: bytes) -> SignatureCheck:
    """The one Ed25519 verifier (libsodium through PyNaCl) for a raw 32-byte public key.

    libsodium is strict where it matters: besides wrong signatures it refuses small-order
    public keys and non-canonical encodings, which no honest signer produces. Its calls
    release the GIL, so a thread pool verifies in parallel. Measured on the 2-core machine:
    ≈ 41 µs per 300-byte message against ≈ 65 µs with ``cryptography``.
    """
    if len(public_key) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes; got {len(public_key)}")

    def check(signature: bytes, message: bytes) -> bool:
        if len(signature) != SIGNATURE_SIZE:
            return False
        try:
            crypto_sign_open(signature + message, public_key)
        except (BadSignatureError, NaclValueError):
            return False
        return True

    return check


def check_signature(
    topic: Topic,
    envelope: Envelope,
    checks: Sequence[SignatureCheck],
    *,
    topic_name: str | None = None,
) -> None:
    """Check that ``envelope`` was signed for ``topic`` by a key behind one of ``checks``.

    Several keys are accepted so that a signer can rotate its key without a gap.
    ``topic_name`` is ``str(topic)`` when the caller has it already (the ingest's hot path).
    """
    if envelope.device_id != topic.device:
        raise TopicError(
            f"envelope device {envelope.device_id!r} does not match topic device {topic.device!r}"
        )
    message = signed_bytes(topic_name or str(topic), envelope.unsigned)
    if not any(check(envelope.signature, message) for check in checks):
        raise SignatureError(
            f"signature of {topic.device} seq {envelope.seq} on {topic} does not verify "
            f"with any of the {len(checks)} registered key(s)"
        )


def verify(topic: Topic, envelope: Envelope, keys: Iterable[Ed25519PublicKey | bytes]) -> None:
    """:func:`check_signature` with public keys (raw bytes or `cryptography` keys)."""
    raw = [key if isinstance(key, bytes) else key.public_bytes_raw() for key in keys]
    check_signature(topic, envelope, [ed25519_check(key) for key in raw])
