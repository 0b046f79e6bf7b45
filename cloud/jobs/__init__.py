"""The scheduler's job registry: every periodic job of the cloud, in one list.

Packages contribute jobs through a factory ``(Settings) -> list[Job]`` added to
``FACTORIES`` (ledger checkpoints and anchoring, alert rules, ...); ``build_jobs`` calls
them all. A factory may take just the sections of :class:`cloud.settings.Settings` it
reads (``SchedulerSection``, ``LedgerSection``, ...). Jobs must be idempotent: see
:mod:`cloud.scheduler`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cloud.jobs.alerts import alerts_jobs
from cloud.jobs.ledger import ledger_jobs
from cloud.jobs.provenance import provenance_jobs
from cloud.jobs.storage import storage_jobs
from cloud.scheduler import Job
from cloud.settings import Settings

__all__ = ["FACTORIES", "build_jobs"]

JobFactory = Callable[[Settings], list[Job]]

FACTORIES: Sequence[JobFactory] = (storage_jobs, ledger_jobs, provenance_jobs, alerts_jobs)


def build_jobs(settings: Settings, factories: Sequence[JobFactory] = FACTORIES) -> list[Job]:
    """All jobs from ``factories``, in order (job names must be unique across them)."""
    return [job for factory in factories for job in factory(settings)]
