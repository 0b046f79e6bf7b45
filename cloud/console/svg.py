"""Inline SVG drawn on the server: time-series charts and point maps, no JavaScript.

Pure functions from values to SVG text. Every label is XML-escaped; the result is safe to
embed in an HTML page as it is (``markupsafe.Markup``). Charts scale with the page
(``viewBox`` + ``width: 100%`` in CSS), so one drawing serves a laptop and a phone.

Maps use an equirectangular projection of the points' bounding box (with a margin), with
a graticule every 1, 2, 5, 10 or 20 degrees: no tiles, no outline data, nothing fetched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from markupsafe import Markup

__all__ = [
    "Band",
    "Bounds",
    "Line",
    "MapPoint",
    "bounds_of",
    "line_chart",
    "point_map",
    "project",
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


def _time_step(span: timedelta) -> timedelta:
    for hours in (0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 96, 168, 336, 720):
        step = timedelta(hours=hours)
        if span / step <= 8:
            return step
    return timedelta(days=60)


def _fmt_time(t: datetime, span: timedelta) -> str:
    if span <= timedelta(days=1):
        return f"{t:%H:%M}"
    return f"{t:%m-%d %H:%M}" if span <= timedelta(days=3) else f"{t:%m-%d}"


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


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
) -> Markup:
    """A time chart of ``lines`` over ``[start, end)`` with an optional allowed ``band``."""
    if end <= start:
        raise ValueError(f"chart end {end.isoformat()} must be after start {start.isoformat()}")
    left, right, top, bottom = 44, 10, 22, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for line in lines for _, v in line.points if v is not None]
    values += [v for line in lines for v in (*line.low, *line.high) if v is not None]
    if band is not None:
        values += [v for v in (band.low, band.high) if v is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    step = _nice_step(hi - lo, 5)
    lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    span = end - start

    def x(t: datetime) -> float:
        return left + plot_w * ((t - start) / span)

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if band is not None:
        b_hi = y(min(band.high, hi)) if band.high is not None else top
        b_lo = y(max(band.low, lo)) if band.low is not None else top + plot_h
        if b_lo > b_hi:
            parts.append(
                f'<rect class="band" x="{left}" y="{b_hi:.1f}" width="{plot_w}" '
                f'height="{b_lo - b_hi:.1f}"><title>{escape(band.label)}</title></rect>'
            )
    tick = lo
    while tick <= hi + step / 2:
        ty = y(tick)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{left + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}"/>'
            f'<text class="tick" x="{left - 4}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{_fmt(tick)}</text>"
        )
        tick += step
    t_step = _time_step(span)
    epoch = datetime(2000, 1, 3, tzinfo=start.tzinfo)
    t = epoch + math.ceil((start - epoch) / t_step) * t_step
    while t <= end:
        tx = x(t)
        parts.append(
            f'<line class="grid" x1="{tx:.1f}" x2="{tx:.1f}" y1="{top}" y2="{top + plot_h}"/>'
            f'<text class="tick" x="{tx:.1f}" y="{height - 8}" text-anchor="middle">'
            f"{_fmt_time(t, span)}</text>"
        )
        t += t_step
    parts.append(f'<text class="unit" x="4" y="14">{escape(unit)}</text>')
    for line in lines:
        parts.extend(_envelope(line, x, y))
        parts.extend(_polylines(line, x, y))
    if not values:
        parts.append(
            f'<text class="empty" x="{left + plot_w / 2}" y="{top + plot_h / 2}" '
            'text-anchor="middle">no data in this range</text>'
        )
    legend_x = left + 6
    for line in lines:
        parts.append(
            f'<text class="legend {line.css_class}" x="{legend_x}" y="{top - 6}">'
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
    """A point on a map; ``href`` makes it a link, ``radius`` scales it (clusters)."""

    lat: float
    lon: float
    label: str
    css_class: str
    href: str | None = None
    radius: float = 6.0


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


def point_map(points: Sequence[MapPoint], *, title: str, width: int = 720) -> Markup:
    """A map of ``points`` over a graticule; its height keeps the box's aspect ratio."""
    bounds = _landscape(bounds_of(points))
    mid_lat = math.radians((bounds.north + bounds.south) / 2)
    aspect = (bounds.north - bounds.south) / ((bounds.east - bounds.west) * math.cos(mid_lat))
    height = max(200, min(900, round(width * aspect)))
    parts = [
        f'<svg class="map" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<rect class="sea" width="{width}" height="{height}"/>',
    ]
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
    for p in sorted(points, key=lambda p: -p.radius):  # big clusters below small points
        px, py = project(p.lat, p.lon, bounds, width, height)
        dot = (
            f'<circle class="pt {escape(p.css_class)}" cx="{px:.1f}" cy="{py:.1f}" '
            f'r="{p.radius:.1f}"><title>{escape(p.label)}</title></circle>'
        )
        if p.href is not None:
            dot = f'<a href="{escape(p.href)}" aria-label="{escape(p.label)}">{dot}</a>'
        parts.append(dot)
    if not points:
        parts.append(
            f'<text class="empty" x="{width / 2}" y="{height / 2}" text-anchor="middle">'
            "nothing to show</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated label is escaped above
