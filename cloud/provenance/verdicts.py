"""The verdict on a consumer scan (pure): genuine, seen before, inconsistent custody,
diversion, clone, recalled, counterfeit.

Every rule that fires becomes a :class:`Finding` with a machine code, a sentence and its
evidence; the verdict is the most serious finding (counterfeit > recalled > suspected clone
> suspected diversion > inconsistent custody > genuine seen before > genuine). Inputs are
treated as sets: the order of the scan history never changes the outcome.

Only scans of a code that verified reach a unit's history (:class:`ScanState`), and one
scanner can claim any place: a clone or diversion finding is *confirmed* only when the scans
it rests on come from at least ``min_independent_clients`` different clients (or, for
diversion, from a recorded sale); otherwise it is reported as an unconfirmed suspicion,
worded as such.

Diversion is judged on where the unit left the channel: the recorded sale if there is one,
else the earliest scans whose place can be compared with the distributor's area (consumers
scan at or soon after purchase). A consumer who buys in-region and later travels is not a
diversion; a unit first seen (or sold) outside its distributor's area is. A scan inside the
area by another client before the outside scans are corroborated contradicts them.

Custody is part of the verdict: a unit the brand's records show has not left the brand, or
one scanned far from the site the records place it at, is not plainly genuine.
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
    canonical_order,
    clone_rules,
)
from cloud.provenance.codes import CodeCheck
from cloud.provenance.geo import (
    AreaMatch,
    AuthorisedArea,
    GeoPoint,
    haversine_km,
    region_covers,
    region_label,
)
from cloud.provenance.scanstate import CloneFlag, ScanState

__all__ = [
    "CustodyEvidence",
    "DiversionEvidence",
    "Finding",
    "Refusal",
    "Sale",
    "Shipment",
    "UnitRecord",
    "Verdict",
    "VerdictKind",
    "Whereabouts",
    "judge_scan",
]

_logger = logging.getLogger(__name__)


class VerdictKind(enum.StrEnum):
    GENUINE = "genuine"
    GENUINE_SEEN_BEFORE = "genuine_seen_before"
    INCONSISTENT_CUSTODY = "inconsistent_custody"
    SUSPECTED_DIVERSION = "suspected_diversion"
    SUSPECTED_CLONE = "suspected_clone"
    RECALLED = "recalled"
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
class Whereabouts:
    """Where the brand's records place the unit now (for custody consistency)."""

    status: str  # units.status: commissioned, in_transit, at_site, sold, decommissioned
    site: str | None  # the EPCIS location (bizLocation) of its last custody
    name: str | None = None  # our site's name, when the location is mapped to one
    point: GeoPoint | None = None
    region: str | None = None
    with_brand: bool = False  # never handed to a distributor (commissioned or at a brand site)


@dataclass(frozen=True, slots=True)
class UnitRecord:
    """What the brand's records say about the serial (``None`` in :func:`judge_scan`: unknown)."""

    epc: str
    decommissioned_at: datetime | None = None
    shipment: Shipment | None = None
    sale: Sale | None = None
    proof_url: str | None = None
    recalled_at: datetime | None = None
    whereabouts: Whereabouts | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a code that verified is still not an issued code of the GTIN's owner
    (``code``: ``unregistered_gtin``, ``key_not_issuer``, ``unknown_serial``, ``wrong_lot``,
    ``wrong_key``)."""

    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class DiversionEvidence:
    distributor: str
    area: AuthorisedArea
    basis: str  # "sale" or "scan"
    time: datetime
    point: GeoPoint | None
    region: str | None
    clients: int = 0  # distinct clients whose scans placed it outside (basis "scan")


@dataclass(frozen=True, slots=True)
class CustodyEvidence:
    status: str
    site: str | None
    distance_km: float | None  # from the records' site to the scan, when both have points
    region: str | None  # the scan's region, when compared by region


Evidence = (
    CodeCheck
    | TravelEvidence
    | PlacesEvidence
    | CountEvidence
    | DiversionEvidence
    | CustodyEvidence
    | None
)
_UNCONFIRMED = " (not confirmed: the scans that suggest it came from one scanner)"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: VerdictKind
    code: str
    reason: str
    evidence: Evidence = None
    confirmed: bool = True  # False: a suspicion one scanner alone could have caused


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: VerdictKind
    reason: str
    findings: tuple[Finding, ...]
    first_scan: datetime | None
    previous_scans: int
    proof_url: str | None = None
    confirmed: bool = True

    @property
    def clone_flag(self) -> CloneFlag | None:
        """A confirmed clone finding of this verdict, to keep for the unit's later scans."""
        for f in self.findings:
            if f.kind is VerdictKind.SUSPECTED_CLONE and f.confirmed and f.code != "flagged":
                return CloneFlag(f.code, f.reason, _when(f.evidence))
        return None


def _when(evidence: Evidence) -> datetime:
    if isinstance(evidence, TravelEvidence):
        return evidence.second.time
    if isinstance(evidence, PlacesEvidence | CountEvidence):
        return evidence.end
    raise TypeError(f"no time in {evidence!r}")


def judge_scan(
    check: CodeCheck,
    unit: UnitRecord | None,
    history: ScanState | Sequence[Scan],
    scan: Scan,
    limits: Thresholds | None = None,
    *,
    refusal: Refusal | None = None,
) -> Verdict:
    """The verdict on ``scan`` of a code, given the code check, the unit, the unit's earlier
    scans (its :class:`ScanState`; a plain sequence is summarised first) and, for a code
    that verified but is not an issued code of the GTIN's owner, the ``refusal``."""
    limits = limits or Thresholds()
    state = history if isinstance(history, ScanState) else _summarise(history)
    findings = [*_counterfeit(check, unit, refusal)]
    if not findings and unit is not None and unit.recalled_at is not None:
        when = f"{unit.recalled_at:%Y-%m-%d %H:%M} UTC"
        reason = f"this unit was recalled at {when}: do not use it"
        findings.append(Finding(VerdictKind.RECALLED, "recalled", reason))
    if not findings and unit is not None:
        everything = [*state.history, scan]
        findings.extend(_clone(state, everything, limits))
        if unit.shipment is not None:
            findings.extend(_diversion(unit, unit.shipment, everything, limits))
        findings.extend(_custody(unit, scan, limits))
    first = state.first_at
    if not findings:
        if first is None:
            findings.append(
                Finding(VerdictKind.GENUINE, "first_scan", "first scan of a genuine code")
            )
        else:
            reason = (
                f"genuine code, scanned {state.count} time(s) before, "
                f"first at {first:%Y-%m-%d %H:%M} UTC"
            )
            findings.append(Finding(VerdictKind.GENUINE_SEEN_BEFORE, "seen_before", reason))
    findings.sort(key=lambda f: (-_SEVERITY.index(f.kind), not f.confirmed, f.code))
    top = findings[0]
    return Verdict(
        kind=top.kind,
        reason=top.reason,
        findings=tuple(findings),
        first_scan=first,
        previous_scans=state.count,
        proof_url=unit.proof_url if unit is not None else None,
        confirmed=top.confirmed,
    )


def _summarise(history: Sequence[Scan]) -> ScanState:
    state = ScanState()
    for earlier in canonical_order(history):
        state = state.add(earlier)
    return state


def _counterfeit(
    check: CodeCheck, unit: UnitRecord | None, refusal: Refusal | None
) -> list[Finding]:
    kind = VerdictKind.COUNTERFEIT
    if not check.valid:
        return [Finding(kind, str(check.status), f"code fails verification: {check.reason}", check)]
    if refusal is not None:
        return [Finding(kind, refusal.code, refusal.reason, check)]
    if unit is None:
        return [Finding(kind, "unknown_serial", "the brand never issued this serial", check)]
    if unit.decommissioned_at is not None:
        when = f"{unit.decommissioned_at:%Y-%m-%d %H:%M} UTC"
        return [Finding(kind, "decommissioned", f"this unit was decommissioned at {when}")]
    return []


def _clone(state: ScanState, scans: list[Scan], limits: Thresholds) -> list[Finding]:
    kind = VerdictKind.SUSPECTED_CLONE
    need = limits.min_independent_clients
    found: list[Finding] = []
    if (flag := state.clone_flag) is not None:
        reason = f"this code was found copied on {flag.at:%Y-%m-%d %H:%M} UTC: {flag.reason}"
        found.append(Finding(kind, "flagged", reason))
    rules = clone_rules(scans, limits)
    if (travel := rules.travel) is not None:
        speed = "at the same time" if travel.speed_kmh is None else f"{travel.speed_kmh:.0f} km/h"
        reason = (
            f"scanned {travel.distance_km:.0f} km apart within {travel.hours * 60:.0f} min "
            f"({speed}; plausible at most {limits.max_speed_kmh:.0f} km/h)"
        )
        found.append(_suspicion(kind, "impossible_travel", reason, travel, travel.independent))
    places = rules.places
    if places is not None and places.places > limits.max_places_per_window:
        reason = (
            f"scanned in {places.places} distinct places within {limits.places_window.days} "
            f"day(s) (plausible at most {limits.max_places_per_window})"
        )
        confirmed = places.clients >= need
        found.append(_suspicion(kind, "too_many_places", reason, places, confirmed))
    busiest = rules.busiest
    if busiest is not None and busiest.scans > limits.max_scans_per_window:
        hours = limits.count_window.total_seconds() / 3600
        reason = (
            f"scanned {busiest.scans} times within {hours:.0f} h "
            f"(plausible at most {limits.max_scans_per_window})"
        )
        confirmed = busiest.clients >= need
        found.append(_suspicion(kind, "too_many_scans", reason, busiest, confirmed))
    return found


def _suspicion(
    kind: VerdictKind, code: str, reason: str, evidence: Evidence, confirmed: bool
) -> Finding:
    return Finding(kind, code, reason + ("" if confirmed else _UNCONFIRMED), evidence, confirmed)


def _diversion(
    unit: UnitRecord, shipment: Shipment, scans: list[Scan], limits: Thresholds
) -> list[Finding]:
    kind = VerdictKind.SUSPECTED_DIVERSION
    if unit.sale is not None:  # the recorded sale decides first; scans if it says nothing
        sale = unit.sale
        match = shipment.area.match(sale.point, sale.region)
        if match is AreaMatch.INSIDE:
            return []
        if match is AreaMatch.OUTSIDE:
            evidence = DiversionEvidence(
                shipment.distributor, shipment.area, "sale", sale.time, sale.point, sale.region
            )
            reason = _diverted("sold", shipment, evidence)
            return [Finding(kind, "outside_region", reason, evidence)]
    outside: list[Scan] = []
    for s in canonical_order(scans):
        match = shipment.area.match(s.point, s.region)
        if match is AreaMatch.UNKNOWN:
            continue
        if match is AreaMatch.INSIDE:
            return []  # left the channel inside (or contradicts an uncorroborated claim)
        outside.append(s)
        clients = len({x.client or "?" for x in outside})
        if clients >= limits.min_independent_clients:
            break
    if not outside:
        return []
    first = outside[0]
    clients = len({x.client or "?" for x in outside})
    evidence = DiversionEvidence(
        shipment.distributor, shipment.area, "scan", first.time, first.point, first.region, clients
    )
    confirmed = clients >= limits.min_independent_clients
    reason = _diverted("first scanned", shipment, evidence)
    return [_suspicion(kind, "outside_region", reason, evidence, confirmed)]


def _diverted(verb: str, shipment: Shipment, e: DiversionEvidence) -> str:
    place = (
        region_label(e.region)
        if e.region
        else (f"{e.point.lat:.2f},{e.point.lon:.2f}" if e.point else "unknown place")
    )
    return f"{verb} in {place}, outside the authorised area of distributor {shipment.distributor}"


def _custody(unit: UnitRecord, scan: Scan, limits: Thresholds) -> list[Finding]:
    """Is this scan where the brand's records say the unit is?"""
    w = unit.whereabouts
    if w is None or w.status not in ("commissioned", "at_site"):
        return []  # in transit: anywhere on the road; sold: the consumer has it
    where = w.name or w.site or "its last recorded place"
    distance = None
    if scan.point is not None and w.point is not None:
        distance = max(0.0, haversine_km(scan.point, w.point) - scan.point.accuracy_km)
    evidence = CustodyEvidence(w.status, w.site, distance, scan.region)
    if w.with_brand:
        if distance is not None and distance <= limits.custody_radius_km:
            return []  # scanned at the brand's own site (staff, a check at the factory)
        reason = (
            f"the brand's records show this unit has not left the brand ({w.status} at "
            f"{where}): it was never shipped"
        )
        return [Finding(VerdictKind.INCONSISTENT_CUSTODY, "never_shipped", reason, evidence)]
    if unit.shipment is not None and unit.shipment.area.match(scan.point, scan.region) is (
        AreaMatch.INSIDE
    ):
        return []  # sold on by a shop in the distributor's own area
    far = distance is not None and distance > limits.custody_radius_km
    if distance is None and scan.region is not None and w.region is not None:
        far = not (region_covers(scan.region, w.region) or region_covers(w.region, scan.region))
    if not far:
        return []
    if distance is not None:
        gap = f"{distance:,.0f} km away"
    else:
        gap = f"in {region_label(scan.region or '')}"
    reason = f"the brand's records place this unit at {where}; this scan is {gap}"
    return [Finding(VerdictKind.INCONSISTENT_CUSTODY, "far_from_custody", reason, evidence)]
