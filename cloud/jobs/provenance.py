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
from functools import partial
from typing import Any

import psycopg

from cloud.provenance.capture import process_inbox
from cloud.provenance.passports import refresh_passports
from cloud.provenance.reconciliation import record_discrepancies
from cloud.scheduler import Job
from cloud.settings import ProvenanceJobSection

__all__ = ["drain_inbox", "provenance_jobs", "refresh_passports_job"]

_logger = logging.getLogger(__name__)

#: Runs of one job call at most this many batches (then yields to the next tick).
_MAX_BATCHES_PER_RUN = 100


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


def provenance_jobs(settings: ProvenanceJobSection) -> list[Job]:
    return [
        Job(
            "provenance.inbox",
            settings.provenance_inbox_interval_s,
            partial(_drain, settings.provenance_inbox_batch),
        ),
        Job("provenance.reconcile", settings.provenance_reconcile_interval_s, _reconcile),
        Job(
            "provenance.passports",
            settings.provenance_passports_interval_s,
            partial(_passports, settings.provenance_passports_batch,
                    settings.provenance_passports_exposure_age_s),
        ),
    ]
