"""Opening a received message: topic, envelope, signature and payload in one step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wire.envelope import (
    Envelope,
    SignatureCheck,
    Signer,
    check_signature,
    decode,
    ed25519_check,
    seal,
)
from wire.errors import UnknownDevice
from wire.models import Payload, decode_payload, encode_payload
from wire.topics import Topic

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = [
    "KeyLookup",
    "OpenedMessage",
    "open_envelope",
    "open_message",
    "open_signed",
    "seal_payload",
]

KeyLookup = Callable[[str], "Sequence[Ed25519PublicKey]"]
"""Returns the public keys registered for a device id (empty when unknown)."""


@dataclass(frozen=True, slots=True)
class OpenedMessage:
    topic: Topic
    envelope: Envelope
    payload: Payload


def seal_payload(topic: Topic, seq: int, payload: Payload, key: Signer) -> bytes:
    """Encode and sign ``payload`` for ``topic``: what a device publishes."""
    return seal(topic, seq, encode_payload(payload), key)


def open_envelope(
    topic: Topic,
    envelope: Envelope,
    checks: Sequence[SignatureCheck],
    *,
    topic_name: str | None = None,
) -> OpenedMessage:
    """The one way a signed message is opened once its envelope is decoded: addressed to
    the topic's device, signed by a key behind ``checks``, then the payload schema —
    unauthenticated bytes never reach the JSON parser. Every failure is a
    :class:`wire.errors.WireError` whose ``reason`` says which check failed.
    """
    if not checks:
        raise UnknownDevice(f"no public key registered for device {envelope.device_id!r}")
    check_signature(topic, envelope, checks, topic_name=topic_name)
    payload = decode_payload(topic.kind, envelope.payload)
    return OpenedMessage(topic, envelope, payload)


def open_message(topic: str, data: bytes, keys_for: KeyLookup) -> OpenedMessage:
    """Parse, authenticate and validate a message received from a device whose registered
    keys ``keys_for`` returns (cheapest checks first)."""
    parsed_topic = Topic.parse(topic)
    envelope = decode(data)
    keys = keys_for(envelope.device_id)
    checks = [ed25519_check(key.public_bytes_raw()) for key in keys]
    return open_envelope(parsed_topic, envelope, checks, topic_name=topic)


def open_signed(topic: Topic, data: bytes, checks: Sequence[SignatureCheck]) -> OpenedMessage:
    """Open a message received on ``topic`` whose signer's keys are known in advance (a
    device opening what the cloud signed: config, receipts, backfill requests)."""
    return open_envelope(topic, decode(data), checks)
