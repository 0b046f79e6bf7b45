"""The ledger's periodic jobs: checkpoints and anchoring, for the scheduler.

The hourly audit runs as ``alerts.ledger_audit`` (cloud/jobs/alerts.py), which records each
run so that a failure raises an alert.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import psycopg

from cloud.scheduler import Job
from ledger.service.settings import LedgerSection

__all__ = ["ledger_jobs"]

_logger = logging.getLogger(__name__)


def _checkpoint(settings: LedgerSection, conn: psycopg.Connection[Any]) -> None:
    from ledger.service.jobs import make_checkpoint
    from ledger.service.keys import load_log_key

    made = make_checkpoint(conn, load_log_key(settings))
    if made is not None:
        _logger.info("signed checkpoint at size %d", made.size)


def _anchor(settings: LedgerSection, conn: psycopg.Connection[Any]) -> None:
    from ledger.service.anchor import Web3Anchorer
    from ledger.service.jobs import anchor_latest
    from ledger.service.keys import load_anchor_private_key

    if settings.eth_rpc_url is None or settings.ledger_contract is None:
        return
    anchorer = Web3Anchorer(
        settings.eth_rpc_url, settings.ledger_contract, load_anchor_private_key(settings)
    )
    outcome = anchor_latest(conn, anchorer)
    _logger.info("anchoring: %s", outcome)


def ledger_jobs(settings: LedgerSection) -> list[Job]:
    jobs = [
        Job(
            "ledger.checkpoint",
            settings.ledger_checkpoint_interval_seconds,
            partial(_checkpoint, settings),
        ),
    ]
    if settings.eth_rpc_url is not None and settings.ledger_contract is not None:
        anchor = partial(_anchor, settings)
        jobs.append(Job("ledger.anchor", settings.ledger_anchor_interval_seconds, anchor))
    else:
        _logger.warning("CT_ETH_RPC_URL or CT_LEDGER_CONTRACT unset: checkpoints are not anchored")
    return jobs
