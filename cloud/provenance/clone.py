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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.provenance.errors import VerdictInputError
from cloud.provenance.geo import EARTH_RADIUS_KM, GeoPoint, check_region, great_circle_km

__all__ = [
    "EARLY_CLIENTS",
    "RECENT_SCANS",
    "CloneFindings",
    "CountEvidence",
    "PlacesEvidence",
    "Scan",
    "Thresholds",
    "TravelEvidence",
    "busiest_window",
    "canonical_order",
    "clone_rules",
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


def _rank(size: int, clients: int, limit: int, need: int) -> tuple[bool, int, int, int]:
    """Windows over ``limit`` first, then the best corroborated (up to ``need`` clients),
    then the largest."""
    return (size > limit, min(clients, need), size, clients)


def canonical_order(scans: Sequence[Scan]) -> list[Scan]:
    return sorted(scans, key=lambda s: s.sort_key)


# The rules below run on every scan over up to RECENT_SCANS + EARLY_CLIENTS earlier scans,
# so their pair loops work on numbers taken out of the scans once (a scan's radians,
# cosine, time in microseconds). Each pair's distance goes through the same
# :func:`cloud.provenance.geo.great_circle_km` as ``separation_km``, and each time gap is
# computed as ``timedelta.total_seconds`` does (whole microseconds / 10**6): the answers
# are those of the plain pairwise loops (tests/cloud/provenance/_clone_reference.py).

_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MARGIN_KM = 1e-6  # far above rounding error: a latitude bound that says "apart" is sure


@dataclass(frozen=True, slots=True)
class _Points:
    """The located scans' coordinates, ready for pair loops."""

    phi: list[float]
    cos_phi: list[float]
    lon: list[float]
    accuracy: list[float]

    @classmethod
    def of(cls, points: Sequence[GeoPoint]) -> _Points:
        phi = [math.radians(p.lat) for p in points]
        return cls(phi, [math.cos(x) for x in phi], [p.lon for p in points],
                   [p.accuracy_km for p in points])  # fmt: skip

    def separation_km(self, i: int, j: int) -> float:
        """:func:`cloud.provenance.geo.separation_km` of points ``i`` and ``j``."""
        distance = great_circle_km(
            self.phi[i], self.cos_phi[i], self.phi[j], self.cos_phi[j], self.lon[j] - self.lon[i]
        )
        return max(0.0, distance - self.accuracy[i] - self.accuracy[j])

    def reach_km(self) -> float:
        """At least the greatest distance between any two of the points: no path between
        two of them is shorter than the great circle, and going along a meridian to the
        other's latitude, then along that parallel, is at most this long."""
        if not self.phi:
            return 0.0
        south, north = min(self.phi), max(self.phi)
        widest = 1.0 if south <= 0.0 <= north else math.cos(min(abs(south), abs(north)))
        span = math.radians(max(self.lon) - min(self.lon))
        reach = EARTH_RADIUS_KM * ((north - south) + widest * span)
        return min(_HALF_CIRCUMFERENCE_KM, reach * (1 + 1e-9) + _MARGIN_KM)

    def surely_apart(self, i: int, j: int, km: float) -> bool:
        """Whether the points are certainly more than ``km`` apart by their latitudes alone
        (a great circle is never shorter than its north-south part)."""
        north_south = EARTH_RADIUS_KM * abs(self.phi[j] - self.phi[i])
        return north_south - self.accuracy[i] - self.accuracy[j] > km + _MARGIN_KM


def _count(counts: dict[Any, int], key: Any, step: int) -> None:
    """Add ``step`` to ``key``'s count; a count of zero is no key."""
    n = counts.get(key, 0) + step
    if n:
        counts[key] = n
    else:
        del counts[key]


def _micros(scans: Sequence[Scan]) -> list[int]:
    return [(s.time - _EPOCH) // _MICROSECOND for s in scans]


def impossible_travel(scans: Sequence[Scan], limits: Thresholds) -> TravelEvidence | None:
    """The fastest impossible pair of scans from two different clients, else the fastest
    impossible pair at all (ties: the earliest pair), or ``None``."""
    return _impossible_travel(canonical_order(scans), limits)


def _impossible_travel(ordered: list[Scan], limits: Thresholds) -> TravelEvidence | None:
    located = [s for s in ordered if s.point is not None]
    points = _Points.of([s.point for s in located if s.point is not None])
    micros = _micros(located)
    clients = [s.client for s in located]
    max_speed, min_distance = limits.max_speed_kmh, limits.min_distance_km
    reach = points.reach_km()  # a code scanned around one town: pairs an hour apart are done
    worst: tuple[bool, float, float, int, int, float] | None = None
    for i in range(len(located)):
        for j in range(i + 1, len(located)):
            hours = (micros[j] - micros[i]) / 10**6 / 3600
            if hours * max_speed > reach:
                break  # no two of these points are far enough apart for this gap
            distance = points.separation_km(i, j)
            if distance <= min_distance:
                continue
            speed = math.inf if hours == 0 else distance / hours
            if speed <= max_speed:
                continue
            a, b = clients[i], clients[j]
            independent = a is not None and b is not None and a != b
            if worst is None or (independent, speed, distance) > worst[:3]:
                worst = (independent, speed, distance, i, j, hours)
    if worst is None:
        return None
    independent, speed, distance, i, j, hours = worst
    shown = None if math.isinf(speed) else speed
    return TravelEvidence(located[i], located[j], distance, hours, shown, independent)


def _places(scans: list[Scan], limits: Thresholds) -> list[int]:
    """A place id per scan: connected components of the 'same place' relation."""
    parent = list(range(len(scans)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    link = 2 * limits.home_radius_km
    at = [-1] * len(scans)  # index into the located points, -1: no point
    located: list[GeoPoint] = []
    for i, s in enumerate(scans):
        if s.point is not None:
            at[i] = len(located)
            located.append(s.point)
    points = _Points.of(located)
    regions = [s.region for s in scans]
    for i in range(len(scans)):
        pi, region = at[i], regions[i]
        root = find(i)
        for j in range(i + 1, len(scans)):
            other = find(j)
            if other == root:
                continue  # one place already (a town's scans: one comparison each, not n²)
            pj = at[j]
            if pi >= 0 and pj >= 0:
                same = not points.surely_apart(pi, pj, link) and (
                    points.separation_km(pi, pj) <= link
                )
            else:
                same = region is not None and region == regions[j]
            if same:
                parent[root] = other
                root = other
    return [find(i) for i in range(len(scans))]


def most_places(scans: Sequence[Scan], limits: Thresholds) -> PlacesEvidence | None:
    """The window of ``places_window`` with the most distinct places (``None``: no scans)."""
    return _most_places(canonical_order(scans), limits)


def _most_places(ordered_all: list[Scan], limits: Thresholds) -> PlacesEvidence | None:
    ordered = [s for s in ordered_all if s.point is not None or s.region]
    if not ordered:
        return None
    place = _places(ordered, limits)
    limit, need = limits.max_places_per_window, limits.min_independent_clients
    best: tuple[tuple[bool, int, int, int], int, int, int, int] | None = None
    counts: dict[int, int] = {}  # scans per place in the window
    clients: dict[str, int] = {}  # scans per known client in the window
    left = 0
    for right, scan in enumerate(ordered):
        _count(counts, place[right], 1)
        if scan.client is not None:
            _count(clients, scan.client, 1)
        while scan.time - ordered[left].time > limits.places_window:
            gone = ordered[left]
            _count(counts, place[left], -1)
            if gone.client is not None:
                _count(clients, gone.client, -1)
            left += 1
        rank = _rank(len(counts), len(clients), limit, need)
        if best is None or rank > best[0]:
            best = (rank, left, right, len(counts), len(clients))
    assert best is not None
    _, left, right, places, distinct = best
    return PlacesEvidence(
        ordered[left].time, ordered[right].time, places, right - left + 1, distinct
    )


def busiest_window(scans: Sequence[Scan], limits: Thresholds) -> CountEvidence | None:
    """The window of ``count_window`` with the most scans (``None``: no scans)."""
    return _busiest_window(canonical_order(scans), limits)


def _busiest_window(ordered: list[Scan], limits: Thresholds) -> CountEvidence | None:
    limit, need = limits.max_scans_per_window, limits.min_independent_clients
    best: tuple[tuple[bool, int, int, int], int, int, int] | None = None
    clients: dict[str, int] = {}
    left = 0
    for right, scan in enumerate(ordered):
        if scan.client is not None:
            _count(clients, scan.client, 1)
        while scan.time - ordered[left].time > limits.count_window:
            gone = ordered[left].client
            if gone is not None:
                _count(clients, gone, -1)
            left += 1
        rank = _rank(right - left + 1, len(clients), limit, need)
        if best is None or rank > best[0]:
            best = (rank, left, right, len(clients))
    if best is None:
        return None
    _, left, right, distinct = best
    return CountEvidence(ordered[left].time, ordered[right].time, right - left + 1, distinct)


@dataclass(frozen=True, slots=True)
class CloneFindings:
    """What the clone rules found in one code's scans, for a verdict: each rule's evidence,
    ``None`` when there is nothing to show or the rule cannot fire (a window can hold no more
    places than ``max_places_per_window`` or scans than ``max_scans_per_window`` when the
    code has no more scans than that: those windows are not searched)."""

    travel: TravelEvidence | None
    places: PlacesEvidence | None
    busiest: CountEvidence | None


def clone_rules(scans: Sequence[Scan], limits: Thresholds) -> CloneFindings:
    """:func:`impossible_travel`, and :func:`most_places` and :func:`busiest_window` where
    they can fire, of one set of scans put in canonical order once."""
    ordered = canonical_order(scans)
    placed = sum(1 for s in ordered if s.point is not None or s.region)
    return CloneFindings(
        _impossible_travel(ordered, limits),
        _most_places(ordered, limits) if placed > limits.max_places_per_window else None,
        _busiest_window(ordered, limits) if len(ordered) > limits.max_scans_per_window else None,
    )
