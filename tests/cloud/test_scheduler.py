"""Scheduler leader election on a real PostgreSQL: one leader, fail-over, failing jobs.

Two schedulers in this process stand for two replicas: each has its own connections, so
PostgreSQL sees two independent sessions, as it would from two machines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from cloud.errors import SchedulerError
from cloud.jobs import build_jobs
from cloud.jobs.ledger import ledger_jobs
from cloud.jobs.storage import storage_jobs
from cloud.scheduler import Job, Scheduler
from cloud.settings import Settings

pytestmark = pytest.mark.integration

RETRY_S = 0.2
WAIT_S = 30.0  # generous upper bound for polling, never asserted as a duration


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


class Recorder:
    def __init__(self) -> None:
        self.runs: dict[str, int] = {}
        self._lock = threading.Lock()

    def job(self, owner: str) -> Job:
        def run(conn: psycopg.Connection[Any]) -> None:
            conn.execute("SELECT 1")
            with self._lock:
                self.runs[owner] = self.runs.get(owner, 0) + 1

        return Job("record", 0.05, run)


@pytest.fixture
def schedulers(database_url: str) -> Iterator[list[Scheduler]]:
    made: list[Scheduler] = []
    yield made
    for s in made:
        s.stop()


def test_one_leader_runs_jobs_and_another_takes_over(
    database_url: str, schedulers: list[Scheduler]
) -> None:
    rec = Recorder()
    a = Scheduler(database_url, [rec.job("a")], leader_retry_s=RETRY_S, name="a")
    b = Scheduler(database_url, [rec.job("b")], leader_retry_s=RETRY_S, name="b")
    schedulers += [a, b]
    a.start()
    b.start()
    wait_for(lambda: rec.runs.get("a", 0) + rec.runs.get("b", 0) >= 10, "jobs to run")
    leader, follower = (a, b) if a.is_leader else (b, a)
    assert leader.is_leader
    assert not follower.is_leader
    assert set(rec.runs) == {leader.name}
    assert follower.stats["record"].skipped_not_leader > 0

    # Kill the leader's lock session from outside (as a crash or network cut would).
    pid = leader.lock_backend_pid
    assert pid is not None
    elections_before = follower.elections
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wait_for(lambda: follower.is_leader, "the follower to take over")
    # It took the lock at its next election attempt or the one after (the old session's
    # exit may still be in progress at the first): within one retry interval of the kill.
    assert follower.elections - elections_before <= 2
    wait_for(lambda: rec.runs.get(follower.name, 0) >= 3, "the new leader's jobs")
    # The old leader noticed at its next tick and stays a follower while the lock is held.
    wait_for(lambda: not leader.is_leader, "the old leader to step down")


def test_stopping_the_leader_hands_over(database_url: str, schedulers: list[Scheduler]) -> None:
    rec = Recorder()
    a = Scheduler(database_url, [rec.job("a")], leader_retry_s=RETRY_S, name="a")
    b = Scheduler(database_url, [rec.job("b")], leader_retry_s=RETRY_S, name="b")
    schedulers += [a, b]
    a.start()
    wait_for(lambda: a.is_leader, "a to lead")
    b.start()
    a.stop()
    wait_for(lambda: b.is_leader, "b to lead after a stopped")
    wait_for(lambda: rec.runs.get("b", 0) >= 2, "b's jobs")
    assert not a.is_leader


def test_a_failing_job_is_logged_and_others_keep_running(
    database_url: str, schedulers: list[Scheduler], caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()

    def boom(conn: psycopg.Connection[Any]) -> None:
        conn.execute("SELECT 1 / 0")

    s = Scheduler(
        database_url, [Job("boom", 0.05, boom), rec.job("s")], leader_retry_s=RETRY_S, name="s"
    )
    schedulers.append(s)
    with caplog.at_level(logging.ERROR, logger="cloud.scheduler"):
        s.start()
        wait_for(lambda: s.stats["boom"].failures >= 3, "the failing job to run three times")
        wait_for(lambda: rec.runs.get("s", 0) >= 3, "the healthy job")
    assert any("job boom failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_jobs_need_unique_names(database_url: str) -> None:
    job = Job("x", 1.0, lambda conn: None)
    with pytest.raises(SchedulerError, match="unique"):
        Scheduler(database_url, [job, job])
    with pytest.raises(SchedulerError, match="interval_s"):
        Job("y", 0, lambda conn: None)


@pytest.mark.both_backends
def test_storage_jobs_run_on_the_leader(database_url: str, schedulers: list[Scheduler]) -> None:
    from cloud.migrate import migrate

    migrate(database_url)
    jobs = build_jobs(Settings(database_url=database_url), factories=(storage_jobs,))
    assert [j.name for j in jobs] == [
        "storage.partitions", "storage.rollups", "storage.retention", "storage.gaps",
        "storage.timescale_jobs",
    ]  # fmt: skip
    s = Scheduler(database_url, jobs, leader_retry_s=RETRY_S)
    schedulers.append(s)
    s.start()
    wait_for(lambda: s.is_leader, "leadership")
    for job in jobs:
        assert s.run_now(job.name)
        assert s.stats[job.name].failures == 0, job.name


def test_ledger_jobs_are_registered_and_run_on_the_leader(
    database_url: str, schedulers: list[Scheduler], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cloud.migrate import migrate

    monkeypatch.delenv("CT_ETH_RPC_URL", raising=False)
    migrate(database_url)
    names = [j.name for j in build_jobs(Settings(database_url=database_url))]
    # Without a chain configured, checkpoints are still signed and audited, not anchored.
    assert "ledger.checkpoint" in names
    assert "alerts.ledger_audit" in names  # the audit records its runs for the alert rule
    assert "ledger.anchor" not in names
    jobs = ledger_jobs(Settings(database_url=database_url))
    s = Scheduler(database_url, jobs, leader_retry_s=RETRY_S)
    schedulers.append(s)
    s.start()
    wait_for(lambda: s.is_leader, "leadership")
    for job in jobs:
        assert s.run_now(job.name)
        assert s.stats[job.name].failures == 0, job.name
