"""The ledger's periodic jobs: checkpoints, anchoring and the audit, for the scheduler."""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from cloud.jobs.settings import SchedulerSettings
from cloud.scheduler import Job

__all__ = ["ledger_jobs"]

_logger = logging.getLogger(__name__)
_AUDIT_INTERVAL_S = 3600.0


def _checkpoint(conn: psycopg.Connection[Any]) -> None:
    from ledger.jobs import make_checkpoint
    from ledger.keys import load_log_key
    from ledger.settings import get_settings

    made = make_checkpoint(conn, load_log_key(get_settings()))
    if made is not None:
        _logger.info("signed checkpoint at size %d", made.size)


def _anchor(conn: psycopg.Connection[Any]) -> None:
    from ledger.anchor import Web3Anchorer
    from ledger.jobs import anchor_latest
    from ledger.keys import load_anchor_private_key
    from ledger.settings import get_settings

    settings = get_settings()
    if settings.eth_rpc_url is None or settings.ledger_contract is None:
        return
    anchorer = Web3Anchorer(
        settings.eth_rpc_url, settings.ledger_contract, load_anchor_private_key(settings)
    )
    outcome = anchor_latest(conn, anchorer)
    _logger.info("anchoring: %s", outcome)


def _audit(conn: psycopg.Connection[Any]) -> None:
    from ledger.jobs import audit
    from ledger.keys import load_log_key
    from ledger.settings import get_settings

    report = audit(conn, load_log_key(get_settings()).verifier())
    if not report.ok:
        # Alerts (issue 7) will raise these; until then the log carries them.
        for finding in report.findings:
            _logger.error("ledger audit finding: %s", finding)


def ledger_jobs(settings: SchedulerSettings) -> list[Job]:
    from ledger.settings import get_settings

    ledger = get_settings()
    jobs = [
        Job("ledger.checkpoint", ledger.ledger_checkpoint_interval_seconds, _checkpoint),
        Job("ledger.audit", _AUDIT_INTERVAL_S, _audit),
    ]
    if ledger.eth_rpc_url is not None and ledger.ledger_contract is not None:
        jobs.append(Job("ledger.anchor", ledger.ledger_anchor_interval_seconds, _anchor))
    else:
        _logger.warning("CT_ETH_RPC_URL or CT_LEDGER_CONTRACT unset: checkpoints are not anchored")
    return jobs
