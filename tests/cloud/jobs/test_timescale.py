"""The ``storage.timescale_jobs`` job's state and its Prometheus collector (pure; on a
real failing TimescaleDB: tests/cloud/storage/test_job_health.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest

from cloud.jobs import build_jobs
from cloud.jobs.timescale import TimescaleJobsCollector, TimescaleWatch
from cloud.scheduler_metrics import SchedulerMetrics
from cloud.settings import Settings
from cloud.storage.job_health import TimescaleJob, due_for_foreground_run, failing

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
JOB = TimescaleJob(
    job_id=1003, name="Retention Policy [1003]", proc="policy_retention", relation="readings",
    schedule_interval=timedelta(days=1), scheduled=True, running=False, last_run_ok=False,
    consecutive_failures=3, total_runs=5, total_failures=3,
    last_run_started=NOW - timedelta(hours=1), last_success=NOW - timedelta(days=3),
    next_start=NOW + timedelta(hours=2), failing_since=NOW - timedelta(days=2),
    last_error="boom",
)  # fmt: skip
LABELS = 'job_id="1003",proc="policy_retention",relation="readings"'


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def value(text: str, series: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(series + " ")]
    return float(line.rsplit(" ", 1)[1])


def scrape(collector: TimescaleJobsCollector) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


def test_failing_means_scheduled_last_run_failed_and_a_streak() -> None:
    assert failing([JOB]) == [JOB]
    assert failing([replace(JOB, consecutive_failures=2)]) == []
    assert failing([replace(JOB, last_run_ok=None)]) == []  # never ran
    assert failing([replace(JOB, scheduled=False)]) == []


def test_a_failing_job_is_run_in_the_foreground_once_per_schedule_interval() -> None:
    assert due_for_foreground_run(JOB, None, NOW)
    assert not due_for_foreground_run(JOB, NOW - timedelta(hours=23), NOW)
    assert due_for_foreground_run(JOB, NOW - timedelta(days=1), NOW)
    assert not due_for_foreground_run(replace(JOB, running=True), None, NOW)
    assert not due_for_foreground_run(replace(JOB, scheduled=False), None, NOW)


def test_the_collector_reports_the_latest_snapshot_until_it_goes_stale() -> None:
    clock = Clock()
    watch = TimescaleWatch(clock=clock)
    collector = TimescaleJobsCollector(watch, stale_after_s=180, clock=clock)
    assert scrape(collector) == ""  # nothing read yet (not the leader, or not started)

    watch.publish([JOB, replace(JOB, job_id=7, scheduled=False)])
    text = scrape(collector)
    assert "ct_timescaledb_jobs_checked_timestamp_seconds 1000.0" in text
    assert f"ct_timescaledb_job_consecutive_failures{{{LABELS}}} 3.0" in text
    assert f"ct_timescaledb_job_last_run_success{{{LABELS}}} 0.0" in text
    assert f"ct_timescaledb_job_running{{{LABELS}}} 0.0" in text
    assert value(text, f"ct_timescaledb_job_next_start_timestamp_seconds{{{LABELS}}}") == (
        (NOW + timedelta(hours=2)).timestamp()
    )
    assert f"ct_timescaledb_job_failures_total{{{LABELS}}} 3.0" in text
    assert 'job_id="7"' not in text  # paused on purpose: not reported

    clock.now += 181  # three missed reads: this replica stopped leading
    assert scrape(collector) == ""


def test_the_scheduler_registers_the_jobs_collectors() -> None:
    jobs = build_jobs(Settings())
    [watcher] = [job for job in jobs if job.name == "storage.timescale_jobs"]
    assert watcher.collector is not None
    metrics = SchedulerMetrics.create(
        (job.name for job in jobs),
        collectors=[job.collector for job in jobs if job.collector is not None],
    )
    assert isinstance(watcher.collector, TimescaleJobsCollector)
    watch_text = generate_latest(metrics.registry).decode()
    assert 'ct_scheduler_job_runs_total{job="storage.timescale_jobs"} 0.0' in watch_text
