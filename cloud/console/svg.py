"""Inline SVG drawn on the server: time-series charts and point maps, no JavaScript.

Pure functions from values to SVG text. Every label is XML-escaped; the result is safe to
embed in an HTML page as it is (``markupsafe.Markup``). Charts scale with the page
(``viewBox`` + ``width: 100%`` in CSS), so one drawing serves a laptop and a phone.

Maps use an equirectangular projection of the points' bounding box (with a margin), with
a graticule every 1, 2, 5, 10 or 20 degrees: no tiles, no outline data, nothing fetched.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from html import escape

from markupsafe import Markup

__all__ = [
    "Band",
    "Bounds",
    "Line",
    "MapPoint",
    "Shape",
    "bounds_of",
    "line_chart",
    "point_map",
    "project",
    "zone_label",
]

_GRID_STEPS_DEG = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 45.0)


@dataclass(frozen=True, slots=True)
class Line:
    """One series: ``(time, value)`` points; ``None`` values break the line (no data)."""

    label: str
    points: tuple[tuple[datetime, float | None], ...]
    css_class: str = "s0"
    # Optional min/max envelope drawn behind the line.
    low: tuple[float | None, ...] = ()
    high: tuple[float | None, ...] = ()


@dataclass(frozen=True, slots=True)
class Band:
    """An allowed range (a storage profile), shaded; either bound may be open."""

    low: float | None
    high: float | None
    label: str


def _nice_step(span: float, ticks: int) -> float:
    if span <= 0:
        return 1.0
    raw = span / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def _time_step(span: timedelta, ticks: int = 8) -> timedelta:
    for hours in (0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 96, 168, 336, 720):
        step = timedelta(hours=hours)
        if span / step <= ticks:
            return step
    return timedelta(days=60)


def _fmt_time(t: datetime, span: timedelta) -> str:
    if span <= timedelta(days=1):
        return f"{t:%H:%M}"
    return f"{t:%m-%d %H:%M}" if span <= timedelta(days=3) else f"{t:%m-%d}"


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def _y_range(
    lines: Sequence[Line], band: Band | None, min_span: float
) -> tuple[float, float, bool]:
    """The value range of the chart: the data's, padded; a band limit joins it only when it
    is near the data (a far limit would squash the data into a line). Third: any data."""
    values = [v for line in lines for _, v in line.points if v is not None]
    values += [v for line in lines for v in (*line.low, *line.high) if v is not None]
    if not values:
        limits = [v for v in (band.low, band.high) if v is not None] if band else []
        return (min(limits) - 1, max(limits) + 1, False) if limits else (0.0, 1.0, False)
    lo, hi = min(values), max(values)
    if hi - lo < min_span:  # a steady reading is a steady line, not magnified noise
        mid = (hi + lo) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
    span = max(hi - lo, 1.0)
    if band is not None:
        for limit in (band.low, band.high):
            if limit is not None and lo - span * 0.6 <= limit <= hi + span * 0.6:
                lo, hi = min(lo, limit), max(hi, limit)
    pad = max((hi - lo) * 0.08, 0.5)
    return lo - pad, hi + pad, True


def _first_time(lines: Sequence[Line]) -> datetime | None:
    times = [t for line in lines for t, v in line.points if v is not None]
    return min(times) if times else None


def _excursions(
    line: Line, band: Band, step: timedelta
) -> list[tuple[datetime, datetime, str]]:
    """Runs of buckets whose value (or min/max envelope) is outside ``band``."""
    runs: list[tuple[datetime, datetime, str]] = []
    has_envelope = len(line.low) == len(line.points) == len(line.high)
    for i, (t, v) in enumerate(line.points):
        hi_v = line.high[i] if has_envelope and line.high[i] is not None else v
        lo_v = line.low[i] if has_envelope and line.low[i] is not None else v
        side = None
        if band.high is not None and hi_v is not None and hi_v > band.high:
            side = "above"
        elif band.low is not None and lo_v is not None and lo_v < band.low:
            side = "below"
        if side is None:
            continue
        if runs and runs[-1][2] == side and t - runs[-1][1] <= step * 1.5:
            runs[-1] = (runs[-1][0], t + step, side)
        else:
            runs.append((t, t + step, side))
    return runs


def _bucket(line: Line) -> timedelta:
    times = [t for t, _ in line.points]
    gaps = sorted(b - a for a, b in itertools.pairwise(times) if b > a)
    return gaps[len(gaps) // 2] if gaps else timedelta(minutes=1)


def zone_label(tz: tzinfo, at: datetime) -> str:
    """``China Standard Time (UTC+08:00)`` for Asia/Shanghai, ``UTC`` for UTC."""
    name = getattr(tz, "key", None) or str(tz)
    offset = at.astimezone(tz).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    utc = f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    if name in ("UTC", "Etc/UTC"):
        return "UTC"
    friendly = _ZONE_NAMES.get(name, name)
    return f"{friendly} ({utc})"


_ZONE_NAMES = {
    "Asia/Shanghai": "China Standard Time",
    "Asia/Hong_Kong": "Hong Kong Time",
    "Asia/Taipei": "Taipei Time",
    "Asia/Tokyo": "Japan Standard Time",
    "Asia/Singapore": "Singapore Time",
    "Europe/London": "London time",
    "Europe/Berlin": "Central European Time",
    "Europe/Paris": "Central European Time",
    "America/New_York": "US Eastern Time",
    "America/Los_Angeles": "US Pacific Time",
}


@dataclass(frozen=True, slots=True)
class _Frame:
    """Where a chart's plot area is and how values and times map into it."""

    left: float
    top: float
    width: float
    height: float
    start: datetime
    end: datetime
    lo: float
    hi: float

    def x(self, t: datetime) -> float:
        share = (t - self.start) / (self.end - self.start)
        return self.left + self.width * min(1.0, max(0.0, share))

    def y(self, v: float) -> float:
        clamped = min(self.hi, max(self.lo, v))
        return self.top + self.height * (1 - (clamped - self.lo) / (self.hi - self.lo))


def _band_parts(f: _Frame, band: Band, unit: str) -> list[str]:
    parts = []
    b_hi = f.y(band.high) if band.high is not None else f.top
    b_lo = f.y(band.low) if band.low is not None else f.top + f.height
    if b_lo > b_hi:
        parts.append(
            f'<rect class="band" x="{f.left}" y="{b_hi:.1f}" width="{f.width}" '
            f'height="{b_lo - b_hi:.1f}"><title>{escape(band.label)}</title></rect>'
        )
    right = f.left + f.width - 2
    for limit, word in ((band.high, "max"), (band.low, "min")):
        if limit is None:
            continue
        text = f"{word} {_fmt(limit)} {escape(unit)}"
        if f.lo <= limit <= f.hi:
            ly = f.y(limit)
            parts.append(
                f'<line class="limit" x1="{f.left}" x2="{f.left + f.width}" y1="{ly:.1f}" '
                f'y2="{ly:.1f}"/><text class="limit" x="{right}" y="{ly - 3:.1f}" '
                f'text-anchor="end">{text}</text>'
            )
        else:  # far from the data: named at the edge it lies beyond
            ly = f.top + 10 if limit > f.hi else f.top + f.height - 4
            arrow = "↑" if limit > f.hi else "↓"
            parts.append(
                f'<text class="limit" x="{right}" y="{ly:.1f}" text-anchor="end">'
                f"{text} {arrow}</text>"
            )
    return parts


def _excursion_parts(f: _Frame, lines: Sequence[Line], band: Band, tz: tzinfo) -> list[str]:
    parts = []
    for line in lines:
        for a, b, side in _excursions(line, band, _bucket(line)):
            xa, xb = f.x(a), f.x(b)
            when = f"{a.astimezone(tz):%m-%d %H:%M}–{b.astimezone(tz):%H:%M}"
            parts.append(
                f'<rect class="excursion" x="{xa:.1f}" y="{f.top}" '
                f'width="{max(1.5, xb - xa):.1f}" height="{f.height}"><title>'
                f"{escape(f'{side} the storage profile {when}')}</title></rect>"
            )
    return parts


def _axes(f: _Frame, step: float, tz: tzinfo) -> list[str]:
    parts = []
    tick = f.lo
    while tick <= f.hi + step / 2:
        ty = f.y(tick)
        parts.append(
            f'<line class="grid" x1="{f.left}" x2="{f.left + f.width}" y1="{ty:.1f}" '
            f'y2="{ty:.1f}"/><text class="tick" x="{f.left - 4}" y="{ty + 4:.1f}" '
            f'text-anchor="end">{_fmt(tick)}</text>'
        )
        tick += step
    span = f.end - f.start
    t_step = _time_step(span, max(3, int(f.width // 85)))
    epoch = datetime(2000, 1, 3, tzinfo=tz)  # ticks fall on the viewer's round hours
    t = epoch + math.ceil((f.start.astimezone(tz) - epoch) / t_step) * t_step
    while t <= f.end:
        tx = f.x(t)
        parts.append(
            f'<line class="grid" x1="{tx:.1f}" x2="{tx:.1f}" y1="{f.top}" '
            f'y2="{f.top + f.height}"/><text class="tick" x="{tx:.1f}" '
            f'y="{f.top + f.height + 14}" text-anchor="middle">'
            f"{_fmt_time(t.astimezone(tz), span)}</text>"
        )
        t += t_step
    return parts


def line_chart(
    lines: Sequence[Line],
    *,
    start: datetime,
    end: datetime,
    unit: str,
    title: str,
    band: Band | None = None,
    width: int = 720,
    height: int = 240,
    tz: tzinfo = UTC,
    min_span: float = 1.0,
) -> Markup:
    """A time chart of ``lines`` over ``[start, end)`` with an optional allowed ``band``.

    Times are shown in ``tz`` (said under the axis). The value axis fits the data (a band
    limit far from it is named at the edge instead of squashing the lines); a range that
    began well before the first reading starts at it (and says so). Buckets outside the
    band are shaded red, with when and which side in their tooltip."""
    if end <= start:
        raise ValueError(f"chart end {end.isoformat()} must be after start {start.isoformat()}")
    first = _first_time(lines)
    trimmed = first is not None and first - start > (end - start) * 0.1
    if trimmed and first is not None:
        start = first
    lo, hi, has_data = _y_range(lines, band, min_span)
    step = _nice_step(hi - lo, 5)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    f = _Frame(44, 22, width - 54, height - 75, start, end, lo, hi)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if band is not None:
        parts += _band_parts(f, band, unit)
        parts += _excursion_parts(f, lines, band, tz)
    parts += _axes(f, step, tz)
    notes = [f"Time: {zone_label(tz, end)}"]
    if trimmed and first is not None:
        notes.append(f"no readings before {first.astimezone(tz):%m-%d %H:%M}")
    if len(" · ".join(notes)) * 6.2 <= f.width:
        notes = [" · ".join(notes)]
    for i, note in enumerate(reversed(notes)):
        parts.append(
            f'<text class="axis" x="{f.left + f.width}" y="{height - 6 - 13 * i}" '
            f'text-anchor="end">{escape(note)}</text>'
        )
    parts.append(f'<text class="unit" x="4" y="14">{escape(unit)}</text>')
    for line in lines:
        parts.extend(_envelope(line, f.x, f.y))
        parts.extend(_polylines(line, f.x, f.y))
    if not has_data:
        parts.append(
            f'<text class="empty" x="{f.left + f.width / 2}" y="{f.top + f.height / 2}" '
            'text-anchor="middle">no data in this range</text>'
        )
    legend_x = f.left + 6
    for line in lines:
        parts.append(
            f'<text class="legend {line.css_class}" x="{legend_x}" y="{f.top - 6}">'
            f"{escape(line.label)}</text>"
        )
        legend_x += 12 + 7 * len(line.label)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated label is escaped above


def _polylines(
    line: Line, x: Callable[[datetime], float], y: Callable[[float], float]
) -> list[str]:
    out: list[str] = []
    for run in _runs(line.points):
        if len(run) == 1:
            (t0, v0) = run[0]
            out.append(
                f'<circle class="line {line.css_class}" cx="{x(t0):.1f}" cy="{y(v0):.1f}" r="2"/>'
            )
        else:
            coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            out.append(f'<polyline class="line {line.css_class}" points="{coords}"/>')
    return out


def _runs(
    points: Sequence[tuple[datetime, float | None]],
) -> list[list[tuple[datetime, float]]]:
    runs: list[list[tuple[datetime, float]]] = [[]]
    for t, v in points:
        if v is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((t, v))
    return [r for r in runs if r]


def _envelope(line: Line, x: Callable[[datetime], float], y: Callable[[float], float]) -> list[str]:
    if not line.low or len(line.low) != len(line.points) or len(line.high) != len(line.points):
        return []
    upper = [(t, h) for (t, _), h in zip(line.points, line.high, strict=True) if h is not None]
    lower = [(t, lo) for (t, _), lo in zip(line.points, line.low, strict=True) if lo is not None]
    if len(upper) < 2 or len(lower) < 2:
        return []
    coords = [f"{x(t):.1f},{y(v):.1f}" for t, v in upper]
    coords += [f"{x(t):.1f},{y(v):.1f}" for t, v in reversed(lower)]
    return [f'<polygon class="envelope {line.css_class}" points="{" ".join(coords)}"/>']


# --------------------------------------------------------------------------------- maps


@dataclass(frozen=True, slots=True)
class Bounds:
    south: float
    west: float
    north: float
    east: float


@dataclass(frozen=True, slots=True)
class MapPoint:
    """A point on a map; ``href`` makes it a link, ``radius`` scales it (clusters).

    ``label`` is its tooltip; ``name`` the text written beside it on a labelled map;
    ``rank`` orders points of a cluster (the cluster takes its worst member's class)."""

    lat: float
    lon: float
    label: str
    css_class: str
    href: str | None = None
    radius: float = 6.0
    name: str | None = None
    rank: int = 0


@dataclass(frozen=True, slots=True)
class Shape:
    """A region drawn under the points: rings of ``(lon, lat)``, its name at ``label``."""

    name: str
    label: tuple[float, float]
    rings: tuple[tuple[tuple[float, float], ...], ...]


def bounds_of(points: Sequence[MapPoint], margin: float = 0.15) -> Bounds:
    """The points' bounding box grown by ``margin`` of its size (at least 1°) each way."""
    if not points:
        return Bounds(-60.0, -180.0, 75.0, 180.0)
    south, north = min(p.lat for p in points), max(p.lat for p in points)
    west, east = min(p.lon for p in points), max(p.lon for p in points)
    pad_lat = max((north - south) * margin, 1.0)
    pad_lon = max((east - west) * margin, 1.0)
    return Bounds(
        max(-90.0, south - pad_lat),
        max(-180.0, west - pad_lon),
        min(90.0, north + pad_lat),
        min(180.0, east + pad_lon),
    )


def project(
    lat: float, lon: float, bounds: Bounds, width: float, height: float
) -> tuple[float, float]:
    """Equirectangular ``(x, y)`` of a point inside ``bounds`` drawn ``width`` × ``height``."""
    x = (lon - bounds.west) / (bounds.east - bounds.west) * width
    y = (bounds.north - lat) / (bounds.north - bounds.south) * height
    return x, y


def _landscape(bounds: Bounds, max_aspect: float = 0.75) -> Bounds:
    """``bounds`` widened east and west so the drawing is no taller than ``max_aspect`` of
    its width (a screen is wider than tall; a north-south channel would be a thin strip)."""
    cos_mid = max(0.1, math.cos(math.radians((bounds.north + bounds.south) / 2)))
    wanted = (bounds.north - bounds.south) / (max_aspect * cos_mid)
    extra = max(0.0, wanted - (bounds.east - bounds.west)) / 2
    west, east = max(-180.0, bounds.west - extra), min(180.0, bounds.east + extra)
    return Bounds(bounds.south, west, bounds.north, east)


def _view(points: Sequence[MapPoint], min_span: float) -> Bounds:
    if not points and min_span > 0:
        return Bounds(17.5, 73.0, 54.0, 135.5)  # China
    bounds = bounds_of(points)
    lat_pad = max(0.0, min_span - (bounds.north - bounds.south)) / 2
    lon_pad = max(0.0, min_span - (bounds.east - bounds.west)) / 2
    return Bounds(max(-90.0, bounds.south - lat_pad), max(-180.0, bounds.west - lon_pad),
                  min(90.0, bounds.north + lat_pad), min(180.0, bounds.east + lon_pad))  # fmt: skip


def _shape_parts(
    shapes: Sequence[Shape], bounds: Bounds, width: float, height: float
) -> list[str]:
    parts: list[str] = []
    labels: list[str] = []
    for shape in shapes:
        lons = [p[0] for r in shape.rings for p in r]
        lats = [p[1] for r in shape.rings for p in r]
        if not lons or max(lons) < bounds.west or min(lons) > bounds.east:
            continue
        if max(lats) < bounds.south or min(lats) > bounds.north:
            continue
        d = []
        for ring in shape.rings:
            xy = [project(lat, lon, bounds, width, height) for lon, lat in ring]
            d.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in xy) + "Z")
        parts.append(
            f'<path class="region" fill-rule="evenodd" d="{"".join(d)}">'
            f"<title>{escape(shape.name)}</title></path>"
        )
        lx, ly = project(shape.label[1], shape.label[0], bounds, width, height)
        x0, y0 = project(max(lats), min(lons), bounds, width, height)
        x1, y1 = project(min(lats), max(lons), bounds, width, height)
        if 20 < lx < width - 20 and 12 < ly < height - 6 and (x1 - x0) > 40 and (y1 - y0) > 16:
            labels.append(
                f'<text class="region-name" x="{lx:.1f}" y="{ly:.1f}" text-anchor="middle">'
                f"{escape(shape.name)}</text>"
            )
    return parts + labels


def _clusters(
    points: Sequence[MapPoint], bounds: Bounds, width: float, height: float, cluster_px: float
) -> list[list[tuple[MapPoint, float, float]]]:
    """Points within ``cluster_px`` of a cluster's first point join it (worst first)."""
    groups: list[list[tuple[MapPoint, float, float]]] = []
    for p in sorted(points, key=lambda q: (-q.rank, q.label)):
        px, py = project(p.lat, p.lon, bounds, width, height)
        if cluster_px <= 0:
            groups.append([(p, px, py)])
            continue
        for group in groups:
            _, gx, gy = group[0]
            if math.hypot(px - gx, py - gy) <= cluster_px:
                group.append((p, px, py))
                break
        else:
            groups.append([(p, px, py)])
    return groups


def _free(box: tuple[float, float, float, float], taken: list[tuple[float, ...]]) -> bool:
    x0, y0, x1, y1 = box
    return all(x1 < a or x0 > c or y1 < b or y0 > d for a, b, c, d in taken)


def _text_width(text: str) -> float:
    return sum(12.0 if ord(c) > 0x2E80 else 6.6 for c in text)


def _label(name: str, px: float, py: float, r: float, width: float, height: float,
           taken: list[tuple[float, ...]]) -> str | None:  # fmt: skip
    """A name beside a point where it overlaps no other name (right, left, above, below)."""
    w, h = _text_width(name), 13.0
    for x, y, anchor in ((px + r + 3, py + 4, "start"), (px - r - 3, py + 4, "end"),
                         (px, py - r - 4, "middle"), (px, py + r + 13, "middle")):  # fmt: skip
        x0 = x if anchor == "start" else x - w if anchor == "end" else x - w / 2
        box = (x0, y - h + 3, x0 + w, y + 3)
        if box[0] < 0 or box[2] > width or box[1] < 0 or box[3] > height:
            continue
        if _free(box, taken):
            taken.append(box)
            return (f'<text class="site-name" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">'
                    f"{escape(name)}</text>")  # fmt: skip
    return None


def point_map(
    points: Sequence[MapPoint],
    *,
    title: str,
    width: int = 720,
    shapes: Sequence[Shape] = (),
    cluster_px: float = 0.0,
    min_span: float = 0.0,
) -> Markup:
    """A map of ``points`` over a graticule and the ``shapes`` (province outlines); its
    height keeps the box's aspect ratio. Named points are labelled where their names do not
    overlap; with ``cluster_px``, points that close together are drawn as one circle with
    their count (tooltip: each one). ``min_span`` (degrees) keeps a map of one city wide
    enough to see where it is (and an empty map shows China)."""
    bounds = _landscape(_view(points, min_span))
    mid_lat = math.radians((bounds.north + bounds.south) / 2)
    aspect = (bounds.north - bounds.south) / ((bounds.east - bounds.west) * math.cos(mid_lat))
    height = max(200, min(900, round(width * aspect)))
    parts = [
        f'<svg class="map" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<rect class="sea" width="{width}" height="{height}"/>',
    ]
    parts += _shape_parts(shapes, bounds, width, height)
    span = max(bounds.north - bounds.south, bounds.east - bounds.west)
    step = next((s for s in _GRID_STEPS_DEG if span / s <= 8), 90.0)
    lat = math.ceil(bounds.south / step) * step
    while lat <= bounds.north:
        _, gy = project(lat, bounds.west, bounds, width, height)
        parts.append(
            f'<line class="grid" x1="0" x2="{width}" y1="{gy:.1f}" y2="{gy:.1f}"/>'
            f'<text class="tick" x="3" y="{gy - 3:.1f}">{_fmt(lat)}°</text>'
        )
        lat += step
    lon = math.ceil(bounds.west / step) * step
    while lon <= bounds.east:
        gx, _ = project(bounds.south, lon, bounds, width, height)
        parts.append(
            f'<line class="grid" x1="{gx:.1f}" x2="{gx:.1f}" y1="0" y2="{height}"/>'
            f'<text class="tick" x="{gx + 3:.1f}" y="{height - 4}">{_fmt(lon)}°</text>'
        )
        lon += step
    groups = _clusters(points, bounds, width, height, cluster_px)
    taken: list[tuple[float, ...]] = []
    for group in sorted(groups, key=lambda g: -max(p.radius for p, _, _ in g)):
        first, gx, gy = group[0]
        if len(group) == 1:
            dot = (
                f'<circle class="pt {escape(first.css_class)}" cx="{gx:.1f}" cy="{gy:.1f}" '
                f'r="{first.radius:.1f}"><title>{escape(first.label)}</title></circle>'
            )
            if first.href is not None:
                dot = f'<a href="{escape(first.href)}" aria-label="{escape(first.label)}">{dot}</a>'
            parts.append(dot)
            taken.append((gx - first.radius, gy - first.radius, gx + first.radius,
                          gy + first.radius))  # fmt: skip
            continue
        cx = sum(x for _, x, _ in group) / len(group)
        cy = sum(y for _, _, y in group) / len(group)
        r = min(22.0, 10.0 + 2.0 * len(group))
        tip = "\n".join(p.label for p, _, _ in group)
        parts.append(
            f'<g class="cluster-group"><circle class="pt cluster-pt {escape(first.css_class)}" '
            f'cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}"><title>{escape(tip)}</title></circle>'
            f'<text class="cluster-count" x="{cx:.1f}" y="{cy + 4:.1f}" text-anchor="middle">'
            f"{len(group)}<title>{escape(tip)}</title></text></g>"
        )
        taken.append((cx - r, cy - r, cx + r, cy + r))
    for group in groups:  # names after every dot is placed, so no name covers a dot
        first, gx, gy = group[0]
        if len(group) == 1 and first.name:
            text = _label(first.name, gx, gy, first.radius, width, height, taken)
            if text is not None:
                parts.append(text)
    if not points:
        parts.append(
            f'<text class="empty" x="{width / 2}" y="{height / 2}" text-anchor="middle">'
            "nothing to show</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated label is escaped above
