"""Errors raised while building or reading wire messages.

Every failure carries a stable ``reason`` code: the cloud stores it with dead
letters and counts it in metrics, so it must not change between releases.
"""

from __future__ import annotations

__all__ = [
    "IdentifierError",
    "MalformedMessage",
    "ReplayError",
    "SignatureError",
    "TopicError",
    "UnknownDevice",
    "WireError",
]


class WireError(Exception):
    """Root of every error raised by :mod:`wire`."""

    reason = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TopicError(WireError):
    """A topic does not follow ``ct/v1/{tenant}/{site}/{device}/{kind}``."""

    reason = "bad_topic"


class MalformedMessage(WireError):
    """The bytes are not a well-formed envelope, or the payload fails its schema."""

    reason = "malformed"


class UnknownDevice(WireError):
    """No public key is registered for the device named in the envelope."""

    reason = "unknown_device"


class SignatureError(WireError):
    """The signature does not verify for this topic, device, sequence and payload."""

    reason = "bad_signature"


class ReplayError(WireError):
    """A sequence number already used by the device arrived with different content."""

    reason = "replay"


class IdentifierError(WireError, ValueError):
    """A GS1 key, Digital Link URI or EPC URN is malformed (the message says how)."""

    reason = "bad_identifier"
