"""The alerts' periodic jobs: evaluate the rules, deliver webhooks, audit the ledger."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import Any

import httpx
import psycopg

from cloud.alerts import DeliveryPolicy, default_rules, deliver, evaluate
from cloud.scheduler import Job
from cloud.settings import AlertSection, LedgerSection, Settings

__all__ = ["alerts_jobs", "delivery_policy"]

_logger = logging.getLogger(__name__)


def delivery_policy(settings: AlertSection) -> DeliveryPolicy:
    return DeliveryPolicy(
        timeout_s=settings.alerts_webhook_timeout_s,
        max_attempts=settings.alerts_webhook_max_attempts,
        backoff_base=settings.alerts_webhook_backoff_base,
        backoff_max=settings.alerts_webhook_backoff_max,
        allow_private=settings.private_webhooks_allowed,
    )


def _anchor_interval(ledger: LedgerSection) -> timedelta | None:
    if ledger.eth_rpc_url is None or ledger.ledger_contract is None:
        return None
    return timedelta(seconds=ledger.ledger_anchor_interval_seconds)


def _ledger_audit(ledger: LedgerSection, conn: psycopg.Connection[Any]) -> None:
    from cloud.alerts.ledger_audit import record_audit
    from ledger.service.jobs import audit
    from ledger.service.keys import load_log_key

    report = audit(conn, load_log_key(ledger).verifier())
    record_audit(conn, report)
    if not report.ok:
        _logger.error("ledger audit: %d finding(s)", len(report.findings))
        for finding in report.findings[:20]:  # all of them are in ledger_audit_runs
            _logger.error("ledger audit finding: %s", finding)


def alerts_jobs(settings: Settings) -> list[Job]:
    """``alerts.evaluate``, ``alerts.deliver`` and ``alerts.ledger_audit`` (all idempotent:
    the database deduplicates alerts and notifications)."""
    rules = default_rules(settings, anchor_interval=_anchor_interval(settings))
    policy = delivery_policy(settings)

    def _evaluate(conn: psycopg.Connection[Any]) -> None:
        evaluate(conn, rules)

    def _deliver(conn: psycopg.Connection[Any]) -> None:
        with httpx.Client(follow_redirects=False) as client:
            stats = deliver(conn, client, policy)
        if stats.attempts:
            _logger.info(
                "webhooks: %d delivered, %d to retry, %d failed",
                stats.delivered, stats.retried, stats.failed,
            )  # fmt: skip

    return [
        Job("alerts.evaluate", settings.alerts_interval_s, _evaluate),
        Job("alerts.deliver", settings.alerts_deliver_interval_s, _deliver),
        Job(
            "alerts.ledger_audit",
            settings.alerts_ledger_audit_interval_s,
            partial(_ledger_audit, settings),
        ),
    ]
