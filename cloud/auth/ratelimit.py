"""Per-client rate limits of the public endpoints (in memory; nothing is persisted).

The client is identified by a keyed hash of its address, held only in this process's
memory for the length of the window; addresses are never logged or stored.

The limit (``limits``' notation, ``"120/minute"``) is enforced with the generic cell rate
algorithm: one number per client (when its budget is next full), ``amount`` requests at
once and then one per ``period / amount``. Constant time per request and no threads:
``limits``' in-memory storage started a timer thread every 10 ms that walked every
client's window, which under a consumer-scan burst (thousands of clients) took the GIL
from the requests themselves (issue 15, ``bench/resolver.py``).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse

__all__ = ["RateLimiter", "Verdict"]

#: Clients whose budget is full again are forgotten once this many are held (then twice as
#: many as were still counting).
_PRUNE_ABOVE = 10_000


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0


class RateLimiter:
    """``limit`` is a ``limits`` string such as ``"120/minute"``, applied per client and bucket."""

    def __init__(self, limit: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._item: RateLimitItem = parse(limit)
        period = float(self._item.get_expiry())
        self._interval = period / self._item.amount  # one request's share of the period
        self._burst = period - self._interval  # how far ahead a client may run
        self._clock = clock
        self._tat: dict[tuple[str, str], float] = {}  # theoretical arrival time per client
        self._prune_at = _PRUNE_ABOVE
        self._lock = threading.Lock()
        self._salt = secrets.token_bytes(16)  # per process: hashes are not linkable later

    @property
    def limit(self) -> str:
        return str(self._item)

    def _client(self, address: str) -> str:
        return hashlib.blake2b(address.encode(), key=self._salt, digest_size=12).hexdigest()

    def hit(self, address: str, bucket: str = "public") -> Verdict:
        key = (bucket, self._client(address))
        now = self._clock()
        with self._lock:
            tat = max(self._tat.get(key, now), now)
            if tat - now > self._burst:
                return Verdict(False, max(1, math.ceil(tat - now - self._burst)))
            self._tat[key] = tat + self._interval
            if len(self._tat) > self._prune_at:  # amortised: at most once per doubling
                self._tat = {k: v for k, v in self._tat.items() if v > now}
                self._prune_at = max(_PRUNE_ABOVE, 2 * len(self._tat))
        return Verdict(True)
