"""Coarse geography for scan verdicts: points, great-circle distance, authorised areas.

Scans carry a point (from the phone, or a coarse one from the network) with an accuracy
radius, and/or a region code. Chinese regions are GB/T 2260 codes (``440000`` Guangdong,
``440300`` Shenzhen, ``440304`` Futian; :mod:`cloud.channel.regions`): a scan's point is
placed at its district offline (:mod:`cloud.channel.geocode`), an ISO 3166-2 province code
from a proxy (``CN-GD``) is read as its GB/T code, and ``CN`` alone is the country. Other
countries keep ISO 3166-2 style codes (``US-CA``; a code covers those that extend it with
``-``). A distributor's authorised area is a set of region codes (a code covers its
sub-regions) and/or circles. Uncertainty always counts in the scan's favour.
"""

from __future__ import annotations

import enum
import functools
import logging
import math
import re
from dataclasses import dataclass

from cloud.channel.errors import RegionCodeError
from cloud.channel.regions import RegionCode, covers, parse_region, province_of
from cloud.provenance.errors import VerdictInputError

__all__ = [
    "EARTH_RADIUS_KM",
    "AreaMatch",
    "AuthorisedArea",
    "Circle",
    "GeoPoint",
    "check_region",
    "great_circle_km",
    "haversine_km",
    "region_covers",
    "region_label",
    "separation_km",
]

_logger = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
_REGION = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,8})*")
_GBT = re.compile(r"[0-9]{6}")


@dataclass(frozen=True, slots=True)
class GeoPoint:
    lat: float
    lon: float
    accuracy_km: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lat) and -90.0 <= self.lat <= 90.0):
            raise VerdictInputError(f"latitude must be -90..90; got {self.lat}")
        if not (math.isfinite(self.lon) and -180.0 <= self.lon <= 180.0):
            raise VerdictInputError(f"longitude must be -180..180; got {self.lon}")
        if not (math.isfinite(self.accuracy_km) and self.accuracy_km >= 0):
            raise VerdictInputError(f"accuracy must be >= 0 km; got {self.accuracy_km}")


def haversine_km(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance between two points in km (haversine formula)."""
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    return great_circle_km(phi1, math.cos(phi1), phi2, math.cos(phi2), b.lon - a.lon)


def great_circle_km(
    phi1: float, cos_phi1: float, phi2: float, cos_phi2: float, dlon_deg: float
) -> float:
    """:func:`haversine_km` from the latitudes in radians with their cosines and the
    longitude difference in degrees: pair loops take those out of each point once."""
    dphi, dlmb = phi2 - phi1, math.radians(dlon_deg)
    h = math.sin(dphi / 2) ** 2 + cos_phi1 * cos_phi2 * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def separation_km(a: GeoPoint, b: GeoPoint) -> float:
    """The smallest distance the two points can be apart given their accuracy radii."""
    return max(0.0, haversine_km(a, b) - a.accuracy_km - b.accuracy_km)


@functools.lru_cache(maxsize=8_192)
def check_region(code: str) -> str:
    """A region code in its one spelling: GB/T 2260 for Chinese regions (``CN-GD`` and
    ``CN-GD-…`` are read as their province, ``440000``), ISO 3166-2 style otherwise."""
    try:
        if _GBT.fullmatch(code):
            return RegionCode(code).code
        if code.startswith("CN-") and _REGION.fullmatch(code):
            return parse_region(code[:5]).code
    except RegionCodeError as exc:
        raise VerdictInputError(str(exc)) from None
    if not _REGION.fullmatch(code):
        raise VerdictInputError(
            f"region code must be GB/T 2260 (440300) or look like CN, CN-GD, US-CA; got {code!r}"
        )
    return code


def region_label(code: str) -> str:
    """A region for people: ``Guangdong 440304`` for a GB/T code, the code otherwise."""
    if _GBT.fullmatch(code):
        try:
            return f"{province_of(code).name_en} {code}"
        except RegionCodeError:
            return code
    return code


def region_covers(area_code: str, region: str) -> bool:
    """``440000`` covers ``440000`` and ``440304`` but not ``450000``; ``CN`` covers every
    Chinese code; ``US-CA`` covers ``US-CA`` and ``US-CA-LA``. Codes as :func:`check_region`
    writes them."""
    if _GBT.fullmatch(area_code) and _GBT.fullmatch(region):
        return covers(area_code, region)
    if area_code == "CN" and _GBT.fullmatch(region):
        return True
    return region == area_code or region.startswith(area_code + "-")


@dataclass(frozen=True, slots=True)
class Circle:
    centre: GeoPoint
    radius_km: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.radius_km) and self.radius_km > 0):
            raise VerdictInputError(f"circle radius must be > 0 km; got {self.radius_km}")


class AreaMatch(enum.StrEnum):
    INSIDE = "inside"
    OUTSIDE = "outside"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AuthorisedArea:
    """Where a distributor may sell: region codes and/or circles."""

    regions: tuple[str, ...] = ()
    circles: tuple[Circle, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "regions", tuple(check_region(c) for c in self.regions))
        if not self.regions and not self.circles:
            raise VerdictInputError("an authorised area needs at least one region or circle")

    def match(self, point: GeoPoint | None, region: str | None) -> AreaMatch:
        """INSIDE if any evidence places the scan inside; OUTSIDE only if evidence exists
        that can be compared with this area and none of it is inside; else UNKNOWN.

        A region coarser than the area's codes (``CN`` against ``CN-GD``) is not
        comparable: it neither proves nor disproves being inside."""
        comparable = False
        if region is not None and self.regions:
            if any(region_covers(code, region) for code in self.regions):
                return AreaMatch.INSIDE
            # A coarser region (CN for an area of CN-GD) may or may not be inside: unknown.
            comparable = not any(region_covers(region, code) for code in self.regions)
        if point is not None and self.circles:
            comparable = True
            for circle in self.circles:
                if haversine_km(point, circle.centre) <= circle.radius_km + point.accuracy_km:
                    return AreaMatch.INSIDE
        return AreaMatch.OUTSIDE if comparable else AreaMatch.UNKNOWN
