"""Webhook signatures: HMAC-SHA256 over ``"{timestamp}.{body}"``, and retry back-off.

The header is ``X-ChannelTrace-Signature: t=<unix seconds>,v1=<hex digest>``; a receiver
recomputes the digest with the subscription's secret and refuses stale timestamps (replay).
Each delivery also carries ``Idempotency-Key`` (one per notification, the same on every
retry), so a receiver that saw it already can ignore a repeat.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

__all__ = [
    "EVENT_HEADER",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "backoff",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-ChannelTrace-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-ChannelTrace-Event"


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify(
    secret: str, body: bytes, header: str, *, now: float, tolerance_s: float = 300.0
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now``."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(parts.get("v1", ""), _digest(secret, timestamp, body))


def backoff(attempt: int, *, base: timedelta, cap: timedelta) -> timedelta:
    """Delay after failed attempt number ``attempt`` (1-based): base, 2 base, 4 base, ... cap."""
    if attempt < 1:
        raise ValueError(f"expected attempt >= 1, got {attempt}")
    delay: timedelta = base * (2 ** min(attempt - 1, 30))
    return min(cap, delay)
