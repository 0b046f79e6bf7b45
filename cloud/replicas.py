"""Reads from replicas within a stated staleness bound, and read-your-writes.

``CT_DATABASE_READ_URL`` names the servers reads may use (usually the same hosts as the
writers' URL, with ``target_session_attrs=prefer-standby``). A :class:`ReplicaMonitor`
samples each of those servers every ``interval_s`` on a connection of its own: whether it
is a standby, how far its replay is behind (seconds), and the WAL position it has replayed.
A read goes to a server whose last sample is fresh and whose lag is at most
``CT_DATABASE_READ_MAX_LAG_SECONDS``; when none qualifies, to the primary. So a read is at
most that bound plus one sampling interval behind the primary (a standby whose replication
connection silently hangs reports no lag until PostgreSQL's ``wal_receiver_timeout`` ends
it: keep that at or below the bound, docs/operations.md).

Read-your-writes: a caller that has just written holds the primary's WAL position after its
commit (the API returns it, :mod:`cloud.api.consistency`); a read that names it goes only
to a server that has replayed that far, else to the primary.

Lag per server, as sampled:

* the primary (a read URL host that was promoted): 0;
* a standby with no WAL receiver (not streaming: cut off, or a demoted primary that has
  not rejoined, whose data may have diverged): unknown, never used;
* a standby that has replayed all it received: 0; otherwise now minus the commit time of
  the last transaction it replayed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from cloud.db import make_pool, reader_conninfo

__all__ = [
    "LAG_SQL",
    "AsyncReadRouter",
    "ReadRouter",
    "ReplicaMonitor",
    "ReplicaState",
    "format_lsn",
    "parse_lsn",
    "servers_of",
]

_logger = logging.getLogger(__name__)

LAG_SQL = """
SELECT pg_is_in_recovery(),
       (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
             ELSE pg_current_wal_lsn() END)::text,
       CASE WHEN NOT pg_is_in_recovery() THEN 0
            WHEN NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver) THEN NULL
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))
       END::float8
"""


def parse_lsn(text: str | None) -> int | None:
    """``'16/B374D848'`` -> an integer (None for None or a malformed value)."""
    if not text or "/" not in text:
        return None
    high, _, low = text.strip().partition("/")
    try:
        return (int(high, 16) << 32) + int(low, 16)
    except ValueError:
        return None


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def servers_of(url: str) -> list[str]:
    """One single-host conninfo per host of a (multi-host) URL, other parameters kept."""
    params = conninfo_to_dict(url)
    hosts = str(params.pop("host", "") or "").split(",")
    ports = str(params.pop("port", "") or "").split(",")
    params.pop("hostaddr", None)
    params.pop("target_session_attrs", None)
    params.pop("load_balance_hosts", None)
    out = []
    for index, host in enumerate(hosts):
        port = ports[index] if index < len(ports) else (ports[-1] if ports else "")
        single = {**params, **({"host": host} if host else {}), **({"port": port} if port else {})}
        out.append(make_conninfo("", **single))
    return out


def _label(conninfo: str) -> str:
    params = conninfo_to_dict(conninfo)
    return f"{params.get('host', 'local')}:{params.get('port', 5432)}"


@dataclass(frozen=True, slots=True)
class ReplicaState:
    server: str  # host:port
    standby: bool
    lag_s: float | None  # None: unknown (not streaming, or unreachable)
    replay_lsn: int | None
    sampled_at: float  # time.monotonic()


class ReplicaMonitor:
    """Samples every server of the read URL; says which may serve a read now."""

    def __init__(
        self,
        read_url: str,
        *,
        max_lag_s: float,
        interval_s: float = 0.5,
        on_sample: Callable[[ReplicaState], None] | None = None,
    ) -> None:
        self.servers = [reader_conninfo(s, application_name="ct-replica-monitor")
                        for s in servers_of(read_url)]  # fmt: skip
        self.labels = [_label(s) for s in self.servers]
        self.max_lag_s = max_lag_s
        self.interval_s = interval_s
        self._on_sample = on_sample
        self._states: dict[str, ReplicaState] = {}
        self._conns: dict[str, psycopg.Connection[Any]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="replica-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        for conn in self._conns.values():
            with contextlib.suppress(psycopg.Error):
                conn.close()
        self._conns.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            for conninfo, label in zip(self.servers, self.labels, strict=True):
                self._record(self.sample(conninfo, label))
            self._stop.wait(self.interval_s)

    def _record(self, state: ReplicaState) -> None:
        self._states[state.server] = state
        if self._on_sample is not None:
            self._on_sample(state)

    def sample(self, conninfo: str, label: str) -> ReplicaState:
        now = time.monotonic()
        try:
            conn = self._conns.get(label)
            if conn is None or conn.closed:
                conn = self._conns[label] = psycopg.connect(
                    conninfo, autocommit=True, connect_timeout=2
                )
            row = conn.execute(LAG_SQL).fetchone()
        except psycopg.Error as exc:
            _logger.debug("replica %s not sampled: %s", label, exc)
            dead = self._conns.pop(label, None)
            if dead is not None:
                with contextlib.suppress(psycopg.Error):
                    dead.close()
            return ReplicaState(label, True, None, None, now)
        assert row is not None
        lag = None if row[2] is None else float(row[2])
        return ReplicaState(label, bool(row[0]), lag, parse_lsn(row[1]), now)

    def state(self, server: str) -> ReplicaState | None:
        return self._states.get(server)

    def usable(self, server: str, after_lsn: int | None = None) -> bool:
        """Whether ``server`` may serve a read now (fresh sample, lag within the bound,
        replayed at least to ``after_lsn``)."""
        state = self._states.get(server)
        if state is None or state.lag_s is None:
            return False
        if time.monotonic() - state.sampled_at > max(2.0, 4 * self.interval_s):
            return False  # the monitor has not heard from it lately
        if state.lag_s > self.max_lag_s:
            return False
        return after_lsn is None or (state.replay_lsn is not None and state.replay_lsn >= after_lsn)


def _choose(
    monitor: ReplicaMonitor, labels: list[str], start: int, after_lsn: int | None
) -> tuple[str, str, int]:
    """(server label or "primary", why, next start): round robin over the usable standbys;
    the read URL's primary (a host that was promoted) only when no standby is usable."""
    for want_standby in (True, False):
        for offset in range(len(labels)):
            label = labels[(start + offset) % len(labels)]
            state = monitor.state(label)
            if state is not None and state.standby == want_standby and monitor.usable(
                label, after_lsn
            ):
                why = "replica" if want_standby else "no_standby_usable"
                return label, why, (start + offset + 1) % len(labels)
    if after_lsn is not None and any(monitor.usable(label) for label in labels):
        return "primary", "read_your_writes", start
    return "primary", "no_standby_usable", start


class ReadRouter:
    """A pool per read server; a read borrows from a usable one, else from the primary's.
    The caller starts and stops the monitor (one per process serves every router)."""

    def __init__(
        self,
        monitor: ReplicaMonitor,
        primary: ConnectionPool[psycopg.Connection[Any]],
        *,
        max_size: int,
        on_read: Callable[[str, str], None] | None = None,
    ) -> None:
        self.monitor = monitor
        self.primary = primary
        self._on_read = on_read
        self._pools = {
            label: make_pool(conninfo, name=f"read-{label}", min_size=0, max_size=max_size,
                             reader=True)
            for conninfo, label in zip(monitor.servers, monitor.labels, strict=True)
        }  # fmt: skip
        self._next = 0

    def open(self) -> None:
        for pool in self._pools.values():
            pool.open(wait=False)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()

    def choose(self, after_lsn: int | None = None) -> tuple[str, str]:
        target, why, self._next = _choose(self.monitor, list(self._pools), self._next, after_lsn)
        if self._on_read is not None:
            self._on_read("replica" if why == "replica" else "primary", why)
        return target, why

    @contextmanager
    def connection(
        self, *, after_lsn: int | None = None, timeout: float = 5.0
    ) -> Iterator[psycopg.Connection[Any]]:
        target, _ = self.choose(after_lsn)
        pool = self.primary if target == "primary" else self._pools[target]
        with pool.connection(timeout=timeout) as conn:
            yield conn


class AsyncReadRouter:
    """The same for asyncio (the consumer resolver): quacks like the
    :class:`~psycopg_pool.AsyncConnectionPool` it replaces for reads, and opens and closes
    the primary's pool with its own (the resolver's scan writer shares that one)."""

    def __init__(
        self,
        monitor: ReplicaMonitor,
        primary: AsyncConnectionPool[psycopg.AsyncConnection[Any]],
        *,
        max_size: int,
    ) -> None:
        self.monitor = monitor
        self.primary = primary
        self._pools: dict[str, AsyncConnectionPool[psycopg.AsyncConnection[Any]]] = {
            label: AsyncConnectionPool(
                reader_conninfo(conninfo, application_name="ct-resolver-read"), min_size=0,
                max_size=max_size, kwargs={"autocommit": True},
                check=AsyncConnectionPool.check_connection, open=False, name=f"read-{label}",
            )
            for conninfo, label in zip(monitor.servers, monitor.labels, strict=True)
        }  # fmt: skip
        self._next = 0

    async def open(self, wait: bool = False) -> None:
        await self.primary.open(wait=wait)
        for pool in self._pools.values():
            await pool.open(wait=False)

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
        await self.primary.close()

    @asynccontextmanager
    async def connection(
        self, timeout: float | None = None
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        target, _, self._next = _choose(self.monitor, list(self._pools), self._next, None)
        pool = self.primary if target == "primary" else self._pools[target]
        async with pool.connection(timeout=timeout) as conn:
            yield conn
