"""The clone rules as first written (pairwise, every window rebuilt): the oracle that
:mod:`cloud.provenance.clone`'s faster loops are checked against (tests only)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from cloud.provenance.clone import (
    CountEvidence,
    PlacesEvidence,
    Scan,
    Thresholds,
    TravelEvidence,
)
from cloud.provenance.geo import EARTH_RADIUS_KM, separation_km

_HALF_CIRCUMFERENCE_KM = math.pi * EARTH_RADIUS_KM


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
