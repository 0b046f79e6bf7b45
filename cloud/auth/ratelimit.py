"""Per-client rate limits of the public endpoints (in memory; nothing is persisted).

The client is identified by a keyed hash of its address, held only in this process's
memory for the length of the window; addresses are never logged or stored.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

__all__ = ["RateLimiter", "Verdict"]


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0


class RateLimiter:
    """``limit`` is a ``limits`` string such as ``"120/minute"``, applied per client and bucket."""

    def __init__(self, limit: str) -> None:
        self._item: RateLimitItem = parse(limit)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._salt = secrets.token_bytes(16)  # per process: hashes are not linkable later

    @property
    def limit(self) -> str:
        return str(self._item)

    def _client(self, address: str) -> str:
        return hashlib.blake2b(address.encode(), key=self._salt, digest_size=12).hexdigest()

    def hit(self, address: str, bucket: str = "public") -> Verdict:
        client = self._client(address)
        if self._limiter.hit(self._item, bucket, client):
            return Verdict(True)
        stats = self._limiter.get_window_stats(self._item, bucket, client)
        return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())))
