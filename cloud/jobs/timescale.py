"""``storage.timescale_jobs``: watch TimescaleDB's own jobs; run failing policies ourselves.

On TimescaleDB the storage policies run as TimescaleDB background jobs. Every
``CT_TIMESCALE_JOBS_INTERVAL_S`` the leader reads their health
(:mod:`cloud.storage.job_health`) and exports it as Prometheus metrics (the job's
``collector``), which ``TimescaleJobFailing`` in deploy/prometheus/rules.yml and the
``storage_job_failing`` alert rule watch.

When a policy keeps failing in the background (``FAILURES_IN_A_ROW`` runs in a row), the
job runs it in the foreground with ``CALL run_job(id)``, at most once per the policy's
schedule interval, so rollups, compression and retention stay on time while the cause is
fixed (``CT_TIMESCALE_FOREGROUND_POLICIES=off`` turns that off). The known cause is
PostgreSQL 15.20 with TimescaleDB 2.28.3, where every background job fails after
committing its work and is backed off; foreground runs work there. Foreground runs do not
reset TimescaleDB's failure counters, so the alerts keep saying that the background jobs
fail (docs/operations.md, "TimescaleDB jobs"). On plain PostgreSQL the job does nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from cloud import storage
from cloud.storage.job_health import (
    FAILURES_IN_A_ROW,
    TimescaleJob,
    due_for_foreground_run,
    failing,
    read_jobs,
    run_job,
)

__all__ = ["ForegroundMode", "TimescaleJobsCollector", "TimescaleWatch"]

_logger = logging.getLogger(__name__)

ForegroundMode = Literal["failing", "off"]
_LABELS = ("job_id", "proc", "relation")


def _is_policy(job: TimescaleJob) -> bool:
    """TimescaleDB's maintenance policies (ours and its job-history retention); not
    telemetry and not user-defined actions, which we do not run on anyone's behalf."""
    return job.proc.startswith("policy_") and job.proc != "policy_telemetry"


def _labels(job: TimescaleJob) -> tuple[str, str, str]:
    return (str(job.job_id), job.proc, job.relation or "")


@dataclass(frozen=True, slots=True)
class JobsSnapshot:
    checked_at: float  # Unix time of the read
    jobs: tuple[TimescaleJob, ...]


class TimescaleWatch:
    """The job's state between runs: the last snapshot and the foreground runs it made.

    ``run(conn)`` is the scheduler job; the collector reads :meth:`snapshot` and
    :meth:`foreground_counts` from the metrics server's thread.
    """

    def __init__(
        self,
        *,
        foreground: ForegroundMode = "failing",
        in_a_row: int = FAILURES_IN_A_ROW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._foreground = foreground
        self._in_a_row = in_a_row
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: JobsSnapshot | None = None
        self._last_run: dict[int, datetime] = {}
        self._runs: dict[tuple[str, str, str], int] = {}
        self._run_failures: dict[tuple[str, str, str], int] = {}
        self._reported: frozenset[int] = frozenset()

    def snapshot(self) -> JobsSnapshot | None:
        with self._lock:
            return self._snapshot

    def foreground_counts(self) -> tuple[dict[tuple[str, str, str], int], ...]:
        """(runs, failures) of ``CALL run_job`` by this process, per job labels."""
        with self._lock:
            return dict(self._runs), dict(self._run_failures)

    def publish(self, jobs: Sequence[TimescaleJob]) -> None:
        """Record what was just read (the metrics report it until it goes stale)."""
        with self._lock:
            self._snapshot = JobsSnapshot(self._clock(), tuple(jobs))

    def run(self, conn: psycopg.Connection[Any]) -> None:
        if storage.backend_name(conn) != "timescaledb":
            self.publish(())
            return
        jobs = read_jobs(conn)
        self.publish(jobs)
        bad = failing(jobs, self._in_a_row)
        self._report(bad)
        if self._foreground == "failing":
            self._run_in_foreground(conn, [job for job in bad if _is_policy(job)])

    def _report(self, bad: list[TimescaleJob]) -> None:
        ids = frozenset(job.job_id for job in bad)
        if ids == self._reported:
            return
        self._reported = ids
        for job in bad:
            _logger.warning(
                "TimescaleDB job %d (%s) failed %d times in a row in the background: %s",
                job.job_id, job.label, job.consecutive_failures, job.last_error or "no message",
            )  # fmt: skip
        if not bad:
            _logger.info("no TimescaleDB job is failing any more")

    def _run_in_foreground(self, conn: psycopg.Connection[Any], jobs: list[TimescaleJob]) -> None:
        for job in jobs:
            now = datetime.now(UTC)
            if not due_for_foreground_run(job, self._last_run.get(job.job_id), now):
                continue
            self._last_run[job.job_id] = now
            key = _labels(job)
            began = time.monotonic()
            try:
                run_job(conn, job.job_id)
            except psycopg.Error as exc:
                with self._lock:
                    self._run_failures[key] = self._run_failures.get(key, 0) + 1
                _logger.error("CALL run_job(%d) (%s) failed: %s", job.job_id, job.label, exc)
                continue
            finally:
                with self._lock:
                    self._runs[key] = self._runs.get(key, 0) + 1
            _logger.info(
                "ran TimescaleDB job %d (%s) in the foreground (%.1f s): failing in the background",
                job.job_id, job.label, time.monotonic() - began,
            )  # fmt: skip


class TimescaleJobsCollector(Collector):
    """Prometheus view of a :class:`TimescaleWatch`; nothing once its snapshot is older
    than ``stale_after_s`` (a replica that stopped leading stops reporting)."""

    def __init__(
        self,
        watch: TimescaleWatch,
        *,
        stale_after_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.watch = watch
        self._stale_after_s = stale_after_s
        self._clock = clock

    def describe(self) -> list[Metric]:
        return []  # not known before the first run; keeps registration from collecting

    def collect(self) -> Iterator[Metric]:
        snap = self.watch.snapshot()
        if snap is None or self._clock() - snap.checked_at > self._stale_after_s:
            return
        checked = GaugeMetricFamily(
            "ct_timescaledb_jobs_checked_timestamp_seconds",
            "Unix time at which this scheduler replica last read TimescaleDB's job statistics.",
        )
        checked.add_metric([], snap.checked_at)
        yield checked
        gauges = {
            "streak": GaugeMetricFamily(
                "ct_timescaledb_job_consecutive_failures",
                "Background runs of the TimescaleDB job that failed in a row (0 after a success).",
                labels=_LABELS,
            ),
            "ok": GaugeMetricFamily(
                "ct_timescaledb_job_last_run_success",
                "1 if the job's last background run succeeded, 0 if it failed.",
                labels=_LABELS,
            ),
            "running": GaugeMetricFamily(
                "ct_timescaledb_job_running", "1 while a background run is in progress.",
                labels=_LABELS,
            ),
            "next": GaugeMetricFamily(
                "ct_timescaledb_job_next_start_timestamp_seconds",
                "Unix time of the job's next scheduled background run.",
                labels=_LABELS,
            ),
            "success": GaugeMetricFamily(
                "ct_timescaledb_job_last_success_timestamp_seconds",
                "Unix time at which the job's last successful background run finished.",
                labels=_LABELS,
            ),
        }  # fmt: skip
        runs = CounterMetricFamily(
            "ct_timescaledb_job_runs", "Background runs of the job (TimescaleDB's count).",
            labels=_LABELS,
        )  # fmt: skip
        failures = CounterMetricFamily(
            "ct_timescaledb_job_failures", "Failed background runs (TimescaleDB's count).",
            labels=_LABELS,
        )  # fmt: skip
        for job in snap.jobs:
            if not job.scheduled:
                continue  # paused on purpose: neither failing nor due
            labels = list(_labels(job))
            gauges["streak"].add_metric(labels, job.consecutive_failures)
            gauges["running"].add_metric(labels, 1 if job.running else 0)
            if job.last_run_ok is not None:
                gauges["ok"].add_metric(labels, 1 if job.last_run_ok else 0)
            if job.next_start is not None:
                gauges["next"].add_metric(labels, job.next_start.timestamp())
            if job.last_success is not None:
                gauges["success"].add_metric(labels, job.last_success.timestamp())
            runs.add_metric(labels, job.total_runs)
            failures.add_metric(labels, job.total_failures)
        yield from gauges.values()
        yield runs
        yield failures
        fg_runs, fg_failures = self.watch.foreground_counts()
        foreground = CounterMetricFamily(
            "ct_timescaledb_job_foreground_runs",
            "CALL run_job runs of a failing policy by this scheduler replica.",
            labels=_LABELS,
        )
        foreground_failed = CounterMetricFamily(
            "ct_timescaledb_job_foreground_failures",
            "CALL run_job runs by this replica that raised.",
            labels=_LABELS,
        )
        for key, count in fg_runs.items():
            foreground.add_metric(list(key), count)
        for key, count in fg_failures.items():
            foreground_failed.add_metric(list(key), count)
        yield foreground
        yield foreground_failed
