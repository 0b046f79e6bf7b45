"""Scheduler metrics: the observer's arithmetic, then a real scheduler scraped over HTTP."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from cloud.metrics import serve_metrics
from cloud.scheduler import Job, Scheduler
from cloud.scheduler_metrics import SchedulerMetrics

WAIT_S = 30.0  # upper bound for polling, never asserted as a duration


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_job_series_start_at_zero_for_every_job() -> None:
    metrics = SchedulerMetrics.create(["a", "b"], CollectorRegistry())
    for job in ("a", "b"):
        assert sample(metrics.registry, "ct_scheduler_job_runs_total", job=job) == 0
        assert sample(metrics.registry, "ct_scheduler_job_failures_total", job=job) == 0
    assert sample(metrics.registry, "ct_scheduler_leader") == 0


def test_runs_failures_duration_and_last_success() -> None:
    now = [1_000.0]
    metrics = SchedulerMetrics.create(["a"], CollectorRegistry(), clock=lambda: now[0])
    metrics.job_finished("a", 0.25, ok=True)
    now[0] = 2_000.0
    metrics.job_finished("a", 1.5, ok=False)
    reg = metrics.registry
    assert sample(reg, "ct_scheduler_job_runs_total", job="a") == 2
    assert sample(reg, "ct_scheduler_job_failures_total", job="a") == 1
    assert sample(reg, "ct_scheduler_job_last_duration_seconds", job="a") == 1.5
    # A failure leaves the last success where it was.
    assert sample(reg, "ct_scheduler_job_last_success_timestamp_seconds", job="a") == 1_000.0


def test_leader_gauge_follows_leadership() -> None:
    metrics = SchedulerMetrics.create(registry=CollectorRegistry())
    metrics.leadership(True)
    assert sample(metrics.registry, "ct_scheduler_leader") == 1
    metrics.leadership(False)
    assert sample(metrics.registry, "ct_scheduler_leader") == 0


# ------------------------------------------------------------------ integration


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def metrics_server() -> Iterator[tuple[SchedulerMetrics, int]]:
    metrics = SchedulerMetrics.create(["ok", "boom"], CollectorRegistry())
    server = serve_metrics(metrics.registry, 0)
    yield metrics, server.server_port
    server.shutdown()
    server.server_close()


@pytest.mark.integration
def test_a_real_scheduler_exports_leadership_and_job_counters(
    database_url: str, metrics_server: tuple[SchedulerMetrics, int]
) -> None:
    metrics, port = metrics_server

    def ok(conn: psycopg.Connection[Any]) -> None:
        conn.execute("SELECT 1")

    def boom(conn: psycopg.Connection[Any]) -> None:
        conn.execute("SELECT 1 / 0")

    scheduler = Scheduler(
        database_url,
        [Job("ok", 0.05, ok), Job("boom", 0.05, boom)],
        leader_retry_s=0.2,
        observer=metrics,
    )
    scheduler.start()
    try:

        def moved() -> bool:
            got = scrape(port)
            return (
                got[("ct_scheduler_job_runs_total", (("job", "ok"),))] >= 3
                and got[("ct_scheduler_job_failures_total", (("job", "boom"),))] >= 3
            )

        wait_for(moved, "job counters to move on /metrics")
        got = scrape(port)
        assert got[("ct_scheduler_leader", ())] == 1
        assert got[("ct_scheduler_job_failures_total", (("job", "ok"),))] == 0
        assert got[("ct_scheduler_job_last_success_timestamp_seconds", (("job", "ok"),))] > 0
        assert ("ct_scheduler_job_last_success_timestamp_seconds", (("job", "boom"),)) not in got
        assert got[("ct_scheduler_job_last_duration_seconds", (("job", "boom"),))] >= 0
    finally:
        scheduler.stop()
    assert scrape(port)[("ct_scheduler_leader", ())] == 0
