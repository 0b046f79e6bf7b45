"""Replay detection for a stream of sequence numbers from many devices.

At-least-once delivery means the same message may arrive twice: an identical
redelivery is a *duplicate* and is absorbed. A *different* message under a
sequence number already used, or one older than the remembered window, is a
replay and is rejected. The cloud keeps this state in its ingest log; this
in-memory guard is the same rule for places without a database (the edge agent
receiving config, tests, tools).
"""

from __future__ import annotations

import hashlib
import heapq
from enum import Enum

from wire.errors import ReplayError

__all__ = ["Freshness", "ReplayGuard", "digest"]


class Freshness(Enum):
    FRESH = "fresh"
    DUPLICATE = "duplicate"


def digest(envelope: bytes) -> bytes:
    """What identifies a message's content for duplicate detection."""
    return hashlib.sha256(envelope).digest()


class ReplayGuard:
    """Remembers the last ``window`` sequence numbers of each device."""

    def __init__(self, window: int = 65_536) -> None:
        if window < 1:
            raise ValueError(f"window must be positive; got {window}")
        self._window = window
        self._seen: dict[str, dict[int, bytes]] = {}
        self._order: dict[str, list[int]] = {}  # min-heap of remembered seqs per device
        self._floor: dict[str, int] = {}

    def check(self, device: str, seq: int, content_digest: bytes) -> Freshness:
        """Classify a message and remember it; raises :class:`ReplayError` for a replay."""
        seen = self._seen.setdefault(device, {})
        known = seen.get(seq)
        if known is not None:
            if known == content_digest:
                return Freshness.DUPLICATE
            raise ReplayError(f"{device} seq {seq} was already used for a different message")
        floor = self._floor.get(device, 0)
        if seq <= floor:
            raise ReplayError(
                f"{device} seq {seq} is older than the replay window (forgot seqs <= {floor})"
            )
        seen[seq] = content_digest
        order = self._order.setdefault(device, [])
        heapq.heappush(order, seq)
        if len(seen) > self._window:
            # Forget the lowest sequence number; anything at or below it is now a replay.
            lowest = heapq.heappop(order)
            del seen[lowest]
            self._floor[device] = max(floor, lowest)
        return Freshness.FRESH
