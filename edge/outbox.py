"""Durable outbox of the edge agent: readings wait here until the cloud has them.

Items (one reading, stock count or custody event each) are added in groups and committed with
``synchronous=FULL`` in WAL mode, so once `Outbox.add` returns they survive an agent crash and
a power cut.  `Outbox.seal` turns pending items into signed messages, each with a sequence
number from one persistent per-device counter; the publisher replays messages in sequence
order and `Outbox.free` deletes them once the cloud's storage receipt covers them
(`Outbox.ack` on a PUBACK 0x00 for an agent without the receipt key).  When the disk budget
is exceeded the oldest telemetry is evicted (and counted, so the cloud can tell eviction from
loss); stock, custody events and state are never evicted.

The last will of the current connection is kept here too (`Outbox.arm_will`): when the next
connection arms its own, or the agent stops, the previous will becomes an ordinary state
message, so every sequence number the agent reserves is eventually published: the broker
may have fired the will (the cloud then sees an identical duplicate) or not (a broker killed
with the connection never fires it), and the cloud is never left with a hole.

One `Outbox` owns its file: byte accounting is kept in memory, so do not open the same file
from two live `Outbox` objects.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from edge.errors import OutboxError

__all__ = [
    "DEFAULT_BUDGET_BYTES",
    "EVICTABLE_KINDS",
    "EVICTED_SEQS_KEPT",
    "SEAL_ORDER",
    "ArmedWill",
    "BackfillSplit",
    "Kind",
    "Outbox",
    "OutboxMessage",
    "OutboxStats",
    "SealFn",
]

_logger = logging.getLogger(__name__)


class Kind(StrEnum):
    """What an item or message carries; also the last level of its MQTT topic."""

    TELEMETRY = "telemetry"
    STOCK = "stock"
    EVENTS = "events"
    STATE = "state"


#: Environment readings are dense and superseded by the next sample, so they are the only
#: data we may give up when the disk fills; stock, custody events and state never are.
EVICTABLE_KINDS: frozenset[Kind] = frozenset({Kind.TELEMETRY})
#: Order of kinds within a sealing round: after an outage state and custody go out first.
SEAL_ORDER: tuple[Kind, ...] = (Kind.STATE, Kind.EVENTS, Kind.STOCK, Kind.TELEMETRY)
DEFAULT_BUDGET_BYTES = 64 * 1024 * 1024
#: How many evicted sequence numbers we remember for the heartbeat.
EVICTED_SEQS_KEPT = 1024

SealFn = Callable[[Kind, int, list[dict[str, Any]]], bytes]

_SCHEMA_VERSION = 1
_BUSY_TIMEOUT_MS = 5_000
_CACHE_KIB = 256
# Counted per row on top of the payload so the budget tracks disk use for small readings
# (rowid, columns, index entry); the file still grows beyond this by page slack.
_ROW_OVERHEAD_BYTES = 40
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
    " added_at REAL NOT NULL, bytes INTEGER NOT NULL, data TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS items_kind ON items (kind)",
    "CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
    " created_at REAL NOT NULL, sealed_at REAL NOT NULL, item_count INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL, data BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS messages_kind ON messages (kind)",
    "CREATE TABLE IF NOT EXISTS evicted (seq INTEGER PRIMARY KEY, item_count INTEGER NOT NULL,"
    " evicted_at REAL NOT NULL)",
    # The will of the current connection (at most one row); older agents ignore this table.
    "CREATE TABLE IF NOT EXISTS armed_will (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)",
    "INSERT OR IGNORE INTO meta VALUES"
    " ('next_seq', 1), ('evicted_items', 0), ('evicted_messages', 0),"
    " ('added_telemetry', 0), ('added_stock', 0), ('added_events', 0), ('added_state', 0)",
    f"PRAGMA user_version = {_SCHEMA_VERSION}",
)
_EVICTABLE = tuple(sorted(EVICTABLE_KINDS))
_IN_EVICTABLE = ",".join("?" * len(_EVICTABLE))
# Placeholders only (values are bound), so building these strings is not an injection risk.
_OLDEST_ITEMS = (
    "SELECT id, added_at, bytes FROM items"  # noqa: S608
    f" WHERE kind IN ({_IN_EVICTABLE}) ORDER BY id"
)
_OLDEST_MESSAGES = (
    "SELECT seq, created_at, bytes, item_count FROM messages"  # noqa: S608
    f" WHERE kind IN ({_IN_EVICTABLE}) ORDER BY seq"
)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A sealed message waiting for its PUBACK."""

    seq: int
    kind: Kind
    data: bytes
    created_at: float  # when its oldest item was added
    item_count: int

    def __post_init__(self) -> None:
        if self.seq < 1 or self.item_count < 0:
            raise ValueError(f"expected seq >= 1 and item_count >= 0, got {self!r:.120}")


@dataclass(frozen=True, slots=True)
class ArmedWill:
    seq: int
    data: bytes
    released: int | None  # the previous will's seq, now an ordinary message (if there was one)


@dataclass(frozen=True, slots=True)
class BackfillSplit:
    """Requested seqs sorted by what the outbox knows of them."""

    held: list[int]  # still in the outbox: publish again
    evicted: list[int]  # evicted under the disk budget (as far as remembered)
    not_held: list[int]  # allocated, but neither held nor remembered as evicted
    unknown: list[int]  # not allocated yet, or the armed will's: nothing to answer yet


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Counts for the heartbeat and health checks; evicted_* are totals since creation."""

    pending_items: int
    pending_messages: int
    stored_bytes: int
    oldest_age_s: float | None
    evicted_items: int  # readings given up, whether still pending or already sealed
    evicted_messages: int
    next_seq: int


@dataclass(slots=True)
class _Txn:
    conn: sqlite3.Connection
    stored_delta: int = 0
    evicted: list[int] = field(default_factory=lambda: [0, 0, 0])  # items, messages, short


def _as_kind(kind: Kind | str) -> Kind:
    try:
        return Kind(kind)
    except ValueError:
        expected = ", ".join(k.value for k in Kind)
        raise OutboxError(f"expected a kind in {{{expected}}}, got {kind!r}") from None


class Outbox:
    """Durable, thread-safe store of pending items and sealed messages in one SQLite file."""

    def __init__(
        self,
        path: Path | str,
        *,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if budget_bytes < 1:
            raise ValueError(f"budget_bytes must be positive, got {budget_bytes}")
        self._path = str(path)
        self._budget = budget_bytes
        self._clock = clock
        # One connection, one lock: the MQTT network thread acks while the main thread adds,
        # and SQLite serialises writers anyway.
        self._lock = threading.RLock()
        self._stored_bytes = 0  # payload + row overhead of every item and message
        # Whether an eviction episode is under way, and whether it has run out of telemetry
        # to evict; both only to log each once.
        self._over_budget = self._keeping = False
        try:
            if self._path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(f"cannot open outbox at {self._path}: {exc}") from exc
        self._conn: sqlite3.Connection | None = conn
        try:
            self._setup(conn)
        except BaseException:
            self.close()
            raise

    def _setup(self, conn: sqlite3.Connection) -> None:
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            # FULL makes every commit fsync the WAL: NORMAL would lose the last commits on
            # a power cut, which is exactly what a gateway without a UPS sees.
            conn.execute("PRAGMA synchronous=FULL")
            # Appends and reads of the newest rows need few pages: SQLite's default 2 MB page
            # cache would be ~5% of the gateway's 40 MB memory budget.
            conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
            conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot open outbox at {self._path}: {exc}") from exc
        if mode != "wal" and self._path != ":memory:":
            _logger.warning("outbox %s runs in journal mode %s, expected wal", self._path, mode)
        if version > _SCHEMA_VERSION:
            raise OutboxError(
                f"outbox {self._path} has schema version {version}; this agent supports "
                f"up to {_SCHEMA_VERSION}"
            )
        with self._write() as txn:
            for statement in _SCHEMA:  # idempotent; future versions migrate from `version`
                txn.conn.execute(statement)
            row = txn.conn.execute(
                "SELECT (SELECT COALESCE(SUM(bytes), 0) FROM items)"
                " + (SELECT COALESCE(SUM(bytes), 0) FROM messages)"
            ).fetchone()
            # Recomputed on open rather than persisted: no extra write per commit, no drift.
            self._stored_bytes = int(row[0])
            self._evict(txn)  # the budget may have been lowered since the last run

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[_Txn]:
        """One IMMEDIATE transaction under the lock; the body's bookkeeping applies on commit."""
        with self._lock:
            if self._conn is None:
                raise OutboxError(f"outbox {self._path} is closed")
            txn = _Txn(self._conn)
            try:
                txn.conn.execute("BEGIN IMMEDIATE")
                yield txn
                txn.conn.execute("COMMIT")
            except BaseException as exc:
                if txn.conn.in_transaction:
                    # A failed rollback must not mask the error that caused it.
                    with suppress(sqlite3.Error):
                        txn.conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise OutboxError(f"outbox {self._path}: {exc}") from exc
                raise
            self._stored_bytes += txn.stored_delta
            self._log_eviction(*txn.evicted)

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            if self._conn is None:
                raise OutboxError(f"outbox {self._path} is closed")
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise OutboxError(f"outbox {self._path}: {exc}") from exc

    # -- items and messages ------------------------------------------------------------------

    def add(self, kind: Kind | str, items: Sequence[Mapping[str, object]]) -> None:
        """Persist all `items` in one transaction (group commit); returns after the fsync."""
        kind = _as_kind(kind)
        now = self._clock()
        rows = []
        for index, item in enumerate(items):
            try:
                data = json.dumps(dict(item), separators=(",", ":"), allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise OutboxError(
                    f"{kind} item {index} must be a JSON mapping without NaN or Infinity"
                    f" (send None for a faulted reading): {exc}; got {item!r:.200}"
                ) from None
            rows.append((kind.value, now, len(data) + _ROW_OVERHEAD_BYTES, data))
        if not rows:
            return
        with self._write() as txn:
            txn.conn.executemany(
                "INSERT INTO items (kind, added_at, bytes, data) VALUES (?, ?, ?, ?)", rows
            )
            # Committed with the items: after any crash this is exactly what was accepted.
            txn.conn.execute(
                "UPDATE meta SET value = value + ? WHERE key = ?", (len(rows), f"added_{kind}")
            )
            txn.stored_delta = sum(row[2] for row in rows)
            self._evict(txn)

    def seal(
        self,
        seal_fn: SealFn,
        *,
        max_items: int,
        kinds: Iterable[Kind | str] | None = None,
        max_batches: int | None = None,
    ) -> int:
        """Seal pending items into messages, round-robin over kinds; returns how many.

        Each message is its own transaction, so an exception from `seal_fn` rolls back only
        that message (its sequence number is not consumed) and propagates unchanged.
        """
        if max_items < 1:
            raise ValueError(f"max_items must be positive, got {max_items}")
        wanted = set(SEAL_ORDER) if kinds is None else {_as_kind(k) for k in kinds}
        active = [k for k in SEAL_ORDER if k in wanted]
        sealed = 0
        while active:
            for kind in list(active):
                if max_batches is not None and sealed >= max_batches:
                    return sealed
                if self._seal_one(seal_fn, kind, max_items):
                    sealed += 1
                else:
                    active.remove(kind)
        return sealed

    def _seal_one(self, seal_fn: SealFn, kind: Kind, max_items: int) -> bool:
        with self._write() as txn:
            rows = txn.conn.execute(
                "SELECT id, added_at, bytes, data FROM items WHERE kind = ? ORDER BY id LIMIT ?",
                (kind.value, max_items),
            ).fetchall()
            if not rows:
                return False
            seq = self._next_seq(txn.conn)
            # seal_fn runs under the lock (signing is sub-millisecond) so the seq it signs is
            # the one we commit; it sees the items exactly as they were added.
            data = seal_fn(kind, seq, [json.loads(row[3]) for row in rows])
            if not isinstance(data, bytes | bytearray | memoryview):
                raise OutboxError(f"seal_fn must return bytes, got {type(data).__name__}")
            size = len(data) + _ROW_OVERHEAD_BYTES
            txn.conn.execute(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    kind.value,
                    min(r[1] for r in rows),
                    self._clock(),
                    len(rows),
                    size,
                    bytes(data),
                ),
            )
            txn.conn.executemany("DELETE FROM items WHERE id = ?", ((r[0],) for r in rows))
            txn.stored_delta = size - sum(r[2] for r in rows)
            self._evict(txn)
        return True

    def reserve_seq(self) -> int:
        """Durably allocate one sequence number (e.g. for a pre-signed last-will message)."""
        with self._write() as txn:
            return self._next_seq(txn.conn)

    def put_message(self, kind: Kind | str, seq: int, data: bytes, *, item_count: int = 1) -> None:
        """Store a message the caller sealed itself with a seq from `reserve_seq`."""
        kind = _as_kind(kind)
        size = len(data) + _ROW_OVERHEAD_BYTES
        with self._write() as txn:
            next_seq = txn.conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
            if not 1 <= seq < next_seq[0]:
                raise OutboxError(f"expected a reserved seq in [1, {next_seq[0]}), got {seq}")
            if txn.conn.execute("SELECT 1 FROM messages WHERE seq = ?", (seq,)).fetchone():
                raise OutboxError(f"a message with seq {seq} is already stored")
            now = self._clock()
            txn.conn.execute(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, kind.value, now, now, item_count, size, bytes(data)),
            )
            txn.stored_delta = size
            self._evict(txn)

    def arm_will(self, build: Callable[[int], bytes]) -> ArmedWill:
        """Reserve a seq for the next connection's last will, seal it with ``build(seq)`` and
        keep it; the previously armed will becomes an ordinary state message."""
        with self._write() as txn:
            released = self._release_will(txn)
            seq = self._next_seq(txn.conn)
            data = build(seq)
            txn.conn.execute("INSERT INTO armed_will VALUES (?, ?)", (seq, bytes(data)))
        return ArmedWill(seq, bytes(data), released)

    def release_will(self) -> int | None:
        """Turn the armed will into an ordinary state message (the agent stops: it is the
        death notice); returns its seq, None when none was armed."""
        with self._write() as txn:
            return self._release_will(txn)

    def _release_will(self, txn: _Txn) -> int | None:
        row = txn.conn.execute("SELECT seq, data FROM armed_will").fetchone()
        if row is None:
            return None
        txn.conn.execute("DELETE FROM armed_will")
        seq, data = int(row[0]), bytes(row[1])
        if txn.conn.execute("SELECT 1 FROM messages WHERE seq = ?", (seq,)).fetchone() is None:
            size = len(data) + _ROW_OVERHEAD_BYTES
            now = self._clock()
            txn.conn.execute(
                "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, Kind.STATE.value, now, now, 1, size, data),
            )
            txn.stored_delta += size
        return seq

    def messages(self, seqs: Iterable[int]) -> list[OutboxMessage]:
        """The sealed messages among ``seqs`` that the outbox still holds, by seq."""
        wanted = sorted(set(seqs))
        found: list[OutboxMessage] = []
        for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._read(
                "SELECT seq, kind, data, created_at, item_count FROM messages"  # noqa: S608
                f" WHERE seq IN ({marks}) ORDER BY seq",
                chunk,
            )
            found += [OutboxMessage(r[0], Kind(r[1]), bytes(r[2]), r[3], r[4]) for r in rows]
        return found

    def free(self, seqs: Iterable[int]) -> int:
        """Delete the messages the cloud receipted, in one transaction; returns how many."""
        wanted = sorted(set(seqs))
        if not wanted:
            return 0
        freed = 0
        with self._write() as txn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                row = txn.conn.execute(
                    f"SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM messages"  # noqa: S608
                    f" WHERE seq IN ({marks})",
                    chunk,
                ).fetchone()
                txn.conn.execute(f"DELETE FROM messages WHERE seq IN ({marks})", chunk)  # noqa: S608
                freed += int(row[0])
                txn.stored_delta -= int(row[1])
        return freed

    def split_backfill(self, ranges: Sequence[tuple[int, int]]) -> BackfillSplit:
        """Sort the seqs of a backfill request into held, evicted, not held and unknown."""
        held: list[int] = []
        evicted: list[int] = []
        for low, high in ranges:
            held += [r[0] for r in self._read(
                "SELECT seq FROM messages WHERE seq BETWEEN ? AND ? ORDER BY seq", (low, high))]
            evicted += [r[0] for r in self._read(
                "SELECT seq FROM evicted WHERE seq BETWEEN ? AND ? ORDER BY seq", (low, high))]
        (row,) = self._read(
            "SELECT (SELECT value FROM meta WHERE key = 'next_seq'),"
            " (SELECT seq FROM armed_will LIMIT 1)"
        )
        next_seq, armed = int(row[0]), row[1]
        known = set(held) | set(evicted)
        not_held: list[int] = []
        unknown: list[int] = []
        for low, high in ranges:
            for seq in range(low, high + 1):
                if seq not in known:
                    (not_held if seq < next_seq and seq != armed else unknown).append(seq)
        return BackfillSplit(held, sorted(set(evicted) - set(held)), not_held, unknown)

    def pending_messages(self, limit: int, after_seq: int | None = None) -> list[OutboxMessage]:
        """Up to `limit` sealed messages in ascending seq order, after `after_seq` if given."""
        rows = self._read(
            "SELECT seq, kind, data, created_at, item_count FROM messages"
            " WHERE seq > ? ORDER BY seq LIMIT ?",
            (0 if after_seq is None else after_seq, limit),
        )
        return [OutboxMessage(r[0], Kind(r[1]), bytes(r[2]), r[3], r[4]) for r in rows]

    def ack(self, seq: int) -> None:
        """Forget a message the broker acknowledged; unknown or repeated seqs are a no-op."""
        with self._write() as txn:
            row = txn.conn.execute("SELECT bytes FROM messages WHERE seq = ?", (seq,)).fetchone()
            if row is not None:
                txn.conn.execute("DELETE FROM messages WHERE seq = ?", (seq,))
                txn.stored_delta = -row[0]

    def stats(self) -> OutboxStats:
        with self._lock:  # counts and stored bytes from the same moment
            return self._stats()

    def _stats(self) -> OutboxStats:
        (row,) = self._read(
            "SELECT (SELECT COUNT(*) FROM items), (SELECT COUNT(*) FROM messages),"
            " (SELECT added_at FROM items ORDER BY id LIMIT 1),"
            " (SELECT MIN(created_at) FROM messages),"
            " (SELECT value FROM meta WHERE key = 'evicted_items'),"
            " (SELECT value FROM meta WHERE key = 'evicted_messages'),"
            " (SELECT value FROM meta WHERE key = 'next_seq')"
        )
        oldest = min((t for t in (row[2], row[3]) if t is not None), default=None)
        # A Pi has no RTC and its clock may step backwards; never report a negative age.
        age = None if oldest is None else max(0.0, self._clock() - oldest)
        return OutboxStats(row[0], row[1], self._stored_bytes, age, row[4], row[5], row[6])

    def added_counts(self) -> dict[Kind, int]:
        """Items ever accepted by `add`, per kind: the agent's durable record of what it took."""
        rows = self._read("SELECT key, value FROM meta WHERE key LIKE 'added\\_%' ESCAPE '\\'")
        return {Kind(key.removeprefix("added_")): int(value) for key, value in rows}

    def recent_evicted_seqs(self, limit: int = EVICTED_SEQS_KEPT) -> list[int]:
        """Seqs of the most recently evicted messages, ascending, so the cloud can tell them
        from lost ones."""
        rows = self._read("SELECT seq FROM evicted ORDER BY seq DESC LIMIT ?", (limit,))
        return [r[0] for r in reversed(rows)]

    # -- internals -----------------------------------------------------------------------------

    @staticmethod
    def _next_seq(conn: sqlite3.Connection) -> int:
        # One counter for all kinds, committed with the message that uses it: a rolled-back
        # seal gives its seq back, a committed one is never handed out again.
        seq = int(conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()[0])
        conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (seq + 1,))
        return seq

    def _evict(self, txn: _Txn) -> None:
        """Within `txn`, drop the oldest evictable data until the budget holds again."""
        excess = self._stored_bytes + txn.stored_delta - self._budget
        if excess <= 0:
            return
        conn = txn.conn
        items = conn.execute(_OLDEST_ITEMS, _EVICTABLE)
        messages = conn.execute(_OLDEST_MESSAGES, _EVICTABLE)
        item_ids: list[tuple[int]] = []
        seqs: list[tuple[int, int]] = []
        freed = 0
        item, message = items.fetchone(), messages.fetchone()
        # Merge the two age-ordered streams; on a tie the message goes first because it
        # holds items sealed earlier.
        while freed < excess and (item is not None or message is not None):
            if message is not None and (item is None or message[1] <= item[1]):
                seqs.append((message[0], message[3]))
                freed += message[2]
                message = messages.fetchone()
            else:
                assert item is not None
                item_ids.append((item[0],))
                freed += item[2]
                item = items.fetchone()
        items.close()
        messages.close()
        now = self._clock()
        conn.executemany("DELETE FROM items WHERE id = ?", item_ids)
        conn.executemany("DELETE FROM messages WHERE seq = ?", ((s,) for s, _ in seqs))
        conn.executemany(
            "INSERT OR REPLACE INTO evicted VALUES (?, ?, ?)", ((s, n, now) for s, n in seqs)
        )
        conn.execute(
            "DELETE FROM evicted WHERE seq NOT IN"
            " (SELECT seq FROM evicted ORDER BY seq DESC LIMIT ?)",
            (EVICTED_SEQS_KEPT,),
        )
        readings = len(item_ids) + sum(n for _, n in seqs)
        conn.execute("UPDATE meta SET value = value + ? WHERE key = 'evicted_items'", (readings,))
        conn.execute(
            "UPDATE meta SET value = value + ? WHERE key = 'evicted_messages'", (len(seqs),)
        )
        txn.stored_delta -= freed
        txn.evicted = [readings, len(seqs), int(freed < excess)]

    def _log_eviction(self, readings: int, messages: int, short: int) -> None:
        # Once per episode, not once per add: a full outbox evicts on every sample.  The
        # episode ends only well under budget, so acks interleaved with adds do not re-log.
        if readings and not self._over_budget:
            _logger.warning(
                "outbox %s over its budget of %d bytes: evicting oldest telemetry "
                "(%d readings this time, %d sealed messages among them)",
                self._path,
                self._budget,
                readings,
                messages,
            )
        if short and not self._keeping:
            _logger.warning(
                "outbox %s holds %d bytes, over its budget of %d bytes, of data that is "
                "never evicted; keeping it",
                self._path,
                self._stored_bytes,
                self._budget,
            )
        if self._stored_bytes < 0.9 * self._budget:
            self._over_budget = self._keeping = False
        else:
            self._over_budget = self._over_budget or bool(readings)
            self._keeping = self._keeping or bool(short)
