"""Health of TimescaleDB's own background jobs (policies), read from its catalog.

On TimescaleDB the policies added by migration 0002 (continuous aggregate refresh,
compression, retention) do the storage maintenance, run by TimescaleDB's job scheduler
inside PostgreSQL; nothing of ours notices when they fail. :func:`read_jobs` reads
``timescaledb_information.jobs`` / ``job_stats`` / ``job_errors`` (and the consecutive
failure count of ``bgw_job_stat``); :func:`failing` says which jobs keep failing. The
scheduler's ``storage.timescale_jobs`` job exports them as Prometheus metrics and the
``storage_job_failing`` alert rule raises them (docs/operations.md, "TimescaleDB jobs").

Known case: on PostgreSQL 15.20 with TimescaleDB 2.28.3 every background job ends with
``cannot drop portal "" while it is being set up`` after committing its work, so every job
is marked failed and backed off; ``CALL run_job(id)`` in the foreground works
(:func:`run_job`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from cloud.errors import StorageError
from cloud.storage.selection import parse_preload

__all__ = [
    "FAILURES_IN_A_ROW",
    "TimescaleJob",
    "due_for_foreground_run",
    "failing",
    "read_jobs",
    "run_job",
]

_logger = logging.getLogger(__name__)

# A job is "failing" once its last this-many runs all failed: one failure may be a lock
# timeout or a restart; three in a row (minutes for the rollup refresh, which runs every
# minute) is a job that does not work.
FAILURES_IN_A_ROW = 3

# Where TimescaleDB keeps the per-job counters (consecutive_failures is not in job_stats);
# the schema moved between releases, so both places are tried.
_JOB_STAT_TABLES = ("_timescaledb_internal.bgw_job_stat", "_timescaledb_catalog.bgw_job_stat")

_JOBS = """
SELECT j.job_id, j.application_name, j.proc_name, j.hypertable_name, j.schedule_interval,
       j.scheduled, s.job_status, s.last_run_status,
       CASE WHEN isfinite(s.last_run_started_at) THEN s.last_run_started_at END,
       CASE WHEN isfinite(s.last_successful_finish) THEN s.last_successful_finish END,
       CASE WHEN isfinite(s.next_start) THEN s.next_start END,
       coalesce(s.total_runs, 0), coalesce(s.total_failures, 0)
FROM timescaledb_information.jobs j
LEFT JOIN timescaledb_information.job_stats s USING (job_id)
ORDER BY j.job_id
"""

# Per job, the failures since its last successful background run: when that streak began
# and the latest error message (job_errors keeps a month of history).
_STREAKS = """
SELECT e.job_id, min(e.start_time), (array_agg(e.err_message ORDER BY e.finish_time DESC))[1]
FROM timescaledb_information.job_errors e
LEFT JOIN timescaledb_information.job_stats s USING (job_id)
WHERE s.last_successful_finish IS NULL OR NOT isfinite(s.last_successful_finish)
   OR e.start_time > s.last_successful_finish
GROUP BY e.job_id
"""


@dataclass(frozen=True, slots=True)
class TimescaleJob:
    """One TimescaleDB job and how its background runs went."""

    job_id: int
    name: str  # e.g. "Refresh Continuous Aggregate Policy [1000]"
    proc: str  # policy_refresh_continuous_aggregate, policy_compression, ...
    relation: str | None  # the hypertable or continuous aggregate it maintains
    schedule_interval: timedelta
    scheduled: bool  # False: paused by alter_job(scheduled => false)
    running: bool
    last_run_ok: bool | None  # None: never ran in the background
    consecutive_failures: int
    total_runs: int
    total_failures: int
    last_run_started: datetime | None
    last_success: datetime | None
    next_start: datetime | None
    failing_since: datetime | None  # start of the first failed run since the last success
    last_error: str | None  # the latest failed run's message

    @property
    def label(self) -> str:
        return f"{self.proc} on {self.relation}" if self.relation else self.proc


def failing(jobs: Iterable[TimescaleJob], in_a_row: int = FAILURES_IN_A_ROW) -> list[TimescaleJob]:
    """The scheduled jobs whose last ``in_a_row`` background runs all failed."""
    return [
        job
        for job in jobs
        if job.scheduled and job.last_run_ok is False and job.consecutive_failures >= in_a_row
    ]


def due_for_foreground_run(
    job: TimescaleJob, last_foreground_run: datetime | None, now: datetime
) -> bool:
    """Whether a failing job should be run with ``CALL run_job`` now: at most once per its
    schedule interval (foreground runs do not update TimescaleDB's job statistics, so the
    caller remembers when it last ran it)."""
    if not job.scheduled or job.running:
        return False
    return last_foreground_run is None or now - last_foreground_run >= job.schedule_interval


def _consecutive_failures(conn: psycopg.Connection[Any]) -> dict[int, int] | None:
    for table in _JOB_STAT_TABLES:
        row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if row is not None and row[0] is not None:
            rows = conn.execute(f"SELECT job_id, consecutive_failures FROM {table}")  # noqa: S608
            return {int(job_id): int(n) for job_id, n in rows}
    return None


def read_jobs(conn: psycopg.Connection[Any]) -> list[TimescaleJob]:
    """Every TimescaleDB job of this database; empty when TimescaleDB is not installed."""
    installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    if installed.fetchone() is None:
        return []
    preload = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()
    if "timescaledb" not in parse_preload(str(preload[0]) if preload else ""):
        # Reading its views would load the library unpreloaded: FATAL, session closed.
        raise StorageError(
            "timescaledb is installed in this database but the server does not preload it:"
            " add timescaledb to shared_preload_libraries and restart PostgreSQL"
        )
    streaks = _consecutive_failures(conn)
    errors = {int(r[0]): (r[1], r[2]) for r in conn.execute(_STREAKS).fetchall()}
    jobs = []
    for row in conn.execute(_JOBS).fetchall():
        (job_id, name, proc, relation, interval, scheduled, status, last_status,
         started, success, next_start, runs, failures) = row  # fmt: skip
        last_ok = None if last_status is None else last_status == "Success"
        if streaks is not None:
            streak = streaks.get(int(job_id), 0)
        else:  # no counter table: all we know is whether the last run failed
            streak = 1 if last_ok is False else 0
        since, message = errors.get(int(job_id), (None, None))
        jobs.append(
            TimescaleJob(
                job_id=int(job_id),
                name=str(name),
                proc=str(proc),
                relation=relation,
                schedule_interval=interval,
                scheduled=bool(scheduled),
                running=status == "Running",
                last_run_ok=last_ok,
                consecutive_failures=streak,
                total_runs=int(runs),
                total_failures=int(failures),
                last_run_started=started,
                last_success=success,
                next_start=next_start,
                failing_since=since if last_ok is False else None,
                last_error=None if message is None else str(message),
            )
        )
    return jobs


def run_job(conn: psycopg.Connection[Any], job_id: int) -> None:
    """``CALL run_job(job_id)``: run a job in this session (``conn`` must be autocommit,
    the policies commit as they go)."""
    conn.execute("CALL run_job(%s)", (job_id,))
