"""Diversion and clone suspicions from consumer-scan verdicts (one alert per trace code)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloud.alerts.model import AlertKind, Condition, Severity

__all__ = ["SuspectScan", "suspicion_conditions"]

_KINDS = {"suspected_diversion": AlertKind.DIVERSION, "suspected_clone": AlertKind.CLONE}


@dataclass(frozen=True, slots=True)
class SuspectScan:
    tenant_id: str
    scanned_at: datetime
    gtin: str
    lot: str | None
    serial: str
    verdict: str
    reason: str
    region: str | None = None
    site_id: str | None = None  # the site the unit was last at, if known
    evidence: list[Any] = field(default_factory=list)


def suspicion_conditions(scans: Iterable[SuspectScan]) -> list[Condition]:
    """One condition per (verdict, code). ``since`` is the latest suspicious scan, so a new
    scan after a person resolved the alert opens a new one, and old scans do not."""
    grouped: dict[tuple[str, str, str, str], list[SuspectScan]] = {}
    for s in scans:
        if s.verdict in _KINDS:
            grouped.setdefault((s.tenant_id, s.verdict, s.gtin, s.serial), []).append(s)
    out = []
    for (tenant, verdict, gtin, serial), rows in sorted(grouped.items()):
        rows.sort(key=lambda s: s.scanned_at)
        latest = rows[-1]
        kind = _KINDS[verdict]
        out.append(
            Condition(
                kind=kind,
                tenant_id=tenant,
                site_id=latest.site_id,
                key=f"{gtin}/{serial}",
                severity=Severity.CRITICAL if kind is AlertKind.CLONE else Severity.WARNING,
                since=latest.scanned_at,
                summary=f"{verdict.replace('_', ' ')}: {gtin} serial {serial} ({latest.reason})",
                details={
                    "gtin": gtin,
                    "lot": latest.lot,
                    "serial": serial,
                    "scans": len(rows),
                    "first_scan": rows[0].scanned_at.isoformat(),
                    "latest_scan": latest.scanned_at.isoformat(),
                    "regions": sorted({s.region for s in rows if s.region}),
                },
                evidence=[
                    {
                        "scanned_at": s.scanned_at.isoformat(),
                        "region": s.region,
                        "reason": s.reason,
                        "evidence": s.evidence,
                    }
                    for s in rows[-10:]
                ],
            )
        )
    return out
