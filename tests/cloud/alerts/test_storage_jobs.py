"""The ``storage_job_failing`` rule core: TimescaleDB jobs that keep failing (pure; the
real failing build is in tests/cloud/storage/test_job_health.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cloud.alerts.model import AlertKind, Severity
from cloud.alerts.rules.storage import storage_job_conditions
from cloud.storage.job_health import TimescaleJob

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PORTAL = 'cannot drop portal "" while it is being set up'

REFRESH = TimescaleJob(
    job_id=1000, name="Refresh Continuous Aggregate Policy [1000]",
    proc="policy_refresh_continuous_aggregate", relation="readings_1m",
    schedule_interval=timedelta(minutes=1), scheduled=True, running=False,
    last_run_ok=False, consecutive_failures=4, total_runs=9, total_failures=4,
    last_run_started=NOW - timedelta(minutes=1), last_success=NOW - timedelta(minutes=20),
    next_start=NOW + timedelta(minutes=3), failing_since=NOW - timedelta(minutes=15),
    last_error=PORTAL,
)  # fmt: skip
COMPRESS = replace(
    REFRESH, job_id=1002, name="Columnstore Policy [1002]", proc="policy_compression",
    relation="readings", consecutive_failures=1, failing_since=NOW - timedelta(hours=2),
)  # fmt: skip


def test_one_condition_per_tenant_lists_the_failing_jobs() -> None:
    found = storage_job_conditions([REFRESH, COMPRESS], ["acme", "brand"], now=NOW)

    assert [c.tenant_id for c in found] == ["acme", "brand"]
    c = found[0]
    assert (c.kind, c.key, c.severity) == (
        AlertKind.STORAGE_JOB_FAILING, "timescaledb-jobs", Severity.WARNING,
    )  # fmt: skip
    assert c.summary == (
        "1 TimescaleDB job(s) keep failing: policy_refresh_continuous_aggregate on readings_1m"
        f" ({PORTAL})"
    )
    assert c.since == REFRESH.failing_since  # the compression job (1 failure) is not failing
    assert [e["job_id"] for e in c.evidence] == [1000]
    assert c.evidence[0]["last_error"] == PORTAL
    assert c.details["jobs"] == ["policy_refresh_continuous_aggregate on readings_1m"]


def test_nothing_while_failures_are_few_paused_or_recovered() -> None:
    tenants = ["acme"]
    assert storage_job_conditions([], tenants, now=NOW) == []
    two = replace(REFRESH, consecutive_failures=2)
    assert storage_job_conditions([two], tenants, now=NOW) == []
    assert storage_job_conditions([replace(REFRESH, scheduled=False)], tenants, now=NOW) == []
    recovered = replace(REFRESH, last_run_ok=True, consecutive_failures=0, failing_since=None)
    assert storage_job_conditions([recovered], tenants, now=NOW) == []
    assert storage_job_conditions([two], tenants, now=NOW, in_a_row=2) != []


def test_a_job_that_never_succeeded_starts_its_episode_at_its_first_failure() -> None:
    unknown = replace(REFRESH, failing_since=None, last_success=None)
    [c] = storage_job_conditions([unknown], ["acme"], now=NOW)
    assert c.since == REFRESH.last_run_started
    [c] = storage_job_conditions([replace(unknown, last_run_started=None)], ["acme"], now=NOW)
    assert c.since == NOW
