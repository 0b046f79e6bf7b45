"""The ingest's device registry cache: one query per batch, evicted by notification.

A cache answering one device at a time, with a new database connection for every miss,
is a stall at ingest rates: a freshly started worker paid one connection plus one query
per device, serially, before its first batch could be prepared. Here the identities of
every device in a batch that is not cached are fetched in one query, over a connection
kept open, before the batch is prepared.

Freshness: migration 0009 announces every change to ``device_keys`` (and a device's
retirement or move) on the PostgreSQL channel :data:`CHANNEL`, with the device id. A
listener thread of each cache evicts that device when the change commits, so a retired or
revoked key stops verifying in every running worker within a second. While the listener
is not connected (the database restarting) it may miss announcements: everything is
evicted when it reconnects, and meanwhile entries live only ``unlistened_ttl`` seconds.
A key retiring later (a rotation's grace period) expires from the cache at that moment.

Unknown devices are remembered for ``negative_ttl`` seconds, so a flood from an unknown
device is not a flood of queries (a registration evicts them at once too).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cloud.registry import DeviceIdentity
from wire import WireError, parse_public_key

__all__ = ["CHANNEL", "BatchKeyCache", "device_of_topic"]

_logger = logging.getLogger(__name__)
_MAX_DEVICE_ID = 255  # the envelope's device-id length is one byte
_PRUNE_ABOVE = 100_000  # entries; expired ones are dropped beyond this (hostile ids)

CHANNEL: Final = "ct_device_keys"
"""The NOTIFY channel of migration 0009; the payload is a device id."""

# retiring_in: seconds until a key that is still valid retires (NULL: not scheduled).
_QUERY = (
    "SELECT d.id, d.tenant_id, d.site_id, k.public_key,"
    " extract(epoch FROM k.retired_at - now())::float8 AS retiring_in"
    " FROM devices d JOIN device_keys k ON k.device_id = d.id"
    " WHERE d.id = ANY(%s) AND d.status <> 'retired'"
    " AND (k.retired_at IS NULL OR k.retired_at > now())"
)
_RECONNECT_MIN_S = 0.5
_RECONNECT_MAX_S = 10.0
_POLL_S = 0.5  # how often the listener looks up from waiting to check for close()


class BatchKeyCache:
    """Device identities cached in memory; misses of a whole batch cost one query."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        *,
        ttl: float = 300.0,
        negative_ttl: float = 5.0,
        unlistened_ttl: float = 1.0,
        listen: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._unlistened_ttl = unlistened_ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, DeviceIdentity | None]] = {}
        self._lock = threading.Lock()  # guards _entries and _epoch
        self._db_lock = threading.Lock()  # one query at a time on the shared connection
        self._conn: psycopg.Connection[Any] | None = None
        # Bumped by every eviction: a load that raced with one does not keep its answer.
        self._epoch = 0
        self._listen = listen
        self._listening = threading.Event()  # LISTEN is in effect on a live connection
        self._listener: threading.Thread | None = None
        self._listener_conn: psycopg.Connection[Any] | None = None
        self._closed = threading.Event()
        self.evictions = 0  # devices evicted by announcements (for tests and logs)
        self.listens = 0  # times LISTEN took effect (1 + reconnections)

    # --- lookups ----------------------------------------------------------------------

    def identity(self, device_id: str) -> DeviceIdentity | None:
        """The cached identity; on a miss (not prefetched) it is loaded on its own."""
        cached = self._entries.get(device_id)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        self.prefetch((device_id,))
        entry = self._entries.get(device_id)
        return entry[1] if entry is not None else None

    def keys(self, device_id: str) -> tuple[Ed25519PublicKey, ...]:
        identity = self.identity(device_id)
        return identity.keys if identity is not None else ()

    def prefetch(self, device_ids: Iterable[str]) -> int:
        """Load, in one query, the devices among ``device_ids`` not cached; returns how many.

        Raises :class:`psycopg.OperationalError` while the database is unreachable.
        """
        now = self._clock()
        entries = self._entries
        missing = sorted({d for d in device_ids if (e := entries.get(d)) is None or e[0] <= now})
        if not missing:
            return 0
        self._start_listener()
        epoch = self._epoch
        listening = self._listening.is_set()
        found, retiring = self._load(missing)
        now = self._clock()
        with self._lock:
            raced = epoch != self._epoch  # an eviction arrived while we queried
            if len(entries) > _PRUNE_ABOVE:
                for key in [k for k, (expiry, _) in entries.items() if expiry <= now]:
                    del entries[key]
            for device_id in missing:
                identity = found.get(device_id)
                ttl = self._ttl if identity is not None else self._negative_ttl
                if self._listen and not listening:  # announcements may be missed
                    ttl = min(ttl, self._unlistened_ttl)
                if device_id in retiring:
                    ttl = min(ttl, retiring[device_id])
                # After a race the answer serves the batch in hand, then is looked up again.
                entries[device_id] = (now if raced else now + ttl, identity)
        return len(missing)

    def invalidate(self, device_id: str | None = None) -> None:
        """Forget one device (or all): the next lookup asks the database."""
        with self._lock:
            self._epoch += 1
            if device_id is None:
                self._entries.clear()
            else:
                self._entries.pop(device_id, None)

    def close(self) -> None:
        self._closed.set()
        listener = self._listener
        if listener is not None:
            listener.join(timeout=_POLL_S * 4 + 5)
        with self._db_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def listening(self) -> bool:
        """Whether key changes are being announced to this cache right now."""
        return self._listening.is_set()

    # --- the database -----------------------------------------------------------------

    def _load(self, device_ids: list[str]) -> tuple[dict[str, DeviceIdentity], dict[str, float]]:
        with self._db_lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                    self._conn.autocommit = True
                rows = self._conn.execute(_QUERY, (device_ids,)).fetchall()
            except psycopg.Error:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                raise
        grouped: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            grouped.setdefault(str(row[0]), []).append(row)
        found: dict[str, DeviceIdentity] = {}
        retiring: dict[str, float] = {}
        for device_id, device_rows in grouped.items():
            keys: list[Ed25519PublicKey] = []
            for row in device_rows:
                try:
                    keys.append(parse_public_key(str(row[3])))
                except WireError as exc:
                    _logger.error(
                        "device %s has an unusable key in the registry: %s", device_id, exc
                    )
                if row[4] is not None:
                    retiring[device_id] = min(retiring.get(device_id, row[4]), float(row[4]))
            first = device_rows[0]
            found[device_id] = DeviceIdentity(device_id, str(first[1]), str(first[2]), tuple(keys))
        return found, retiring

    # --- announcements ----------------------------------------------------------------

    def _start_listener(self) -> None:
        """Start listening before the first load, so no change after it goes unheard."""
        if not self._listen or self._listener is not None:
            return
        with self._lock:
            if self._listener is not None:
                return
            self._listener = threading.Thread(
                target=self._listen_loop, name="key-cache-listener", daemon=True
            )
            self._listener.start()
        # A first answer without the listener would only be cached briefly; wait a moment
        # for LISTEN so that a fresh worker caches normally from its first batch.
        self._listening.wait(timeout=2.0)

    def _listen_loop(self) -> None:
        delay = _RECONNECT_MIN_S
        while not self._closed.is_set():
            try:
                with self._connect() as conn:
                    conn.autocommit = True
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Announcements before LISTEN were not heard: start from nothing cached.
                    self.invalidate()
                    self.listens += 1
                    self._listening.set()
                    delay = _RECONNECT_MIN_S
                    _logger.info("key cache: listening for device key changes")
                    while not self._closed.is_set():
                        for notify in conn.notifies(timeout=_POLL_S):
                            self._evict(notify.payload)
            except psycopg.Error as exc:
                if self._closed.is_set():
                    break
                was_listening = self._listening.is_set()
                self._listening.clear()
                self.invalidate()  # announcements may be missed until we are back
                log = _logger.warning if was_listening else _logger.debug
                log("key cache: not listening for key changes (%s); retry in %.1f s", exc, delay)
                self._closed.wait(delay)
                delay = min(delay * 2, _RECONNECT_MAX_S)
        self._listening.clear()

    def _evict(self, device_id: str) -> None:
        self.invalidate(device_id)
        self.evictions += 1
        _logger.info("key cache: device %s changed; evicted", device_id)


def device_of_topic(topic: str) -> str | None:
    """The device segment of ``ct/v1/{tenant}/{site}/{device}/{kind}``, None if not that."""
    parts = topic.split("/", 6)
    if len(parts) != 6 or parts[0] != "ct" or parts[1] != "v1":
        return None
    device = parts[4]
    return device if 0 < len(device) <= _MAX_DEVICE_ID else None
