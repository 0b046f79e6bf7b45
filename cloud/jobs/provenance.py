"""Provenance jobs: edge custody events into the ledger, and stock reconciliation.

``provenance.inbox`` drains ``custody_inbox`` (events the edge sent over MQTT) through
:func:`cloud.provenance.capture.process_inbox`: valid events are appended to the ledger
and applied to custody in one transaction; invalid ones are recorded with their schema
errors in ``custody_inbox_outcomes``, and so are events the gateway may not capture (an
EPC under another brand's prefix, a unit not shipped to its site's distributor, a place
that is not its site: :mod:`cloud.provenance.ownership`), with the reason; neither is ever
appended to the ledger. One run takes at most ``batch`` rows and keeps going
while full batches come back, so a backlog drains within one run. ``provenance.reconcile``
keeps ``stock_discrepancies`` so discrepancies have an age. ``provenance.passports``
recomputes unit passports after custody or channel changes, and those of units at a site
whose cold-chain exposure has grown old (:mod:`cloud.provenance.passports`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import lru_cache, partial
from typing import Annotated, Any

import psycopg
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.jobs.settings import SchedulerSettings
from cloud.provenance.capture import process_inbox
from cloud.provenance.passports import refresh_passports
from cloud.provenance.reconciliation import record_discrepancies
from cloud.scheduler import Job

__all__ = ["ProvenanceJobSettings", "drain_inbox", "provenance_jobs", "refresh_passports_job"]

_logger = logging.getLogger(__name__)

_Seconds = Annotated[float, Field(gt=0, le=86_400)]
#: Runs of one job call at most this many batches (then yields to the next tick).
_MAX_BATCHES_PER_RUN = 100


class ProvenanceJobSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CT_", extra="ignore")

    provenance_inbox_interval_s: _Seconds = 1.0
    provenance_inbox_batch: Annotated[int, Field(ge=1, le=10_000)] = 500
    provenance_reconcile_interval_s: _Seconds = 300.0
    # Unit passports (docs/provenance.md "Resolver"): recomputed after custody or channel
    # changes, and a unit's at a site when its cold-chain exposure is older than the age.
    provenance_passports_interval_s: _Seconds = 5.0
    provenance_passports_batch: Annotated[int, Field(ge=1, le=10_000)] = 500
    provenance_passports_exposure_age_s: _Seconds = 900.0


@lru_cache(maxsize=1)
def get_provenance_job_settings() -> ProvenanceJobSettings:
    return ProvenanceJobSettings()


def drain_inbox(batch: int, conn: psycopg.Connection[Any]) -> tuple[int, int]:
    """Process inbox batches until one comes back short; (accepted, rejected)."""
    accepted = rejected = 0
    for _ in range(_MAX_BATCHES_PER_RUN):
        run = process_inbox(conn, limit=batch)
        accepted, rejected = accepted + run.accepted, rejected + run.rejected
        if run.accepted + run.rejected < batch:
            break
    if accepted or rejected:
        _logger.info("custody inbox: %d accepted, %d rejected", accepted, rejected)
    return accepted, rejected


def _drain(batch: int, conn: psycopg.Connection[Any]) -> None:
    drain_inbox(batch, conn)


def _reconcile(conn: psycopg.Connection[Any]) -> None:
    record_discrepancies(conn)


def refresh_passports_job(batch: int, age_s: float, conn: psycopg.Connection[Any]) -> int:
    """Refresh passports until a run comes back short of ``batch``; how many."""
    done = 0
    for _ in range(_MAX_BATCHES_PER_RUN):
        run = refresh_passports(conn, limit=batch, exposure_age=timedelta(seconds=age_s))
        done += run.total
        if max(run.queued, run.channel, run.exposure) < batch:
            break
    return done


def _passports(batch: int, age_s: float, conn: psycopg.Connection[Any]) -> None:
    refresh_passports_job(batch, age_s, conn)


def provenance_jobs(settings: SchedulerSettings) -> list[Job]:
    del settings  # this package's intervals come from ProvenanceJobSettings (CT_PROVENANCE_*)
    own = get_provenance_job_settings()
    return [
        Job(
            "provenance.inbox",
            own.provenance_inbox_interval_s,
            partial(_drain, own.provenance_inbox_batch),
        ),
        Job("provenance.reconcile", own.provenance_reconcile_interval_s, _reconcile),
        Job(
            "provenance.passports",
            own.provenance_passports_interval_s,
            partial(_passports, own.provenance_passports_batch,
                    own.provenance_passports_exposure_age_s),
        ),
    ]
