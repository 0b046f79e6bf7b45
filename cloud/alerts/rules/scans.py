"""Diversion and clone suspicions from consumer-scan verdicts (one alert per trace code)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloud.alerts.model import AlertKind, Condition, Severity

__all__ = ["FakeReport", "SuspectScan", "report_conditions", "suspicion_conditions"]

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


@dataclass(frozen=True, slots=True)
class FakeReport:
    """A shopper's report of a suspected fake (``fake_reports``, from the verdict page)."""

    tenant_id: str
    reported_at: datetime
    gtin: str
    lot: str | None
    serial: str | None
    verdict: str  # the verdict the shopper saw
    reason: str  # seal_broken, looks_different, price_too_low, seller, other
    seller: str = ""
    note: str = ""
    region: str | None = None


def report_conditions(reports: Iterable[FakeReport]) -> list[Condition]:
    """One condition per reported code; ``since`` is the latest report, so a new report
    after a person resolved the alert opens a new one."""
    grouped: dict[tuple[str, str, str], list[FakeReport]] = {}
    for r in reports:
        grouped.setdefault((r.tenant_id, r.gtin, r.serial or ""), []).append(r)
    out = []
    for (tenant, gtin, serial), rows in sorted(grouped.items()):
        rows.sort(key=lambda r: r.reported_at)
        latest = rows[-1]
        severity = Severity.CRITICAL if latest.verdict == "counterfeit" else Severity.WARNING
        out.append(
            Condition(
                kind=AlertKind.FAKE_REPORT,
                tenant_id=tenant,
                site_id=None,
                key=f"{gtin}/{serial}",
                severity=severity,
                since=latest.reported_at,
                summary=(
                    f"{len(rows)} shopper report(s) of a suspected fake: {gtin} serial "
                    f"{serial or '-'} ({latest.reason.replace('_', ' ')}; the page said "
                    f"{latest.verdict.replace('_', ' ')})"
                ),
                details={
                    "gtin": gtin,
                    "lot": latest.lot,
                    "serial": serial or None,
                    "reports": len(rows),
                    "regions": sorted({r.region for r in rows if r.region}),
                    "sellers": sorted({r.seller for r in rows if r.seller})[:10],
                },
                evidence=[
                    {
                        "reported_at": r.reported_at.isoformat(),
                        "reason": r.reason,
                        "verdict": r.verdict,
                        "seller": r.seller,
                        "note": r.note,
                        "region": r.region,
                    }
                    for r in rows[-10:]
                ],
            )
        )
    return out
