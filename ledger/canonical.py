"""RFC 8785 (JCS) canonical bytes of a ledger event, and its leaf hash.

A leaf of the log is ``SHA-256(0x00 || JCS(event))``: two parties holding the same JSON
event compute the same leaf hash whatever key order or number spelling they received it
in. Needs the ``rfc8785`` package (the ``cloud`` extra); the rest of the core does not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import rfc8785

from ledger.errors import LedgerError
from ledger.hashing import leaf_hash

__all__ = ["CanonicalError", "canonical_bytes", "event_leaf_hash", "parse_canonical"]


class CanonicalError(LedgerError):
    """An event cannot be canonicalised, or bytes claimed canonical are not."""


def canonical_bytes(event: Mapping[str, Any]) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of the JSON object ``event``."""
    if not isinstance(event, Mapping):
        raise CanonicalError(f"a ledger event must be a JSON object, got {type(event).__name__}")
    try:
        return rfc8785.dumps(event)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise CanonicalError(f"event is not canonicalisable JSON: {exc}") from None


def event_leaf_hash(event: Mapping[str, Any]) -> bytes:
    """``SHA-256(0x00 || JCS(event))``."""
    return leaf_hash(canonical_bytes(event))


def parse_canonical(data: bytes) -> dict[str, Any]:
    """Parse bytes that must already be the canonical form of a JSON object.

    Raises :class:`CanonicalError` if they are not JSON, not an object, or not canonical
    (re-canonicalising them gives different bytes).
    """
    try:
        event = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CanonicalError(f"event is not UTF-8 JSON: {exc}") from None
    if not isinstance(event, dict):
        raise CanonicalError(f"event must be a JSON object, got {type(event).__name__}")
    again = canonical_bytes(event)
    if again != data:
        raise CanonicalError(
            f"event bytes are not RFC 8785 canonical ({len(data)} bytes; canonical form has "
            f"{len(again)})"
        )
    return event
