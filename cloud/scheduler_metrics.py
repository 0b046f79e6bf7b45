"""Prometheus metrics of a scheduler replica: leadership and per-job runs.

A :class:`SchedulerMetrics` is the :class:`cloud.scheduler.SchedulerObserver` of one
``channeltrace cloud scheduler`` process; the CLI serves its registry on ``CT_METRICS_PORT``.
Every replica exports ``ct_scheduler_leader`` (1 on the one holding the advisory lock, 0 on
the others), so ``sum(ct_scheduler_leader)`` is 1 in a healthy deployment. Job series exist
from the start (at 0) for every job name given, so ``increase(...)`` sees a job's first
failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.registry import Collector

__all__ = ["SchedulerMetrics"]


@dataclass(frozen=True, slots=True)
class SchedulerMetrics:
    """The scheduler's instruments, registered in ``registry``."""

    registry: CollectorRegistry
    leader: Gauge
    runs: Counter
    failures: Counter
    last_duration: Gauge
    last_success: Gauge
    clock: Callable[[], float] = field(default=time.time)

    @classmethod
    def create(
        cls,
        jobs: Iterable[str] = (),
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
        collectors: Iterable[Collector] = (),
    ) -> SchedulerMetrics:
        """``collectors``: the jobs' own metrics (:attr:`cloud.scheduler.Job.collector`)."""
        reg = registry if registry is not None else CollectorRegistry()
        metrics = cls(
            registry=reg,
            leader=Gauge(
                "ct_scheduler_leader",
                "1 while this replica holds the leader lock and runs the jobs, else 0.",
                registry=reg,
            ),
            runs=Counter(
                "ct_scheduler_job_runs",
                "Job runs on this replica (as leader).",
                ["job"],
                registry=reg,
            ),
            failures=Counter(
                "ct_scheduler_job_failures",
                "Job runs that raised (the job runs again at its next interval).",
                ["job"],
                registry=reg,
            ),
            last_duration=Gauge(
                "ct_scheduler_job_last_duration_seconds",
                "Duration of the job's last run on this replica, successful or not.",
                ["job"],
                registry=reg,
            ),
            last_success=Gauge(
                "ct_scheduler_job_last_success_timestamp_seconds",
                "Unix time at which the job's last successful run on this replica ended.",
                ["job"],
                registry=reg,
            ),
            clock=clock,
        )
        for name in jobs:
            metrics.runs.labels(job=name)
            metrics.failures.labels(job=name)
        for collector in collectors:
            reg.register(collector)
        return metrics

    # SchedulerObserver

    def leadership(self, is_leader: bool) -> None:
        self.leader.set(1 if is_leader else 0)

    def job_finished(self, name: str, seconds: float, ok: bool) -> None:
        self.runs.labels(job=name).inc()
        self.last_duration.labels(job=name).set(seconds)
        if ok:
            self.last_success.labels(job=name).set(self.clock())
        else:
            self.failures.labels(job=name).inc()
