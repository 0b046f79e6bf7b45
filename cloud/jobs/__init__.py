"""The scheduler's job registry: every periodic job of the cloud, in one list.

Packages contribute jobs through a factory ``(SchedulerSettings) -> list[Job]`` added to
``FACTORIES`` (ledger checkpoints and anchoring, alert rules, ...); ``build_jobs`` calls
them all. Jobs must be idempotent: see :mod:`cloud.scheduler`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cloud.jobs.alerts import alerts_jobs
from cloud.jobs.ledger import ledger_jobs
from cloud.jobs.provenance import provenance_jobs
from cloud.jobs.settings import SchedulerSettings, get_scheduler_settings
from cloud.jobs.storage import storage_jobs
from cloud.scheduler import Job

__all__ = ["FACTORIES", "SchedulerSettings", "build_jobs", "get_scheduler_settings"]

JobFactory = Callable[[SchedulerSettings], list[Job]]

FACTORIES: Sequence[JobFactory] = (storage_jobs, ledger_jobs, provenance_jobs, alerts_jobs)


def build_jobs(
    settings: SchedulerSettings, factories: Sequence[JobFactory] = FACTORIES
) -> list[Job]:
    """All jobs from ``factories``, in order (job names must be unique across them)."""
    return [job for factory in factories for job in factory(settings)]
