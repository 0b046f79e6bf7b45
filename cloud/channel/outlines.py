"""Province outlines for maps, from the geocoder's own boundary data (no file of ours, no
download): each province's polygons simplified (Douglas–Peucker) to what a map on a screen
can show, with the point where its name goes.

The boundaries are those of :mod:`cloud.channel.geocode` (``geotool-cn``, DataV GeoAtlas
data; licence in docs/channel-setup.md). ``geotool-cn`` has no public call for its
polygons, so they are read through its data file's reader; a release that changes that
reader gives no outlines (logged once) and maps draw without them — nothing else breaks.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from cloud.channel.geocode import Geocoder
from cloud.channel.regions import PROVINCES

__all__ = ["Outline", "province_outlines", "simplify"]

_logger = logging.getLogger(__name__)

Ring = tuple[tuple[float, float], ...]  # (lon, lat) pairs, closed


@dataclass(frozen=True, slots=True)
class Outline:
    code: str
    name: str  # Chinese
    name_en: str
    label: tuple[float, float]  # (lon, lat) where its name goes
    rings: tuple[Ring, ...]  # outer rings and holes alike (drawn with even-odd fill)

    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north)."""
        lons = [p[0] for r in self.rings for p in r]
        lats = [p[1] for r in self.rings for p in r]
        return min(lons), min(lats), max(lons), max(lats)


def simplify(points: Sequence[tuple[float, float]], tolerance: float) -> list[tuple[float, float]]:
    """Douglas–Peucker: the fewest points within ``tolerance`` (degrees) of the line."""
    if len(points) < 3:
        return list(points)
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = points[first], points[last]
        dx, dy = x2 - x1, y2 - y1
        norm = math.hypot(dx, dy)
        worst, index = -1.0, -1
        for i in range(first + 1, last):
            px, py = points[i]
            if norm == 0:
                distance = math.hypot(px - x1, py - y1)
            else:
                distance = abs(dy * px - dx * py + x2 * y1 - y2 * x1) / norm
            if distance > worst:
                worst, index = distance, i
        if worst > tolerance and index > 0:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, k in zip(points, keep, strict=True) if k]


@functools.lru_cache(maxsize=4)
def province_outlines(geocoder: Geocoder, tolerance: float = 0.02) -> tuple[Outline, ...]:
    """The 34 provinces' simplified outlines (computed once per geocoder, ~0.1 s)."""
    try:
        data = geocoder.boundary_reader()  # a library internal (see the module docstring)
        scale = float(data.scale)
        start, end = data.level_ranges["province"]
        english = {p.code: p.name_en for p in PROVINCES}
        outlines = []
        for index in range(start, end):
            decoded = data.geometry(index)
            if decoded is None:
                continue
            rings: list[Ring] = []
            for polygon in decoded[1]:
                for xs, ys in polygon:
                    points = [(x / scale, y / scale) for x, y in zip(xs, ys, strict=True)]
                    span = max(p[0] for p in points) - min(p[0] for p in points)
                    span += max(p[1] for p in points) - min(p[1] for p in points)
                    if span < tolerance * 4:  # an islet smaller than a pixel or two
                        continue
                    rings.append(tuple(simplify(points, tolerance)))
            code = data.adcodes[index]
            outlines.append(
                Outline(code, data.names[index], english.get(code, ""),
                        (data.lngs[index], data.lats[index]), tuple(rings))
            )
        return tuple(outlines)
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        _logger.warning("province outlines unavailable from the geocoder's data: %s", exc)
        return ()
