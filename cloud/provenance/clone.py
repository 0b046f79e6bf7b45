"""Clone detection on the scans of one code (pure, deterministic, order-independent).

Two general rules, both over *all* scans of the code (history and the new one):

* **impossible travel**: some two scans are further apart than ``min_distance_km`` (after
  subtracting both accuracy radii) and the speed needed to go from one to the other exceeds
  ``max_speed_kmh``. Pairs are examined only while the time gap could still make a trip
  impossible on Earth, so the cost stays near-linear for long histories.
* **implausible counts**: in some window of ``places_window`` the scans fall in more than
  ``max_places_per_window`` distinct places (a place: scans linked when within
  ``2 × home_radius_km``, or sharing a region when one has no point), or in some window of
  ``count_window`` there are more than ``max_scans_per_window`` scans.

Scans are put in a canonical order first, so the result does not depend on input order.

Each scan carries its *client* (a per-unit tag of the scanner's network, see
:func:`cloud.provenance.scanlog.client_tag`; ``None`` when unknown). A finding is
*corroborated* when the scans it rests on come from at least ``min_independent_clients``
different known clients: one phone can claim any place, so alone it can only raise an
unconfirmed suspicion (:attr:`TravelEvidence.independent`, ``clients`` of the window
evidence).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cloud.provenance.errors import VerdictInputError
from cloud.provenance.geo import EARTH_RADIUS_KM, GeoPoint, check_region, separation_km

__all__ = [
    "EARLY_CLIENTS",
    "RECENT_SCANS",
    "CountEvidence",
    "PlacesEvidence",
    "Scan",
    "Thresholds",
    "TravelEvidence",
    "busiest_window",
    "canonical_order",
    "impossible_travel",
    "most_places",
]

_logger = logging.getLogger(__name__)

_HALF_CIRCUMFERENCE_KM = math.pi * EARTH_RADIUS_KM
#: A unit's scan summary keeps its last RECENT_SCANS scans (window rules look at them) and
#: the first located scan of each of its first EARLY_CLIENTS clients (diversion looks at them).
RECENT_SCANS = 64
EARLY_CLIENTS = 8


@dataclass(frozen=True, slots=True)
class Scan:
    """One consumer scan: when, and where as far as known (no raw IP addresses)."""

    time: datetime
    point: GeoPoint | None = None
    region: str | None = None
    scan_id: str = ""
    client: str | None = None  # who scanned (a tag, never an address); None: unknown

    def __post_init__(self) -> None:
        if self.time.tzinfo is None:
            raise VerdictInputError(f"scan time must be timezone-aware; got {self.time}")
        object.__setattr__(self, "time", self.time.astimezone(UTC))
        if self.region is not None:
            object.__setattr__(self, "region", check_region(self.region))

    @property
    def sort_key(self) -> tuple[datetime, bool, float, float, float, str, str, str]:
        p = self.point
        where = (p.lat, p.lon, p.accuracy_km) if p else (0.0, 0.0, 0.0)
        return (self.time, p is None, *where, self.region or "", self.scan_id, self.client or "")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A brand's clone and diversion thresholds (defaults suit consumer goods)."""

    max_speed_kmh: float = 900.0
    min_distance_km: float = 50.0
    home_radius_km: float = 25.0
    places_window: timedelta = timedelta(days=30)
    max_places_per_window: int = 4
    count_window: timedelta = timedelta(hours=24)
    max_scans_per_window: int = 30
    min_independent_clients: int = 2
    custody_radius_km: float = 300.0

    def __post_init__(self) -> None:
        if not self.max_speed_kmh > 0 or not self.home_radius_km > 0:
            raise VerdictInputError("max speed and home radius must be > 0")
        if self.min_distance_km < 2 * self.home_radius_km:
            raise VerdictInputError(
                f"min distance ({self.min_distance_km} km) must be at least the home cluster "
                f"diameter (2 × {self.home_radius_km} km), or scans at home could be clones"
            )
        if self.max_places_per_window < 1 or self.max_scans_per_window < 1:
            raise VerdictInputError("per-window limits must be >= 1")
        if max(self.max_places_per_window, self.max_scans_per_window) >= RECENT_SCANS:
            raise VerdictInputError(
                f"per-window limits must be below {RECENT_SCANS} (the scans a unit's summary "
                "keeps)"
            )
        if not 2 <= self.min_independent_clients <= EARLY_CLIENTS:
            raise VerdictInputError(
                f"min independent clients must be 2..{EARLY_CLIENTS}; got "
                f"{self.min_independent_clients} (one client alone can claim any place)"
            )
        if not (math.isfinite(self.custody_radius_km) and self.custody_radius_km > 0):
            raise VerdictInputError("custody radius must be > 0 km")
        if self.places_window <= timedelta(0) or self.count_window <= timedelta(0):
            raise VerdictInputError("windows must be positive durations")


@dataclass(frozen=True, slots=True)
class TravelEvidence:
    first: Scan
    second: Scan
    distance_km: float
    hours: float
    speed_kmh: float | None  # None: both scans at the same instant
    independent: bool = False  # the two scans came from two different known clients


@dataclass(frozen=True, slots=True)
class PlacesEvidence:
    start: datetime
    end: datetime
    places: int
    scans: int
    clients: int = 0  # distinct known clients among the window's scans


@dataclass(frozen=True, slots=True)
class CountEvidence:
    start: datetime
    end: datetime
    scans: int
    clients: int = 0


def _independent(a: Scan, b: Scan) -> bool:
    return a.client is not None and b.client is not None and a.client != b.client


def _clients(scans: Sequence[Scan]) -> int:
    return len({s.client for s in scans if s.client is not None})


def _rank(size: int, clients: int, limit: int, need: int) -> tuple[bool, int, int, int]:
    """Windows over ``limit`` first, then the best corroborated (up to ``need`` clients),
    then the largest."""
    return (size > limit, min(clients, need), size, clients)


def canonical_order(scans: Sequence[Scan]) -> list[Scan]:
    return sorted(scans, key=lambda s: s.sort_key)


def impossible_travel(scans: Sequence[Scan], limits: Thresholds) -> TravelEvidence | None:
    """The fastest impossible pair of scans from two different clients, else the fastest
    impossible pair at all (ties: the earliest pair), or ``None``."""
    located = [s for s in canonical_order(scans) if s.point is not None]
    worst: tuple[bool, float, float, TravelEvidence] | None = None
    for i, a in enumerate(located):
        for b in located[i + 1 :]:
            hours = (b.time - a.time).total_seconds() / 3600
            if hours * limits.max_speed_kmh > _HALF_CIRCUMFERENCE_KM:
                break  # no two points on Earth are far enough apart for this gap
            assert a.point is not None
            assert b.point is not None
            distance = separation_km(a.point, b.point)
            if distance <= limits.min_distance_km:
                continue
            speed = math.inf if hours == 0 else distance / hours
            if speed <= limits.max_speed_kmh:
                continue
            independent = _independent(a, b)
            if worst is None or (independent, speed, distance) > worst[:3]:
                shown = None if math.isinf(speed) else speed
                evidence = TravelEvidence(a, b, distance, hours, shown, independent)
                worst = (independent, speed, distance, evidence)
    return None if worst is None else worst[3]


def _places(scans: list[Scan], limits: Thresholds) -> list[int]:
    """A place id per scan: connected components of the 'same place' relation."""
    parent = list(range(len(scans)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    link = 2 * limits.home_radius_km
    for i, a in enumerate(scans):
        for j in range(i + 1, len(scans)):
            b = scans[j]
            if a.point is not None and b.point is not None:
                same = separation_km(a.point, b.point) <= link
            else:
                same = a.region is not None and a.region == b.region
            if same:
                parent[find(i)] = find(j)
    return [find(i) for i in range(len(scans))]


def most_places(scans: Sequence[Scan], limits: Thresholds) -> PlacesEvidence | None:
    """The window of ``places_window`` with the most distinct places (``None``: no scans)."""
    ordered = [s for s in canonical_order(scans) if s.point is not None or s.region]
    if not ordered:
        return None
    place = _places(ordered, limits)
    best: PlacesEvidence | None = None
    counts: Counter[int] = Counter()
    left = 0
    for right, scan in enumerate(ordered):
        counts[place[right]] += 1
        while scan.time - ordered[left].time > limits.places_window:
            counts[place[left]] -= 1
            if counts[place[left]] == 0:
                del counts[place[left]]
            left += 1
        found = PlacesEvidence(
            ordered[left].time, scan.time, len(counts), right - left + 1,
            _clients(ordered[left : right + 1]),
        )  # fmt: skip
        limit, need = limits.max_places_per_window, limits.min_independent_clients
        if best is None or _rank(found.places, found.clients, limit, need) > _rank(
            best.places, best.clients, limit, need
        ):
            best = found
    return best


def busiest_window(scans: Sequence[Scan], limits: Thresholds) -> CountEvidence | None:
    """The window of ``count_window`` with the most scans (``None``: no scans)."""
    ordered = canonical_order(scans)
    best: CountEvidence | None = None
    left = 0
    for right, scan in enumerate(ordered):
        while scan.time - ordered[left].time > limits.count_window:
            left += 1
        found = CountEvidence(
            ordered[left].time, scan.time, right - left + 1, _clients(ordered[left : right + 1])
        )
        limit, need = limits.max_scans_per_window, limits.min_independent_clients
        if best is None or _rank(found.scans, found.clients, limit, need) > _rank(
            best.scans, best.clients, limit, need
        ):
            best = found
    return best
