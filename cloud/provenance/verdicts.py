"""The verdict on a consumer scan (pure): genuine, seen before, clone, diversion, counterfeit.

Every rule that fires becomes a :class:`Finding` with a machine code, a sentence and its
evidence; the verdict is the most serious finding (counterfeit > suspected clone > suspected
diversion > genuine seen before > genuine). Inputs are treated as sets: the order of the
scan history never changes the outcome.

Diversion is judged on where the unit left the channel: the recorded sale if there is one,
else the earliest scan whose place can be compared with the distributor's area (consumers
scan at or soon after purchase). A consumer who buys in-region and later travels is not a
diversion; a unit first seen (or sold) outside its distributor's area is.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cloud.provenance.clone import (
    CountEvidence,
    PlacesEvidence,
    Scan,
    Thresholds,
    TravelEvidence,
    busiest_window,
    canonical_order,
    impossible_travel,
    most_places,
)
from cloud.provenance.codes import CodeCheck
from cloud.provenance.geo import AreaMatch, AuthorisedArea, GeoPoint

__all__ = [
    "DiversionEvidence",
    "Finding",
    "Sale",
    "Shipment",
    "UnitRecord",
    "Verdict",
    "VerdictKind",
    "judge_scan",
]

_logger = logging.getLogger(__name__)


class VerdictKind(enum.StrEnum):
    GENUINE = "genuine"
    GENUINE_SEEN_BEFORE = "genuine_seen_before"
    SUSPECTED_DIVERSION = "suspected_diversion"
    SUSPECTED_CLONE = "suspected_clone"
    COUNTERFEIT = "counterfeit"


_SEVERITY = list(VerdictKind)


@dataclass(frozen=True, slots=True)
class Shipment:
    """The distributor a unit was shipped to and where that distributor may sell."""

    distributor: str
    area: AuthorisedArea


@dataclass(frozen=True, slots=True)
class Sale:
    time: datetime
    point: GeoPoint | None = None
    region: str | None = None


@dataclass(frozen=True, slots=True)
class UnitRecord:
    """What the brand's records say about the serial (``None`` in :func:`judge_scan`: unknown)."""

    epc: str
    decommissioned_at: datetime | None = None
    shipment: Shipment | None = None
    sale: Sale | None = None
    proof_url: str | None = None


@dataclass(frozen=True, slots=True)
class DiversionEvidence:
    distributor: str
    area: AuthorisedArea
    basis: str  # "sale" or "scan"
    time: datetime
    point: GeoPoint | None
    region: str | None


Evidence = CodeCheck | TravelEvidence | PlacesEvidence | CountEvidence | DiversionEvidence | None


@dataclass(frozen=True, slots=True)
class Finding:
    kind: VerdictKind
    code: str
    reason: str
    evidence: Evidence = None


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    reason: str
    findings: tuple[Finding, ...]
    first_scan: datetime | None
    previous_scans: int
    proof_url: str | None = None


def judge_scan(
    check: CodeCheck,
    unit: UnitRecord | None,
    history: Sequence[Scan],
    scan: Scan,
    limits: Thresholds | None = None,
) -> Verdict:
    """The verdict on ``scan`` of a code, given the code check, the unit and earlier scans."""
    limits = limits or Thresholds()
    findings = [*_counterfeit(check, unit, scan)]
    everything = [*history, scan]
    if not findings:
        findings.extend(_clone(everything, limits))
        if unit is not None and unit.shipment is not None:
            findings.extend(_diversion(unit, unit.shipment, everything))
    ordered_history = canonical_order(history)
    first = ordered_history[0].time if ordered_history else None
    if not findings:
        if first is None:
            findings.append(
                Finding(VerdictKind.GENUINE, "first_scan", "first scan of a genuine code")
            )
        else:
            reason = (
                f"genuine code, scanned {len(history)} time(s) before, "
                f"first at {first:%Y-%m-%d %H:%M} UTC"
            )
            findings.append(Finding(VerdictKind.GENUINE_SEEN_BEFORE, "seen_before", reason))
    findings.sort(key=lambda f: (-_SEVERITY.index(f.kind), f.code))
    top = findings[0]
    return Verdict(
        kind=top.kind,
        reason=top.reason,
        findings=tuple(findings),
        first_scan=first,
        previous_scans=len(history),
        proof_url=unit.proof_url if unit is not None else None,
    )


def _counterfeit(check: CodeCheck, unit: UnitRecord | None, scan: Scan) -> list[Finding]:
    kind = VerdictKind.COUNTERFEIT
    if not check.valid:
        return [Finding(kind, str(check.status), f"code fails verification: {check.reason}", check)]
    if unit is None:
        return [Finding(kind, "unknown_serial", "the brand never issued this serial", check)]
    if unit.decommissioned_at is not None and unit.decommissioned_at <= scan.time:
        when = f"{unit.decommissioned_at:%Y-%m-%d %H:%M} UTC"
        return [Finding(kind, "decommissioned", f"this unit was decommissioned at {when}")]
    return []


def _clone(scans: list[Scan], limits: Thresholds) -> list[Finding]:
    kind = VerdictKind.SUSPECTED_CLONE
    found: list[Finding] = []
    if (travel := impossible_travel(scans, limits)) is not None:
        speed = "at the same time" if travel.speed_kmh is None else f"{travel.speed_kmh:.0f} km/h"
        reason = (
            f"scanned {travel.distance_km:.0f} km apart within {travel.hours * 60:.0f} min "
            f"({speed}; plausible at most {limits.max_speed_kmh:.0f} km/h)"
        )
        found.append(Finding(kind, "impossible_travel", reason, travel))
    places = most_places(scans, limits)
    if places is not None and places.places > limits.max_places_per_window:
        reason = (
            f"scanned in {places.places} distinct places within {limits.places_window.days} "
            f"day(s) (plausible at most {limits.max_places_per_window})"
        )
        found.append(Finding(kind, "too_many_places", reason, places))
    busiest = busiest_window(scans, limits)
    if busiest is not None and busiest.scans > limits.max_scans_per_window:
        hours = limits.count_window.total_seconds() / 3600
        reason = (
            f"scanned {busiest.scans} times within {hours:.0f} h "
            f"(plausible at most {limits.max_scans_per_window})"
        )
        found.append(Finding(kind, "too_many_scans", reason, busiest))
    return found


def _diversion(unit: UnitRecord, shipment: Shipment, scans: list[Scan]) -> list[Finding]:
    candidates = [("scan", s.time, s.point, s.region) for s in canonical_order(scans)]
    if unit.sale is not None:  # the recorded sale decides first; scans if it says nothing
        sale = unit.sale
        candidates.insert(0, ("sale", sale.time, sale.point, sale.region))
    for basis, when, point, region in candidates:
        match = shipment.area.match(point, region)
        if match is AreaMatch.UNKNOWN:
            continue
        if match is AreaMatch.INSIDE:
            return []
        place = region or (f"{point.lat:.2f},{point.lon:.2f}" if point else "unknown place")
        reason = (
            f"{'sold' if basis == 'sale' else 'first scanned'} in {place}, outside the "
            f"authorised area of distributor {shipment.distributor}"
        )
        evidence = DiversionEvidence(
            shipment.distributor, shipment.area, basis, when, point, region
        )
        return [Finding(VerdictKind.SUSPECTED_DIVERSION, "outside_region", reason, evidence)]
    return []
