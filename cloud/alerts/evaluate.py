"""One evaluation: every rule reads its data, the store reconciles, the outbox fills.

A rule that fails is logged and its kind left alone this time (its alerts neither open
nor resolve), so one broken data source does not resolve everything it watches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from cloud.alerts import outbox, sources
from cloud.alerts.model import AUTO_RESOLVE, AlertKind, Condition
from cloud.alerts.store import SyncResult, sync
from cloud.errors import StorageError
from cloud.settings import AlertSection

__all__ = ["Rule", "default_rules", "evaluate"]

_logger = logging.getLogger(__name__)
Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class Rule:
    """``read(conn, now)`` returns the current conditions of each kind in ``kinds``."""

    name: str
    kinds: tuple[AlertKind, ...]
    read: Callable[[Conn, datetime], Sequence[Sequence[Condition]]]


def default_rules(settings: AlertSection, *, anchor_interval: timedelta | None) -> list[Rule]:
    """Every rule; anchoring only when the ledger anchors (``anchor_interval`` set)."""
    s = settings
    rules = [
        Rule("excursion", (AlertKind.EXCURSION,), lambda c, n: [sources.excursions(c, s, now=n)]),
        Rule(
            "stock",
            (AlertKind.LOW_STOCK, AlertKind.STOCKOUT_FORECAST),
            lambda c, n: sources.stock_levels(c, s, now=n),
        ),
        Rule(
            "device_offline",
            (AlertKind.DEVICE_OFFLINE,),
            lambda c, n: [sources.device_offline(c, s, now=n)],
        ),
        Rule(
            "sequence_gap",
            (AlertKind.SEQUENCE_GAP,),
            lambda c, n: [sources.sequence_gaps(c, s, now=n)],
        ),
        Rule("suspicion", (AlertKind.DIVERSION, AlertKind.CLONE), lambda c, n: _split(c, n, s)),
        Rule(
            "fake_report",
            (AlertKind.FAKE_REPORT,),
            lambda c, n: [sources.fake_reports(c, s, now=n)],
        ),
        Rule("ledger_audit", (AlertKind.LEDGER_AUDIT,), lambda c, n: [sources.ledger_audit(c)]),
        Rule(
            "storage_jobs",
            (AlertKind.STORAGE_JOB_FAILING,),
            lambda c, n: [sources.storage_jobs(c, now=n)],
        ),
    ]
    if anchor_interval is not None:
        interval = anchor_interval
        rules.append(
            Rule(
                "anchoring",
                (AlertKind.ANCHORING_STALLED,),
                lambda c, n: [sources.anchoring(c, s, now=n, anchor_interval=interval)],
            )
        )
    return rules


def _split(conn: Conn, now: datetime, settings: AlertSection) -> list[list[Condition]]:
    found = sources.suspicions(conn, settings, now=now)
    return [
        [c for c in found if c.kind is AlertKind.DIVERSION],
        [c for c in found if c.kind is AlertKind.CLONE],
    ]


def evaluate(
    conn: Conn, rules: Sequence[Rule], *, now: datetime | None = None
) -> dict[AlertKind, SyncResult]:
    """Run ``rules`` at ``now`` (default: the current time) and enqueue notifications."""
    now = now or datetime.now(UTC)
    results: dict[AlertKind, SyncResult] = {}
    for rule in rules:
        try:
            per_kind = rule.read(conn, now)
        except (psycopg.Error, StorageError, ValueError, LookupError, TypeError) as exc:
            _logger.exception("alert rule %s failed; its alerts are left as they are", rule.name)
            if isinstance(exc, psycopg.Error) and conn.info.transaction_status:
                conn.rollback()
            continue
        for kind, conditions in zip(rule.kinds, per_kind, strict=True):
            result = sync(conn, kind, conditions, now=now, resolve_after=AUTO_RESOLVE[kind])
            results[kind] = result
            for alert_id in result.opened:
                _logger.info("alert %d opened (%s)", alert_id, kind)
            for alert_id in result.resolved:
                _logger.info("alert %d resolved (%s)", alert_id, kind)
    outbox.enqueue(conn, since=now - outbox.ENQUEUE_LOOK_BACK)
    return results
