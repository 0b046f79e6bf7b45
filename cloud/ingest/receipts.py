"""Storage receipts and backfill requests: the ingest tells each device what is stored.

After a batch commits, the worker marks the devices it touched (stored messages, duplicates,
authenticated dead letters). A `ReceiptIssuer` thread then, at most every ``min_interval_s``
per device (a busy device gets a few receipts a second, not one per message):

1. reads, in one query for all due devices, the device's settled high-water mark
   (``device_receipts.settled_through``) and the settled seqs (stored in ``ingest_log``,
   evicted in ``evicted_seqs``, otherwise settled in ``settled_seqs``) that this worker has
   not read yet: above what it read last time, and inside the holes it knows of. What it has
   read is kept as ranges (`Progress`, pure), so a hole that stays open for long (the seq of
   the current connection's last will stays open for the whole session) costs nothing;
2. advances the mark over the seqs that now follow on without a hole and stores it (never
   lowering it: workers race, the highest wins);
3. seals a `wire.Receipt` (``through`` = the mark, ``ranges`` = what is settled beyond the
   first hole) with the cloud key and publishes it retained on the device's ``receipt``
   topic, so a device that reconnects gets its latest receipt at once;
4. for an online device whose first hole stayed open ``backfill_after_s``, claims the device
   in the database (one worker asks, at most every ``backfill_every_s``) and publishes a
   signed `wire.BackfillRequest` for the holes, leaving out the seq reserved for the
   device's current last will (announced in its birth; it arrives when the session ends).

Receipts are only a statement of what the database holds after commit, so a receipt lost on
the way costs a republish, never data: the device publishes again what is not receipted.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from wire import BackfillRequest, Kind, Receipt, Topic, encode_payload, seal
from wire.envelope import MAX_SEQ
from wire.models import MAX_BACKFILL_SEQS, MAX_RANGES

__all__ = ["Coalescer", "Progress", "ReceiptIssuer", "backfill_ranges", "merge"]

_logger = logging.getLogger(__name__)
_SCAN_LIMIT = 4_096  # settled seqs read above the mark per device and round
_DEVICES_PER_ROUND = 500
_TICK_S = 0.05

Publish = Callable[[str, bytes, bool], bool]
"""Publishes (topic, envelope, retain) with QoS 1; False when it could not be queued."""


def merge(ranges: Sequence[tuple[int, int]], seqs: Iterable[int]) -> list[tuple[int, int]]:
    """``ranges`` (canonical) with ``seqs`` added, canonical again."""
    out = list(ranges)
    for seq in sorted(set(seqs)):
        index = bisect.bisect_right(out, (seq, MAX_SEQ + 1))
        if index and out[index - 1][1] >= seq:
            continue  # already in the range before it
        joins_left = index > 0 and out[index - 1][1] == seq - 1
        joins_right = index < len(out) and out[index][0] == seq + 1
        if joins_left and joins_right:
            out[index - 1 : index + 1] = [(out[index - 1][0], out[index][1])]
        elif joins_left:
            out[index - 1] = (out[index - 1][0], seq)
        elif joins_right:
            out[index] = (seq, out[index][1])
        else:
            out.insert(index, (seq, seq))
    return out


@dataclass(slots=True)
class Progress:
    """What one worker knows of one device's settled seqs (pure; kept in memory).

    ``through``: every seq up to it is settled. ``beyond``: settled ranges above the first
    hole. ``scanned_to``: every settled seq up to it has been read at least once, so the
    holes below it are exactly what is left to watch.
    """

    through: int = 0
    scanned_to: int = 0
    beyond: list[tuple[int, int]] = field(default_factory=list)

    def rebase(self, through: int) -> None:
        """Another worker (or an earlier run) settled up to ``through``."""
        if through > self.through:
            self.through = through
            self.scanned_to = max(self.scanned_to, through)
            self.beyond = [(max(a, through + 1), b) for a, b in self.beyond if b > through]
            self._advance()

    def holes(self) -> list[tuple[int, int]]:
        """Unsettled ranges between ``through`` and ``scanned_to``."""
        out: list[tuple[int, int]] = []
        previous = self.through
        for low, high in self.beyond:
            if low > self.scanned_to:
                break
            if low > previous + 1:
                out.append((previous + 1, low - 1))
            previous = max(previous, high)
        if previous < self.scanned_to:
            out.append((previous + 1, self.scanned_to))
        return out

    def absorb(self, seqs: Iterable[int], scanned_to: int) -> None:
        """Settled ``seqs`` were read; everything settled up to ``scanned_to`` has been."""
        self.beyond = merge(self.beyond, (s for s in seqs if s > self.through))
        self.scanned_to = max(self.scanned_to, scanned_to)
        self._advance()

    def _advance(self) -> None:
        while self.beyond and self.beyond[0][0] <= self.through + 1:
            self.through = max(self.through, self.beyond.pop(0)[1])

    def receipt_ranges(self) -> list[tuple[int, int]]:
        return self.beyond[:MAX_RANGES]


def backfill_ranges(holes: Sequence[tuple[int, int]], skip: int | None) -> list[tuple[int, int]]:
    """The holes to ask a device for: without ``skip`` (its pending will), at most
    MAX_RANGES ranges and MAX_BACKFILL_SEQS seqs, lowest first."""
    out: list[tuple[int, int]] = []
    budget = MAX_BACKFILL_SEQS
    for low, high in holes:
        parts = [(low, high)]
        if skip is not None and low <= skip <= high:
            parts = [(a, b) for a, b in ((low, skip - 1), (skip + 1, high)) if a <= b]
        for a, b in parts:
            if budget <= 0 or len(out) >= MAX_RANGES:
                return out
            end = min(b, a + budget - 1)
            out.append((a, end))
            budget -= end - a + 1
    return out


class Coalescer:
    """Which devices are due a receipt: touched since their last one, and not receipted in
    the last ``min_interval_s``. Thread-safe: the writer touches, the issuer takes."""

    def __init__(self, min_interval_s: float) -> None:
        self._min = min_interval_s
        self._dirty: set[str] = set()
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def touch(self, devices: Iterable[str]) -> None:
        with self._lock:
            self._dirty.update(devices)

    def due(self, now: float, limit: int) -> list[str]:
        with self._lock:
            ready = [d for d in self._dirty if now - self._last.get(d, -1e18) >= self._min]
            ready = sorted(ready)[:limit]
            for device in ready:
                self._dirty.discard(device)
                self._last[device] = now
            if len(self._last) > 100_000:  # forget devices quiet for a while
                self._last = {d: t for d, t in self._last.items() if now - t < self._min}
            return ready

    def pending(self) -> int:
        with self._lock:
            return len(self._dirty)


# One round trip for all due devices: identity, status, pending will, the mark, then the
# settled seqs above what this worker has read (first `limit`) and inside its holes.
_READ = """
WITH dev AS (
    SELECT * FROM unnest(%(ids)s::text[], %(scanned)s::int8[]) AS t(device_id, scanned_to)
), hole AS (
    SELECT * FROM unnest(%(hole_ids)s::text[], %(hole_lo)s::int8[], %(hole_hi)s::int8[])
        AS h(device_id, lo, hi)
)
SELECT d.id, d.tenant_id, d.site_id, d.status, d.will_seq,
       coalesce(r.settled_through, 0) AS through,
       ARRAY(SELECT s.seq FROM (
               SELECT l.seq FROM ingest_log l WHERE l.device_id = d.id
                 AND l.seq > greatest(dev.scanned_to, r.settled_through)
               UNION ALL
               SELECT e.seq FROM evicted_seqs e WHERE e.device_id = d.id
                 AND e.seq > greatest(dev.scanned_to, r.settled_through)
               UNION ALL
               SELECT x.seq FROM settled_seqs x WHERE x.device_id = d.id
                 AND x.seq > greatest(dev.scanned_to, r.settled_through)
             ) s ORDER BY s.seq LIMIT %(limit)s) AS above,
       ARRAY(SELECT f.seq FROM hole h CROSS JOIN LATERAL (
               SELECT l.seq FROM ingest_log l
               WHERE l.device_id = h.device_id AND l.seq BETWEEN h.lo AND h.hi
               UNION ALL
               SELECT e.seq FROM evicted_seqs e
               WHERE e.device_id = h.device_id AND e.seq BETWEEN h.lo AND h.hi
               UNION ALL
               SELECT x.seq FROM settled_seqs x
               WHERE x.device_id = h.device_id AND x.seq BETWEEN h.lo AND h.hi
             ) f WHERE h.device_id = d.id LIMIT %(limit)s) AS filled
FROM dev JOIN devices d ON d.id = dev.device_id
LEFT JOIN device_receipts r ON r.device_id = d.id
WHERE d.status <> 'retired'
ORDER BY d.id
"""

_WRITE = """
INSERT INTO device_receipts (device_id, settled_through, receipted_at)
SELECT m.device_id, m.through, now() FROM unnest(%s::text[], %s::int8[]) AS m(device_id, through)
ON CONFLICT (device_id) DO UPDATE
SET settled_through = GREATEST(device_receipts.settled_through, excluded.settled_through),
    receipted_at = excluded.receipted_at
"""

_CLAIM_BACKFILL = """
UPDATE device_receipts SET backfill_requested_at = now(),
                           backfill_requests = backfill_requests + 1
WHERE device_id = ANY(%s)
  AND (backfill_requested_at IS NULL OR backfill_requested_at < now() - %s * interval '1 second')
RETURNING device_id
"""
_PROGRESS_KEPT = 200_000  # devices whose progress a worker remembers


@dataclass(frozen=True, slots=True)
class _Device:
    device_id: str
    tenant: str
    site: str
    online: bool
    will_seq: int | None
    progress: Progress


class ReceiptIssuer:
    """The receipt and backfill side of one ingest worker (its own thread and connection)."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        key: Ed25519PrivateKey,
        publish: Publish,
        *,
        min_interval_s: float = 0.25,
        backfill_after_s: float = 10.0,
        backfill_every_s: float = 30.0,
        on_receipts: Callable[[int], None] = lambda _n: None,
        on_backfill: Callable[[int], None] = lambda _n: None,
    ) -> None:
        self._connect = connect
        self._key = key
        self._publish = publish
        self._coalescer = Coalescer(min_interval_s)
        self._backfill_after = backfill_after_s
        self._backfill_every = backfill_every_s
        self._on_receipts = on_receipts
        self._on_backfill = on_backfill
        self._conn: psycopg.Connection[Any] | None = None
        self._progress: OrderedDict[str, Progress] = OrderedDict()
        self._holes_since: dict[str, tuple[int, float]] = {}  # device -> (first hole, since)
        self.receipts = 0
        self.backfill_requests = 0

    def touch(self, devices: Iterable[str]) -> None:
        """These devices had messages committed (or refused for good): receipt them soon."""
        self._coalescer.touch(devices)

    def run(self, stop: threading.Event) -> None:
        delay = 0.2
        while not stop.is_set():
            due = self._coalescer.due(time.monotonic(), _DEVICES_PER_ROUND)
            if not due:
                stop.wait(_TICK_S)
                continue
            try:
                self.issue(due)
                delay = 0.2
                continue
            except psycopg.OperationalError as exc:
                _logger.warning("receipts: database unavailable (%s); retrying in %.1fs", exc,
                                delay)  # fmt: skip
            except Exception:  # a bug must not end receipts for good: log it, go on
                _logger.exception("receipts: round failed; retrying in %.1fs", delay)
            self._close()
            self._coalescer.touch(due)  # not receipted: try again
            stop.wait(delay)
            delay = min(delay * 2, 5.0)
        self._close()

    def issue(self, devices: Sequence[str]) -> None:
        """Advance, store and publish the receipts of ``devices``; request backfills."""
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
            self._conn.autocommit = True
        found = self._read(self._conn, devices)
        covered = [d for d in found if d.progress.through > 0 or d.progress.beyond]
        if covered:
            self._conn.execute(
                _WRITE, ([d.device_id for d in covered], [d.progress.through for d in covered])
            )
        now = datetime.now(UTC)
        published = 0
        for device in covered:
            receipt = Receipt(
                through=device.progress.through,
                ranges=device.progress.receipt_ranges(),
                issued_at=now,
            )
            topic = Topic(device.tenant, device.site, device.device_id, Kind.RECEIPT)
            data = seal(topic, receipt.highest, encode_payload(receipt), self._key)
            if self._publish(str(topic), data, True):
                published += 1
        self.receipts += published
        self._on_receipts(published)
        self._request_backfills(self._conn, found, now)

    def _progress_of(self, device: str) -> Progress:
        progress = self._progress.get(device)
        if progress is None:
            progress = self._progress[device] = Progress()
            if len(self._progress) > _PROGRESS_KEPT:
                self._progress.popitem(last=False)
        self._progress.move_to_end(device)
        return progress

    def _read(self, conn: psycopg.Connection[Any], devices: Sequence[str]) -> list[_Device]:
        progress = {d: self._progress_of(d) for d in devices}
        holes = [(d, lo, hi) for d, p in progress.items() for lo, hi in p.holes()]
        rows = conn.execute(
            _READ,
            {
                "ids": list(progress),
                "scanned": [p.scanned_to for p in progress.values()],
                "hole_ids": [h[0] for h in holes],
                "hole_lo": [h[1] for h in holes],
                "hole_hi": [h[2] for h in holes],
                "limit": _SCAN_LIMIT,
            },
        ).fetchall()
        out = []
        for device_id, tenant, site, status, will_seq, through, above, filled in rows:
            state = progress[str(device_id)]
            state.rebase(int(through))
            # Everything settled up to the last seq read has been read, unless the limit cut
            # the list (then only up to its end): either way, up to `above[-1]`.
            state.absorb([*above, *filled], above[-1] if above else state.scanned_to)
            out.append(_Device(str(device_id), str(tenant), str(site), status == "online",
                               will_seq, state))  # fmt: skip
        return out

    def _request_backfills(
        self, conn: psycopg.Connection[Any], devices: Sequence[_Device], now: datetime
    ) -> None:
        clock = time.monotonic()
        wanted: dict[str, tuple[_Device, list[tuple[int, int]]]] = {}
        for device in devices:
            ranges = backfill_ranges(device.progress.holes(), device.will_seq)
            if not ranges or not device.online:
                self._holes_since.pop(device.device_id, None)
                continue
            first = ranges[0][0]
            seen = self._holes_since.get(device.device_id)
            if seen is None or seen[0] != first:
                self._holes_since[device.device_id] = (first, clock)
                continue
            if clock - seen[1] >= self._backfill_after:
                wanted[device.device_id] = (device, ranges)
        if not wanted:
            return
        claimed = conn.execute(_CLAIM_BACKFILL, (sorted(wanted), self._backfill_every)).fetchall()
        sent = 0
        for (device_id,) in claimed:
            device, ranges = wanted[str(device_id)]
            request = BackfillRequest(ranges=ranges, issued_at=now)
            topic = Topic(device.tenant, device.site, device.device_id, Kind.BACKFILL)
            data = seal(topic, request.highest, encode_payload(request), self._key)
            if self._publish(str(topic), data, False):
                sent += 1
                _logger.info("asked %s to backfill %d seq(s) in %d range(s), from %d",
                             device.device_id, sum(b - a + 1 for a, b in ranges), len(ranges),
                             ranges[0][0])  # fmt: skip
        self.backfill_requests += sent
        self._on_backfill(sent)

    def pending(self) -> int:
        return self._coalescer.pending()

    def close(self) -> None:
        """Close the database connection (`run` does so when it ends)."""
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
