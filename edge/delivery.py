"""The agent's delivery rules: what to publish next and what may leave the outbox. No I/O.

The publisher (edge/publisher.py) feeds this core with what happened: messages handed to
paho, PUBACKs, verified storage receipts, connections, the clock. The core answers with
sequence numbers: which to publish (again), which the outbox may delete.

Two modes:

* **receipts** (the agent holds the cloud's receipt key): a PUBACK 0x00 frees a slot of the
  in-flight window and nothing else. A message leaves the outbox only when a storage
  receipt covers it *and* this process has published it (a receipt naming a seq not yet
  sent is ignored for that seq). Messages without a receipt ``receipt_timeout_s`` after
  their last publish are published again; while no receipt arrives the timeout doubles,
  up to ``receipt_timeout_max_s``, so a long cloud outage does not turn into a flood of
  repeats. After a reconnect everything unreceipted is published again, lowest seq first
  (the broker may have lost it), after a short hold that lets the retained receipt arrive.
* **PUBACK** (no receipt key): a PUBACK 0x00 frees the message.

In both modes a PUBACK with any other reason code (0x10 "No matching subscribers"
included) keeps the message and pauses publishing for a backoff that doubles from
``retry_min_s`` to ``retry_max_s``; a PUBACK 0x00 resets it.

Memory is bounded: at most ``window`` messages await a PUBACK and at most
``max_unreceipted`` sent messages await a receipt; new messages wait in the outbox.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from wire import Receipt

__all__ = ["Delivery", "DeliveryCounts"]


@dataclass(frozen=True, slots=True)
class DeliveryCounts:
    """Totals since the agent started (reported in heartbeats)."""

    refusals: int  # PUBACKs other than 0x00; the message was kept
    republished: int  # messages published again for want of a PUBACK or receipt
    freed: int  # messages the outbox may delete (PUBACK 0x00 or receipt)
    receipts: int  # receipts applied


class Delivery:
    """The delivery state of one agent process; not thread-safe (the main loop owns it)."""

    def __init__(
        self,
        *,
        window: int,
        receipts: bool,
        max_unreceipted: int = 10_000,
        receipt_timeout_s: float = 30.0,
        receipt_timeout_max_s: float = 600.0,
        retry_min_s: float = 1.0,
        retry_max_s: float = 30.0,
        hold_after_connect_s: float = 0.3,
    ) -> None:
        if window < 1 or max_unreceipted < window:
            raise ValueError(
                f"expected 1 <= window <= max_unreceipted, got {window} and {max_unreceipted}"
            )
        self.receipts = receipts
        self._window = window
        self._max_unreceipted = max_unreceipted
        self._timeout_base = receipt_timeout_s
        self._timeout_max = receipt_timeout_max_s
        self._timeout = receipt_timeout_s
        self._retry_min = retry_min_s
        self._retry_max = retry_max_s
        self._retry = retry_min_s
        self._hold_s = hold_after_connect_s if receipts else 0.0
        self.high = 0  # highest seq handed to paho by this process
        # seq -> when it was last handed to paho, oldest first: sent and not yet freed.
        self._sent: OrderedDict[int, float] = OrderedDict()
        self._stale: set[int] = set()  # subset of _sent to publish again
        self._inflight: dict[int, int] = {}  # paho mid -> seq, awaiting the PUBACK
        self._paused_until = 0.0
        self._refusals = self._republished = self._freed = self._receipts = 0
        self.receipted_through = 0  # the highest `through` of a receipt seen
        self.last_receipt_at: float | None = None

    # --- what to publish ---------------------------------------------------------------

    def window_room(self, now: float) -> int:
        """Publishes allowed now (0 while paused after a refusal or holding after connect)."""
        if now < self._paused_until:
            return 0
        return max(0, self._window - len(self._inflight))

    def to_resend(self, now: float) -> list[int]:
        """Seqs to publish again now, lowest first, within the window."""
        room = self.window_room(now)
        if room == 0 or not self._stale:
            return []
        return heapq.nsmallest(room, self._stale)

    def new_room(self, now: float) -> int:
        """How many messages above `high` may be published now."""
        room = self.window_room(now) - len(self._stale)
        return max(0, min(room, self._max_unreceipted - len(self._sent)))

    def sent(self, mid: int, seq: int, now: float) -> None:
        """``seq`` was handed to paho as ``mid``."""
        if seq in self._stale:
            self._stale.discard(seq)
            self._republished += 1
        self._inflight[mid] = seq
        self._sent[seq] = now
        self._sent.move_to_end(seq)
        self.high = max(self.high, seq)

    # --- what happened -----------------------------------------------------------------

    def puback(self, mid: int, reason_code: int, now: float) -> int | None:
        """A PUBACK arrived; returns the seq the outbox may delete (PUBACK mode), if any."""
        seq = self._inflight.pop(mid, None)
        if seq is None or seq not in self._sent:
            return None  # an earlier connection's packet, or already freed by a receipt
        if reason_code != 0:
            self._refusals += 1
            self._stale.add(seq)
            if now >= self._paused_until:
                self._paused_until = now + self._retry
                self._retry = min(self._retry * 2, self._retry_max)
            return None
        self._retry = self._retry_min
        if self.receipts:
            return None  # the broker has it; only a receipt says the cloud stored it
        self._forget(seq)
        self._freed += 1
        self._timeout = self._timeout_base
        return seq

    def receipt(self, receipt: Receipt, now: float) -> list[int]:
        """A verified receipt arrived; returns the seqs the outbox may delete (ascending)."""
        self._receipts += 1
        self.last_receipt_at = now
        self.receipted_through = max(self.receipted_through, receipt.through)
        freed = sorted(seq for seq in self._sent if receipt.covers(seq))
        for seq in freed:
            self._forget(seq)
        if freed:
            self._freed += len(freed)
            self._timeout = self._timeout_base
        return freed

    def tick(self, now: float) -> int:
        """Mark what waited too long for its PUBACK or receipt; returns how many."""
        marked = 0
        while self._sent:
            seq, at = next(iter(self._sent.items()))
            if now - at < self._timeout:
                break
            # Counted as waiting from now on, so this sweep does not see it again.
            self._sent.move_to_end(seq)
            self._sent[seq] = now
            if seq not in self._stale:
                self._stale.add(seq)
                marked += 1
        if marked:
            self._timeout = min(self._timeout * 2, self._timeout_max)
        return marked

    def connected(self, now: float) -> None:
        """A new connection: publish everything unreceipted again (a clean session)."""
        self._inflight.clear()
        self._stale.update(self._sent)
        self._paused_until = max(self._paused_until, now + self._hold_s)

    def resend(self, seqs: Iterable[int]) -> None:
        """Publish these held seqs again (a backfill request, a will put in the outbox)."""
        for seq in seqs:
            if seq <= self.high:
                self._sent.setdefault(seq, 0.0)
                self._stale.add(seq)

    def forget(self, seqs: Iterable[int]) -> None:
        """These seqs are no longer in the outbox (evicted under its disk budget)."""
        for seq in seqs:
            self._forget(seq)

    def _forget(self, seq: int) -> None:
        self._sent.pop(seq, None)
        self._stale.discard(seq)

    # --- what it looks like ------------------------------------------------------------

    def unsent_from(self) -> int:
        """The lowest seq the broker has not accepted in this connection (to publish, to
        publish again, or awaiting its PUBACK); `high` + 1 when there is none."""
        pending = [*self._stale, *self._inflight.values()]
        return min(pending, default=self.high + 1)

    @property
    def unreceipted(self) -> int:
        return len(self._sent)

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def counts(self) -> DeliveryCounts:
        return DeliveryCounts(self._refusals, self._republished, self._freed, self._receipts)

    def is_paused(self, now: float) -> bool:
        return now < self._paused_until
