"""TimescaleDB's own jobs failing in the background, on a real server with its job
scheduler running: the ``storage_job_failing`` alert, the Prometheus metrics, and the
scheduler running the failing policy in the foreground.

On PostgreSQL 15.20 with TimescaleDB 2.28.3 (the build of tests/plugins/timescale.py)
every background run ends with ``cannot drop portal "" while it is being set up`` after
committing its work; the tests make the rollup refresh policy run every second so that
it fails three times in a row within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from channeltrace.services import Postgres
from cloud.alerts import AlertKind, default_rules, evaluate
from cloud.jobs.timescale import TimescaleJobsCollector, TimescaleWatch
from cloud.migrate import migrate
from cloud.settings import Settings
from cloud.storage.job_health import TimescaleJob, failing, read_jobs
from tests.cloud.storage._data import copy_readings, minute_series, seed

pytestmark = pytest.mark.integration

_WAIT_S = 120.0  # generous: the scheduler starts, then the job fails once per second


def refresh_job(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT job_id FROM timescaledb_information.jobs"
        " WHERE proc_name = 'policy_refresh_continuous_aggregate'"
        " AND hypertable_name = 'readings_1m'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def wait_for_verdict(conn: psycopg.Connection[Any], job_id: int) -> TimescaleJob:
    """Until the job failed three times in a row, or succeeded in the background."""
    deadline = time.monotonic() + _WAIT_S
    while True:
        [job] = [j for j in read_jobs(conn) if j.job_id == job_id]
        if failing([job]) or job.last_run_ok:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still undecided: {job}"
        time.sleep(0.2)


def wait_until_quiet(conn: psycopg.Connection[Any], job_id: int) -> None:
    """Until a run started before the job was rescheduled has finished: not running, and
    no new run across more than the old one-second interval."""
    deadline = time.monotonic() + _WAIT_S
    previous = -1
    while True:
        [job] = [j for j in read_jobs(conn) if j.job_id == job_id]
        if not job.running and job.total_runs == previous:
            return
        assert time.monotonic() < deadline, f"job {job_id} keeps running: {job}"
        previous = -1 if job.running else job.total_runs
        time.sleep(1.5)


@pytest.fixture
def failing_refresh(
    make_timescale: Callable[..., Postgres],
) -> tuple[str, int, TimescaleJob]:
    """A TimescaleDB with background jobs whose readings_1m refresh policy runs every
    second; returns (url, job id, the job once it has failed three times in a row)."""
    server = make_timescale(background_jobs=True)
    url = server.create_database("ct_jobs")
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        seed(conn)
        job_id = refresh_job(conn)
        conn.execute(
            "SELECT alter_job(%s, schedule_interval => INTERVAL '1 second',"
            " retry_period => INTERVAL '1 second', next_start => now())",
            (job_id,),
        )
        job = wait_for_verdict(conn, job_id)
    if job.last_run_ok:
        pytest.skip(
            "background jobs succeed on this TimescaleDB build (the PostgreSQL 15.20 failure"
            " is fixed): the alert's rule is covered by tests/cloud/alerts/test_storage_jobs.py"
        )
    return url, job_id, job


def test_a_policy_failing_in_the_background_raises_the_alert(
    failing_refresh: tuple[str, int, TimescaleJob],
) -> None:
    url, job_id, job = failing_refresh
    assert job.consecutive_failures >= 3
    assert job.last_error  # on 15.20: cannot drop portal "" while it is being set up
    assert job.failing_since is not None

    with psycopg.connect(url, autocommit=True) as conn:
        results = evaluate(conn, default_rules(Settings(), anchor_interval=None))
        assert len(results[AlertKind.STORAGE_JOB_FAILING].opened) == 1
        row = conn.execute(
            "SELECT tenant_id, severity, summary, evidence FROM alerts"
            " WHERE kind = 'storage_job_failing' AND state = 'open'"
        ).fetchone()
    assert row is not None
    tenant, severity, summary, evidence = row
    assert (tenant, severity) == ("brand", "warning")
    assert "policy_refresh_continuous_aggregate on readings_1m" in summary
    assert job.last_error in summary
    mine = [e for e in evidence if e["job_id"] == job_id]
    assert len(mine) == 1
    assert mine[0]["consecutive_failures"] >= 3


def test_the_scheduler_exports_job_health_and_runs_the_failing_policy_itself(
    failing_refresh: tuple[str, int, TimescaleJob],
) -> None:
    url, job_id, _ = failing_refresh
    with psycopg.connect(url, autocommit=True) as conn:
        # Keep the background scheduler away from the job for an hour: whatever refreshes
        # readings_1m now is the scheduler's foreground run. Its statistics still say
        # "failed three times in a row".
        conn.execute(
            "SELECT alter_job(%s, schedule_interval => INTERVAL '1 minute',"
            " next_start => now() + INTERVAL '1 hour')",
            (job_id,),
        )
        wait_until_quiet(conn, job_id)
        start = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0)
        copy_readings(conn, minute_series(start, minutes=30))
        assert conn.execute("SELECT count(*) FROM readings_1m").fetchone() == (0,)

        watch = TimescaleWatch(foreground="failing")
        watch.run(conn)
        assert conn.execute("SELECT count(*) FROM readings_1m").fetchone() == (30,)
        watch.run(conn)  # not due again within the job's schedule interval
        runs, run_failures = watch.foreground_counts()

    key = (str(job_id), "policy_refresh_continuous_aggregate", "readings_1m")
    assert runs[key] == 1
    assert run_failures == {}
    registry = CollectorRegistry()
    registry.register(TimescaleJobsCollector(watch, stale_after_s=180))
    text = generate_latest(registry).decode()
    labels = f'job_id="{job_id}",proc="policy_refresh_continuous_aggregate",relation="readings_1m"'
    streak = [
        line for line in text.splitlines()
        if line.startswith(f"ct_timescaledb_job_consecutive_failures{{{labels}}}")
    ]  # fmt: skip
    assert len(streak) == 1
    assert float(streak[0].rsplit(" ", 1)[1]) >= 3
    assert f"ct_timescaledb_job_last_run_success{{{labels}}} 0.0" in text
    assert f"ct_timescaledb_job_foreground_runs_total{{{labels}}} 1.0" in text
    assert "ct_timescaledb_jobs_checked_timestamp_seconds " in text
