"""Periodic jobs run by exactly one replica: the leader of a PostgreSQL advisory lock.

Any number of replicas may run a :class:`Scheduler`. Each keeps a dedicated autocommit
connection and tries ``pg_try_advisory_lock`` every ``leader_retry_s`` seconds; the one
that holds the session-level lock is the leader and the only one whose jobs do anything.
If the leader's lock connection dies (process killed, backend terminated, network cut and
TCP keepalive expired), PostgreSQL releases the lock and another replica takes it at its
next try, so leadership moves within one retry interval. The leader also checks its lock
connection at every tick and steps down when it is broken.

After a database failover (Patroni promoting a replica) the lock is gone with the old
primary: every replica connects through :func:`cloud.db.connect` (a multi-host URL finds
the new primary), the old leader notices its dead lock connection and steps down, and the
first replica whose tick reaches the new primary takes the lock there.

Jobs are ``Job(name, interval_s, func)``; ``func`` receives a fresh autocommit connection
per run and must be idempotent (a job may run once more around a leadership change).
A job's exception is logged and the job runs again at its next interval. A job that
watches something may carry a Prometheus ``collector`` of what it saw; the scheduler
command registers it with the replica's metrics.

An optional :class:`SchedulerObserver` hears of leadership after every election tick and of
every job run (duration and outcome): :mod:`cloud.scheduler_metrics` turns that into
Prometheus metrics.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client.registry import Collector

from cloud.db import connect, writer_conninfo
from cloud.errors import SchedulerError

__all__ = ["LEADER_LOCK_KEY", "Job", "JobStats", "Scheduler", "SchedulerObserver"]

_logger = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x43_54_53_43  # "CTSC"
_ELECTION = "ct-leader-election"


@dataclass(frozen=True, slots=True)
class Job:
    """A periodic job: ``func(conn)`` every ``interval_s`` seconds, on the leader only."""

    name: str
    interval_s: float
    func: Callable[[psycopg.Connection[Any]], None]
    collector: Collector | None = None  # metrics about what the job watches

    def __post_init__(self) -> None:
        if not self.name or self.name == _ELECTION:
            raise SchedulerError(f"invalid job name {self.name!r}")
        if not self.interval_s > 0:
            raise SchedulerError(f"job {self.name}: expected interval_s > 0, got {self.interval_s}")


class SchedulerObserver(Protocol):
    """Hears what a :class:`Scheduler` does; called from its threads, must not block."""

    def leadership(self, is_leader: bool) -> None: ...

    def job_finished(self, name: str, seconds: float, ok: bool) -> None: ...


@dataclass(slots=True)
class JobStats:
    runs: int = 0
    failures: int = 0
    skipped_not_leader: int = 0


class Scheduler:
    """Leader election plus an APScheduler ``BackgroundScheduler`` running ``jobs``."""

    def __init__(
        self,
        database_url: str,
        jobs: Sequence[Job],
        *,
        leader_retry_s: float = 5.0,
        lock_key: int = LEADER_LOCK_KEY,
        name: str = "scheduler",
        observer: SchedulerObserver | None = None,
    ) -> None:
        names = [j.name for j in jobs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SchedulerError(f"job names must be unique, repeated: {duplicates}")
        if not leader_retry_s > 0:
            raise SchedulerError(f"expected leader_retry_s > 0, got {leader_retry_s}")
        self._url = database_url
        self._jobs = list(jobs)
        self._retry_s = leader_retry_s
        self._lock_key = lock_key
        self._name = name
        self._observer = observer
        self._lock_conn: psycopg.Connection[Any] | None = None
        self._mutex = threading.Lock()
        self.stats = {j.name: JobStats() for j in self._jobs}
        self.elections = 0
        self._sit_out = 0
        self._aps = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=max(2, len(self._jobs)))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )

    @property
    def is_leader(self) -> bool:
        with self._mutex:
            return self._lock_conn is not None and not self._lock_conn.closed

    @property
    def name(self) -> str:
        return self._name

    @property
    def lock_backend_pid(self) -> int | None:
        """PID of the backend holding our lock (for operators and tests)."""
        with self._mutex:
            return None if self._lock_conn is None else self._lock_conn.info.backend_pid

    def start(self) -> None:
        self._elect()
        self._aps.add_job(self._elect, "interval", seconds=self._retry_s, id=_ELECTION)
        for job in self._jobs:
            self._aps.add_job(
                self._run, "interval", seconds=job.interval_s, id=job.name, args=(job,)
            )
        self._aps.start()
        _logger.info("%s started with %d job(s)", self._name, len(self._jobs))

    def stop(self) -> None:
        """Stop running jobs (waiting for running ones) and give up leadership."""
        if self._aps.running:
            self._aps.shutdown(wait=True)
        self._resign("stopping")

    def run_now(self, name: str) -> bool:
        """Run one job at once in the caller's thread if we lead; returns whether it ran."""
        for job in self._jobs:
            if job.name == name:
                return self._run(job)
        raise SchedulerError(f"no job named {name!r}; known: {[j.name for j in self._jobs]}")

    # ------------------------------------------------------------------ leadership

    def _elect(self) -> None:
        self.elections += 1
        try:
            self._elect_locked()
        finally:
            if self._observer is not None:
                self._observer.leadership(self.is_leader)

    def _elect_locked(self) -> None:
        with self._mutex:
            if self._lock_conn is not None:
                if self._lock_alive(self._lock_conn):
                    return
                _logger.warning("%s: lost the leader lock connection; stepping down", self._name)
                with contextlib.suppress(psycopg.Error):
                    self._lock_conn.close()
                self._lock_conn = None
                # Sit out one more tick, so a healthy replica (whose own tick comes within
                # one interval) takes over rather than the one whose session just died.
                self._sit_out = 2
            if self._sit_out:
                self._sit_out -= 1
                return
            conn = self._try_lock()
            if conn is not None:
                self._lock_conn = conn
                _logger.info(
                    "%s: became leader (backend pid %d)", self._name, conn.info.backend_pid
                )

    def _lock_alive(self, conn: psycopg.Connection[Any]) -> bool:
        try:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid() AND classid::bigint = %s AND objid::bigint = %s"
                " AND objsubid = 1",
                (self._lock_key >> 32 & 0xFFFFFFFF, self._lock_key & 0xFFFFFFFF),
            ).fetchone()
        except psycopg.Error:
            return False
        return row is not None and row[0] > 0

    def _try_lock(self) -> psycopg.Connection[Any] | None:
        try:
            # Keepalives (cloud.db) let PostgreSQL notice a leader that vanished from the
            # network; a multi-host URL finds the primary after a failover.
            conninfo = writer_conninfo(self._url, application_name=f"ct-{self._name}")
            conn = psycopg.connect(conninfo, autocommit=True)
        except psycopg.Error as exc:
            _logger.warning("%s: cannot reach the database for election: %s", self._name, exc)
            return None
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self._lock_key,)).fetchone()
        except psycopg.Error as exc:
            _logger.warning("%s: election query failed: %s", self._name, exc)
            conn.close()
            return None
        if row is not None and row[0]:
            return conn
        conn.close()
        return None

    def _resign(self, why: str) -> None:
        with self._mutex:
            if self._lock_conn is not None:
                with contextlib.suppress(psycopg.Error):
                    self._lock_conn.close()  # closing the session releases the lock
                self._lock_conn = None
                _logger.info("%s: resigned leadership (%s)", self._name, why)
        if self._observer is not None:
            self._observer.leadership(False)

    # ------------------------------------------------------------------ jobs

    def _run(self, job: Job) -> bool:
        stats = self.stats[job.name]
        if not self.is_leader:
            stats.skipped_not_leader += 1
            return False
        stats.runs += 1
        started = time.monotonic()
        ok = False
        try:
            with connect(self._url, autocommit=True, application_name=f"ct-{job.name}") as conn:
                job.func(conn)
            ok = True
        except Exception:
            stats.failures += 1
            _logger.exception(
                "%s: job %s failed; next run in %.0f s", self._name, job.name, job.interval_s
            )
        if self._observer is not None:
            self._observer.job_finished(job.name, time.monotonic() - started, ok)
        return True
