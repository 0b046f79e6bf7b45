"""Storage maintenance jobs: partitions, rollups, retention, ingest gaps, and the health
of TimescaleDB's own jobs (:mod:`cloud.jobs.timescale`)."""

from __future__ import annotations

from functools import partial
from typing import Any

import psycopg

from cloud import storage
from cloud.jobs.timescale import TimescaleJobsCollector, TimescaleWatch
from cloud.scheduler import Job
from cloud.settings import SchedulerSection
from cloud.storage import partitions

__all__ = ["storage_jobs"]


def _ensure_partitions(days_ahead: int, conn: psycopg.Connection[Any]) -> None:
    backend = storage.backend_for(conn)
    if isinstance(backend, storage.PostgresBackend):
        partitions.ensure_partitions(conn, days_ahead=days_ahead)


def _refresh_rollups(conn: psycopg.Connection[Any]) -> None:
    storage.refresh_rollups(conn)


def _apply_retention(conn: psycopg.Connection[Any]) -> None:
    storage.apply_retention(conn)


def _detect_gaps(conn: psycopg.Connection[Any]) -> None:
    storage.detect_gaps(conn)


def storage_jobs(settings: SchedulerSection) -> list[Job]:
    return [
        Job(
            "storage.partitions",
            settings.partitions_interval_s,
            partial(_ensure_partitions, settings.partitions_days_ahead),
        ),
        Job("storage.rollups", settings.rollups_interval_s, _refresh_rollups),
        Job("storage.retention", settings.retention_interval_s, _apply_retention),
        Job("storage.gaps", settings.gaps_interval_s, _detect_gaps),
        _timescale_jobs(settings),
    ]


def _timescale_jobs(settings: SchedulerSection) -> Job:
    interval = settings.timescale_jobs_interval_s
    watch = TimescaleWatch(foreground=settings.timescale_foreground_policies)
    # Three missed reads: the replica stopped leading (or the job is stuck); stop reporting.
    collector = TimescaleJobsCollector(watch, stale_after_s=3 * interval)
    return Job("storage.timescale_jobs", interval, watch.run, collector=collector)
