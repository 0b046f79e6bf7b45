"""Ledger audit failures and stalled anchoring. The log serves every tenant, so each
condition is raised for each tenant (every brand relies on its proofs)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cloud.alerts.model import AlertKind, Condition, Severity

__all__ = ["AnchorState", "AuditRun", "anchoring_conditions", "audit_conditions"]


@dataclass(frozen=True, slots=True)
class AuditRun:
    ran_at: datetime
    entries: int
    findings: Sequence[dict[str, Any]]  # {"kind", "index", "detail"}
    failing_since: datetime  # the first run of the current failing streak


def audit_conditions(run: AuditRun | None, tenants: Iterable[str]) -> list[Condition]:
    if run is None or not run.findings:
        return []
    kinds = sorted({str(f.get("kind")) for f in run.findings})
    return [
        Condition(
            kind=AlertKind.LEDGER_AUDIT,
            tenant_id=t,
            key="ledger",
            severity=Severity.CRITICAL,
            since=run.failing_since,
            summary=f"ledger audit: {len(run.findings)} finding(s) ({', '.join(kinds)})",
            details={"ran_at": run.ran_at.isoformat(), "entries": run.entries, "kinds": kinds},
            evidence=list(run.findings[:50]),
        )
        for t in tenants
    ]


@dataclass(frozen=True, slots=True)
class AnchorState:
    anchored_size: int  # largest confirmed anchored tree size (0: none)
    oldest_unanchored: tuple[int, datetime] | None  # (size, created_at) of the first
    # checkpoint beyond anchored_size
    pending: tuple[int, datetime] | None  # (size, created_at) of a pending anchor tx


def anchoring_conditions(
    state: AnchorState,
    tenants: Iterable[str],
    *,
    now: datetime,
    anchor_interval: timedelta,
    missed_intervals: int,
    pending_after: timedelta,
) -> list[Condition]:
    reason: str | None = None
    since: datetime | None = None
    if state.pending is not None and now - state.pending[1] > pending_after:
        size, since = state.pending
        reason = f"anchor of size {size} pending since {since.isoformat()}"
    elif state.oldest_unanchored is not None:
        size, created = state.oldest_unanchored
        if now - created > anchor_interval * missed_intervals:
            since = created
            reason = (
                f"checkpoint {size} not anchored after {missed_intervals} intervals "
                f"(last anchored size {state.anchored_size})"
            )
    if reason is None or since is None:
        return []
    return [
        Condition(
            kind=AlertKind.ANCHORING_STALLED,
            tenant_id=t,
            key="anchoring",
            severity=Severity.WARNING,
            since=since,
            summary=f"anchoring stalled: {reason}",
            details={"anchored_size": state.anchored_size, "reason": reason},
        )
        for t in tenants
    ]
