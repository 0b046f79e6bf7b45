"""Scans written off the response path, in batches (group commit), with the unit's scan
summary updated in the same transaction.

A scan's verdict is decided and answered at once; the scan itself goes into a bounded
queue. One writer task takes everything queued (up to ``max_batch``, waiting at most
``max_wait`` for more) and commits it in one transaction: the scans of verified codes
(``consumer_scans``, COPY), the others (``counterfeit_scans``, COPY), and for each unit
scanned its summary (``unit_scan_state``), locked in a fixed order, read as it is *now*,
every pending scan added in arrival order, written back with its revision bumped. Each
unit's summary thus ends up holding every scan whatever process judged it: nothing is
overwritten with a summary read before another writer's commit.

Until a scan is in a committed summary its unit's next verdict must still see it: the
writer keeps each unit's pending scans (:meth:`ScanWriter.pending`), each marked with the
summary revision that will hold it *before* the commit, so a reader holding a summary of
revision ``R`` adds exactly the pending scans of a later revision (or of none yet). Across
processes, two scans of one code judged within one batch interval by two resolvers do not
see each other for those two verdicts; the summary holds both for every later one.

Bounded: a full queue makes :meth:`ScanWriter.submit` wait up to ``submit_timeout`` and
then raise :class:`ScanQueueFull` (the resolver answers 503, the scanner retries), never
drops. :meth:`ScanWriter.stop` flushes everything queued before returning (a clean stop
loses nothing); a crash loses at most the queue (at most one batch interval of scans
under normal load). A failed commit is retried with a growing delay; the scans stay
queued meanwhile. Scan ids are drawn from the tables' own sequences in blocks, so a scan
has its id before it is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg_pool import AsyncConnectionPool

from cloud.provenance.clone import EARLY_CLIENTS, RECENT_SCANS, Scan
from cloud.provenance.errors import ProvenanceStoreError
from cloud.provenance.scanstate import CloneFlag, ScanState, scan_to_json

__all__ = ["PendingScan", "ScanKey", "ScanQueueFull", "ScanRecord", "ScanWriter"]

_logger = logging.getLogger(__name__)

ScanKey = tuple[str, str, str]  # (tenant, gtin, serial)
_ID_BLOCK: Final = 1_000
_KEEP_COMMITTED_S: Final = 30.0  # a committed scan stays visible to readers this long
_RETRY_MIN_S: Final = 0.05
_RETRY_MAX_S: Final = 5.0

# The batch travels as one JSON document (``json.dumps`` in C, where dumping a dozen
# arrays element by element cost the event loop more than the scans' own verdicts).
_VERIFIED_ROWS = """
jsonb_to_recordset(%(rows)s::jsonb) AS n (
    id bigint, scanned_at timestamptz, tenant_id text, gtin text, lot text, serial text,
    kid text, code_status text, lat float8, lon float8, accuracy_km float8, region text,
    verdict text, reason text, evidence jsonb, client text, confirmed boolean,
    ord int, scan jsonb, located boolean, flag jsonb)
"""

_INSERT_VERIFIED = f"""
INSERT INTO consumer_scans (id, scanned_at, tenant_id, gtin, lot, serial, kid, code_status,
                            lat, lon, accuracy_km, region, verdict, reason, evidence, client,
                            confirmed)
SELECT id, scanned_at, tenant_id, gtin, lot, serial, kid, code_status, lat, lon, accuracy_km,
       region, verdict, reason, evidence, client, confirmed
FROM {_VERIFIED_ROWS}
"""  # noqa: S608 - constant text, no input

_INSERT_COUNTERFEIT = """
INSERT INTO counterfeit_scans (id, scanned_at, tenant_id, gtin, lot, serial, kid, code_status,
                               finding, reason, lat, lon, accuracy_km, region)
SELECT id, scanned_at, tenant_id, gtin, lot, serial, kid, code_status, finding, reason, lat,
       lon, accuracy_km, region
FROM jsonb_to_recordset(%(rows)s::jsonb) AS n (
    id bigint, scanned_at timestamptz, tenant_id text, gtin text, lot text, serial text,
    kid text, code_status text, finding text, reason text, lat float8, lon float8,
    accuracy_km float8, region text)
"""

# Every unit of the batch has a summary row, each locked in one order for every writer (no
# deadlocks) before it is read.
_LOCK_SUMMARIES = f"""
WITH k AS (SELECT DISTINCT tenant_id, gtin, serial FROM {_VERIFIED_ROWS}
           WHERE serial IS NOT NULL),
created AS (INSERT INTO unit_scan_state (tenant_id, gtin, serial)
            SELECT tenant_id, gtin, serial FROM k ON CONFLICT DO NOTHING)
SELECT 1 FROM unit_scan_state s JOIN k USING (tenant_id, gtin, serial)
ORDER BY s.tenant_id, s.gtin, s.serial FOR UPDATE OF s
"""  # noqa: S608 - constant text, no input

# ScanState.add for a batch of scans, per unit: count, first/last, the first located scan
# of each new client while fewer than EARLY_CLIENTS are kept, the last RECENT_SCANS scans,
# a confirmed clone kept once found. A summary created by this batch's _LOCK_SUMMARIES is
# locked and empty by now (the same transaction), so the UPDATE sees it.
_MERGE = f"""
WITH new AS (
    SELECT n.tenant_id, n.gtin, n.serial, n.ord, n.scan, n.located,
           coalesce(n.client, '?') AS ckey, n.scanned_at AS t, n.flag
    FROM {_VERIFIED_ROWS} WHERE n.serial IS NOT NULL
), bounds AS (SELECT %(early_max)s::int AS early_max, %(recent_max)s::int AS recent_max),
summary AS (
    SELECT tenant_id, gtin, serial, count(*) AS n, min(t) AS first_t, max(t) AS last_t
    FROM new GROUP BY tenant_id, gtin, serial
)
UPDATE unit_scan_state s SET
    scans = s.scans + a.n,
    first_at = LEAST(s.first_at, a.first_t),
    last_at = GREATEST(s.last_at, a.last_t),
    recent = (
        SELECT coalesce(jsonb_agg(x.e ORDER BY x.i), '[]'::jsonb) FROM (
            SELECT u.e, u.i FROM (
                SELECT r.e, r.i FROM jsonb_array_elements(s.recent) WITH ORDINALITY r (e, i)
                UNION ALL
                SELECT n.scan, 1000000000 + n.ord FROM new n
                WHERE (n.tenant_id, n.gtin, n.serial) = (s.tenant_id, s.gtin, s.serial)
            ) u ORDER BY u.i DESC LIMIT (SELECT recent_max FROM bounds)
        ) x),
    early = s.early || coalesce((
        SELECT jsonb_agg(f.scan ORDER BY f.ord) FROM (
            SELECT c.scan, c.ord FROM (
                SELECT DISTINCT ON (n.ckey) n.scan, n.ord FROM new n
                WHERE (n.tenant_id, n.gtin, n.serial) = (s.tenant_id, s.gtin, s.serial)
                  AND n.located
                  AND n.ckey NOT IN (SELECT coalesce(e ->> 'client', '?')
                                     FROM jsonb_array_elements(s.early) e)
                ORDER BY n.ckey, n.ord
            ) c ORDER BY c.ord
            LIMIT greatest(0, (SELECT early_max FROM bounds) - jsonb_array_length(s.early))
        ) f), '[]'::jsonb),
    flags = CASE WHEN s.flags ? 'clone' THEN s.flags ELSE coalesce((
        SELECT n.flag FROM new n
        WHERE (n.tenant_id, n.gtin, n.serial) = (s.tenant_id, s.gtin, s.serial)
          AND n.flag IS NOT NULL
        ORDER BY n.ord LIMIT 1), s.flags) END,
    revision = s.revision + 1,
    updated_at = now()
FROM summary a
WHERE (s.tenant_id, s.gtin, s.serial) = (a.tenant_id, a.gtin, a.serial)
RETURNING s.tenant_id, s.gtin, s.serial, s.revision
"""  # noqa: S608 - constant text, no input


class ScanQueueFull(ProvenanceStoreError):
    """The scan queue stayed full for ``submit_timeout``: the scan was not taken."""


@dataclass(frozen=True, slots=True)
class ScanRecord:
    """One scan to store. ``verified``: a scan of a verified code (``consumer_scans`` and
    the unit's summary); otherwise ``counterfeit_scans`` (``verdict`` holds the finding)."""

    id: int
    verified: bool
    scan: Scan
    tenant: str
    gtin: str
    lot: str | None
    serial: str | None
    kid: str | None
    code_status: str
    verdict: str
    reason: str
    confirmed: bool = True
    evidence: Sequence[Any] = ()
    clone_flag: CloneFlag | None = None

    @property
    def key(self) -> ScanKey | None:
        return (self.tenant, self.gtin, self.serial) if self.verified and self.serial else None


@dataclass(slots=True)
class PendingScan:
    record: ScanRecord
    revision: int | None = None  # the summary revision that holds it (set before commit)
    committed_at: float | None = None


@dataclass(slots=True)
class _Ids:
    sequence: str
    free: deque[int] = field(default_factory=deque)


class ScanWriter:
    """Group commit of scans for one event loop (see the module docstring)."""

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        *,
        max_queue: int = 10_000,
        max_batch: int = 500,
        max_wait: float = 0.01,
        submit_timeout: float = 5.0,
    ) -> None:
        self._pool = pool
        self._queue: asyncio.Queue[PendingScan] = asyncio.Queue(maxsize=max_queue)
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._submit_timeout = submit_timeout
        self._pending: dict[ScanKey, list[PendingScan]] = defaultdict(list)
        self._committed: deque[tuple[float, ScanKey, PendingScan]] = deque()
        self._ids = {True: _Ids("consumer_scans"), False: _Ids("counterfeit_scans")}
        self._id_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.written = 0  # scans committed (for tests and logs)
        self.batches = 0

    # --- life -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="scan-writer")

    async def stop(self) -> None:
        """Write everything queued, then stop."""
        self._stopping = True
        if self._task is not None:
            await self._queue.put(_WAKE)
            await self._task
            self._task = None
        _logger.info("scan writer stopped: %d scans in %d batches", self.written, self.batches)

    async def flush(self) -> None:
        """Wait until everything submitted so far is committed."""
        await self._queue.join()

    @property
    def pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        """The pool scans are written through (the primary's)."""
        return self._pool

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    # --- the resolver's side ------------------------------------------------------------

    async def next_id(self, verified: bool) -> int:
        ids = self._ids[verified]
        if not ids.free:
            async with self._id_lock:
                if not ids.free:
                    await self._refill(ids)
        return ids.free.popleft()

    async def _refill(self, ids: _Ids) -> None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                (ids.sequence, _ID_BLOCK),
            )
            ids.free.extend(int(r[0]) for r in await cur.fetchall())

    def pending(self, key: ScanKey, revision: int) -> list[ScanRecord]:
        """``key``'s scans not in a summary of ``revision`` (oldest first)."""
        return [
            p.record
            for p in self._pending.get(key, ())
            if p.revision is None or p.revision > revision
        ]

    async def submit(self, record: ScanRecord) -> None:
        """Queue ``record``; its unit's next verdict sees it at once."""
        if self._stopping:
            raise ScanQueueFull("the resolver is stopping; scan not taken")
        item = PendingScan(record)
        key = record.key
        if key is not None:  # visible before anything awaits
            self._pending[key].append(item)
        try:
            self._queue.put_nowait(item)
            return
        except asyncio.QueueFull:
            pass
        try:
            await asyncio.wait_for(self._queue.put(item), self._submit_timeout)
        except TimeoutError:
            if key is not None:
                self._pending[key].remove(item)
            raise ScanQueueFull(
                f"{self._queue.maxsize} scans waiting to be written for "
                f"{self._submit_timeout:g} s; scan not taken"
            ) from None

    # --- the writer's side ------------------------------------------------------------

    async def _take(self) -> list[PendingScan]:
        first = await self._queue.get()
        batch = [] if first is _WAKE else [first]
        deadline = time.monotonic() + self._max_wait
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if item is not _WAKE:
                batch.append(item)
            else:
                self._queue.task_done()
        if first is _WAKE:
            self._queue.task_done()
        return batch

    async def _run(self) -> None:
        while True:
            batch = await self._take()
            if batch:
                await self._write_until_done(batch)
                for _ in batch:
                    self._queue.task_done()
            self._forget_committed()
            if self._stopping and self._queue.empty():
                return

    async def _write_until_done(self, batch: list[PendingScan]) -> None:
        delay = _RETRY_MIN_S
        while True:
            try:
                await self._write(batch)
                self.written += len(batch)
                self.batches += 1
                return
            except (psycopg.Error, OSError) as exc:
                for item in batch:
                    item.revision = None
                _logger.warning(
                    "writing %d scans failed (%s); retrying in %.2f s", len(batch), exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX_S)

    async def _write(self, batch: list[PendingScan]) -> None:
        verified = [p for p in batch if p.record.verified]
        others = [p.record for p in batch if not p.record.verified]
        # Each unit's scans in arrival order, the units in one order (the merge's ``ord``).
        verified.sort(key=lambda p: p.record.key or ("", "", ""))
        rows = json.dumps([_scan_row(p.record, order) for order, p in enumerate(verified, 1)])
        # Pipeline mode: BEGIN, the statements and COMMIT go out together and the event loop
        # waits once per batch, not once per statement.
        async with self._pool.connection() as conn, conn.pipeline(), conn.transaction():
            if verified:
                await conn.execute(_INSERT_VERIFIED, {"rows": rows})
            if others:
                await conn.execute(
                    _INSERT_COUNTERFEIT, {"rows": json.dumps([_counterfeit_row(r) for r in others])}
                )
            if verified:
                await self._merge_states(conn, verified, rows)
        now = time.monotonic()
        for item in batch:
            item.committed_at = now
            if item.record.key is not None:
                self._committed.append((now, item.record.key, item))

    async def _merge_states(
        self, conn: psycopg.AsyncConnection[Any], verified: list[PendingScan], rows: str
    ) -> None:
        """Add each unit's pending scans to its summary, in PostgreSQL (the server's other
        core does it, not this event loop): the same result as :meth:`ScanState.add` for
        each scan in order, which ``tests/cloud/provenance`` checks."""
        await conn.execute(_LOCK_SUMMARIES, {"rows": rows})
        cur = await conn.execute(
            _MERGE, {"rows": rows, "early_max": EARLY_CLIENTS, "recent_max": RECENT_SCANS}
        )
        revisions = {(str(r[0]), str(r[1]), str(r[2])): int(r[3]) for r in await cur.fetchall()}
        for item in verified:
            key = item.record.key
            if key is not None:
                item.revision = revisions[key]

    def _forget_committed(self) -> None:
        cutoff = time.monotonic() - _KEEP_COMMITTED_S
        committed = self._committed
        while committed and committed[0][0] <= cutoff:
            _, key, item = committed.popleft()
            items = self._pending.get(key)
            if items is None:
                continue
            with contextlib.suppress(ValueError):
                items.remove(item)
            if not items:
                del self._pending[key]


_WAKE: Final = PendingScan(
    ScanRecord(0, False, Scan(datetime.fromtimestamp(0).astimezone()), "", "", None, None, None,
               "", "", "")
)


def _point(scan: Scan) -> tuple[float | None, float | None, float | None]:
    p = scan.point
    return (None, None, None) if p is None else (p.lat, p.lon, p.accuracy_km)


def _scan_row(r: ScanRecord, order: int) -> dict[str, Any]:
    """A verified scan's row of the batch document: its ``consumer_scans`` columns and what
    the summary merge needs (its order in the batch, the scan as a summary keeps it)."""
    scan = r.scan
    lat, lon, accuracy = _point(scan)
    flag = r.clone_flag
    return {
        "id": r.id, "scanned_at": scan.time.isoformat(), "tenant_id": r.tenant,
        "gtin": r.gtin, "lot": r.lot, "serial": r.serial, "kid": r.kid,
        "code_status": r.code_status, "lat": lat, "lon": lon, "accuracy_km": accuracy,
        "region": scan.region, "verdict": r.verdict, "reason": r.reason,
        "evidence": list(r.evidence), "client": scan.client, "confirmed": r.confirmed,
        "ord": order, "scan": scan_to_json(replace(scan, scan_id=str(r.id))),
        "located": scan.point is not None or scan.region is not None,
        "flag": None if flag is None else ScanState(clone_flag=flag).flags_json(),
    }  # fmt: skip


def _counterfeit_row(r: ScanRecord) -> dict[str, Any]:
    lat, lon, accuracy = _point(r.scan)
    return {
        "id": r.id, "scanned_at": r.scan.time.isoformat(), "tenant_id": r.tenant,
        "gtin": r.gtin, "lot": r.lot, "serial": r.serial, "kid": r.kid,
        "code_status": r.code_status, "finding": r.verdict, "reason": r.reason, "lat": lat,
        "lon": lon, "accuracy_km": accuracy, "region": r.scan.region,
    }  # fmt: skip
