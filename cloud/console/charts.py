"""Page data → drawings: which lines, bands and points each page's SVG shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from markupsafe import Markup

from cloud.api.schemas import Series
from cloud.console.explorer import ScanMap
from cloud.console.pages import SiteDetail, SiteSummary, profile_band
from cloud.console.svg import Band, Line, MapPoint, line_chart, point_map

__all__ = ["scan_drawing", "site_charts", "site_map"]

_METRICS = (
    ("temperature_c", "Temperature", "°C"),
    ("humidity_pct", "Relative humidity", "%"),
)


def site_map(sites: Sequence[SiteSummary]) -> Markup:
    points = [
        MapPoint(
            lat=s.latitude,
            lon=s.longitude,
            label=f"{s.name} ({s.id}): {s.status.value}"
            + (f", {s.open_alerts} open alert(s)" if s.open_alerts else ""),
            css_class=f"st-{s.status.value}",
            href=f"/console/sites/{quote(s.id, safe='')}",
            radius=7.0,
        )
        for s in sites
        if s.latitude is not None and s.longitude is not None
    ]
    return point_map(points, title="Channel map: sites by status")


def _line(series: Series | None, label: str) -> Line:
    points = series.points if series is not None else []
    return Line(
        label=label,
        points=tuple((p.time, p.avg) for p in points),
        css_class="s0",
        low=tuple(p.min for p in points),
        high=tuple(p.max for p in points),
    )


def site_charts(detail: SiteDetail, start: datetime, end: datetime) -> dict[str, Markup]:
    """One chart per metric with the band every stocked product tolerates."""
    profiles = list(detail.products.values())
    out: dict[str, Markup] = {}
    for metric, title, unit in _METRICS:
        series = detail.temperature if metric == "temperature_c" else detail.humidity
        low, high = profile_band(profiles, metric)
        band = None
        if (low is not None or high is not None) and (low is None or high is None or low <= high):
            shown = f"{'' if low is None else f'{low:g}'} – {'' if high is None else f'{high:g}'}"
            band = Band(low, high, f"storage profile {shown} {unit}")
        out[metric] = line_chart(
            [_line(series, f"{title} (avg, min–max)")],
            start=start,
            end=end,
            unit=unit,
            title=f"{title} at {detail.site.name}",
            band=band,
        )
    return out


_VERDICT_CLASS = {
    "genuine": "v-ok",
    "genuine_seen_before": "v-ok",
    "suspected_diversion": "v-div",
    "suspected_clone": "v-clone",
    "counterfeit": "v-fake",
}


def scan_drawing(data: ScanMap) -> Markup:
    points = [
        MapPoint(
            lat=c.lat,
            lon=c.lon,
            label=f"{c.verdict}: {c.scans} scan(s) of {c.codes} code(s)",
            css_class=f"cluster {_VERDICT_CLASS.get(c.verdict, 'v-ok')}",
            radius=min(30.0, 8.0 + 3.0 * c.scans**0.5),
        )
        for c in data.clusters
        if c.lat is not None and c.lon is not None
    ]
    points += [
        MapPoint(
            lat=p["lat"],
            lon=p["lon"],
            label=f"{p['scanned_at']:%Y-%m-%d %H:%M} {p['verdict']} {p['gtin'] or ''}"
            f" {p['serial'] or ''}",
            css_class=_VERDICT_CLASS.get(p["verdict"], "v-ok"),
            radius=4.0,
        )
        for p in data.points
        if p["lat"] is not None and p["lon"] is not None
    ]
    return point_map(points, title="Consumer scans and suspicious clusters")
