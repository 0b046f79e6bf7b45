"""The ledger's periodic jobs: checkpoints and anchoring, for the scheduler.

The hourly audit runs as ``alerts.ledger_audit`` (cloud/jobs/alerts.py), which records each
run so that a failure raises an alert.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from cloud.jobs.settings import SchedulerSettings
from cloud.scheduler import Job

__all__ = ["ledger_jobs"]

_logger = logging.getLogger(__name__)


def _checkpoint(conn: psycopg.Connection[Any]) -> None:
    from ledger.service.jobs import make_checkpoint
    from ledger.service.keys import load_log_key
    from ledger.service.settings import get_settings

    made = make_checkpoint(conn, load_log_key(get_settings()))
    if made is not None:
        _logger.info("signed checkpoint at size %d", made.size)


def _anchor(conn: psycopg.Connection[Any]) -> None:
    from ledger.service.anchor import Web3Anchorer
    from ledger.service.jobs import anchor_latest
    from ledger.service.keys import load_anchor_private_key
    from ledger.service.settings import get_settings

    settings = get_settings()
    if settings.eth_rpc_url is None or settings.ledger_contract is None:
        return
    anchorer = Web3Anchorer(
        settings.eth_rpc_url, settings.ledger_contract, load_anchor_private_key(settings)
    )
    outcome = anchor_latest(conn, anchorer)
    _logger.info("anchoring: %s", outcome)


def ledger_jobs(settings: SchedulerSettings) -> list[Job]:
    from ledger.service.settings import get_settings

    ledger = get_settings()
    jobs = [
        Job("ledger.checkpoint", ledger.ledger_checkpoint_interval_seconds, _checkpoint),
    ]
    if ledger.eth_rpc_url is not None and ledger.ledger_contract is not None:
        jobs.append(Job("ledger.anchor", ledger.ledger_anchor_interval_seconds, _anchor))
    else:
        _logger.warning("CT_ETH_RPC_URL or CT_LEDGER_CONTRACT unset: checkpoints are not anchored")
    return jobs
