"""Alert value objects shared by the rules, the store and the notifier.

A rule looks at the current data and returns :class:`Condition` values: "this is wrong
now (or was, until ``cleared_at``), since ``since``". The store turns conditions into
alerts: at most one unresolved alert per ``(tenant, kind, key)``, opened when a condition
appears and resolved automatically once it has been absent for the kind's
``resolve_after`` (time hysteresis; rules apply their own value hysteresis).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "AUTO_RESOLVE",
    "AlertKind",
    "AlertState",
    "Condition",
    "Severity",
]


class AlertKind(StrEnum):
    EXCURSION = "excursion"  # cold chain: temperature/humidity outside the products' range
    LOW_STOCK = "low_stock"
    STOCKOUT_FORECAST = "stockout_forecast"
    DEVICE_OFFLINE = "device_offline"
    SEQUENCE_GAP = "sequence_gap"  # lost messages not backfilled within the grace period
    DIVERSION = "diversion"
    CLONE = "clone"
    FAKE_REPORT = "fake_report"  # shoppers reported a suspected fake from the verdict page
    LEDGER_AUDIT = "ledger_audit"
    ANCHORING_STALLED = "anchoring_stalled"
    STORAGE_JOB_FAILING = "storage_job_failing"  # TimescaleDB policy jobs keep failing


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


# How long a condition must stay absent before its alert resolves itself; None: only a
# person resolves it (suspicions need a look, whatever happens next).
AUTO_RESOLVE: dict[AlertKind, timedelta | None] = {
    AlertKind.EXCURSION: timedelta(minutes=10),
    AlertKind.LOW_STOCK: timedelta(minutes=30),
    AlertKind.STOCKOUT_FORECAST: timedelta(hours=1),
    AlertKind.DEVICE_OFFLINE: timedelta(minutes=2),
    AlertKind.SEQUENCE_GAP: timedelta(0),
    AlertKind.DIVERSION: None,
    AlertKind.FAKE_REPORT: None,  # a person looks into it and resolves it
    AlertKind.CLONE: None,
    AlertKind.LEDGER_AUDIT: timedelta(0),
    AlertKind.ANCHORING_STALLED: timedelta(0),
    AlertKind.STORAGE_JOB_FAILING: timedelta(0),
}


@dataclass(frozen=True, slots=True)
class Condition:
    """Something that needs attention, as one rule sees it at one evaluation.

    ``key`` identifies the thing within the tenant and kind (``site:metric``, a device id,
    a trace code): the alert's dedupe key. ``since`` is when the episode started;
    ``cleared_at`` is when it ended if it is over (a past excursion still in the rule's
    look-back), None while it lasts.
    """

    kind: AlertKind
    tenant_id: str
    key: str
    severity: Severity
    since: datetime
    site_id: str | None = None
    cleared_at: datetime | None = None
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.tenant_id or not self.key:
            raise ValueError(f"a condition needs a tenant and a key, got {self!r}")
        if self.since.tzinfo is None:
            raise ValueError("condition times must be timezone-aware")
        if self.cleared_at is not None and self.cleared_at < self.since:
            raise ValueError(f"cleared_at {self.cleared_at} is before since {self.since}")

    @property
    def active(self) -> bool:
        return self.cleared_at is None
