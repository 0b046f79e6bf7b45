"""Page data → drawings: which lines, bands and points each page's SVG shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from urllib.parse import quote

from markupsafe import Markup

from cloud.api.schemas import Series
from cloud.channel.outlines import Outline
from cloud.console.explorer import ScanMap
from cloud.console.pages import SiteDetail, SiteSummary, profile_band
from cloud.console.svg import Band, Line, MapPoint, Shape, line_chart, point_map

__all__ = ["scan_drawing", "site_charts", "site_map"]

_METRICS = (
    ("temperature_c", "Temperature", "°C", 4.0),
    ("humidity_pct", "Relative humidity", "%", 10.0),
)


_RANK = {"alert": 4, "offline": 3, "stale": 2, "ok": 1, "unmonitored": 0}


def _shapes(outlines: Sequence[Outline]) -> list[Shape]:
    return [Shape(o.name, o.label, o.rings) for o in outlines]


def site_map(
    sites: Sequence[SiteSummary],
    names: Mapping[str, str],
    outlines: Sequence[Outline] = (),
    *,
    width: int = 720,
) -> Markup:
    """Sites by status over the province outlines, named, clustered when they crowd."""
    points = []
    for s in sites:
        if s.latitude is None or s.longitude is None:
            continue
        operator = names.get(s.distributor_id, s.distributor_id) if s.distributor_id else None
        label = f"{s.name} — {s.status.value}"
        if s.open_alerts:
            label += f", {s.open_alerts} open alert(s)"
        if operator:
            label += f"\noperated by {operator}"
        points.append(
            MapPoint(
                lat=s.latitude, lon=s.longitude, label=label, css_class=f"st-{s.status.value}",
                href=f"/console/sites/{quote(s.id, safe='')}", radius=7.0, name=s.name,
                rank=_RANK.get(s.status.value, 0),
            )
        )
    return point_map(points, title="Channel map: sites by status", shapes=_shapes(outlines),
                     cluster_px=16.0, min_span=6.0, width=width)  # fmt: skip


def _line(series: Series | None, label: str) -> Line:
    points = series.points if series is not None else []
    return Line(
        label=label,
        points=tuple((p.time, p.avg) for p in points),
        css_class="s0",
        low=tuple(p.min for p in points),
        high=tuple(p.max for p in points),
    )


def site_charts(
    detail: SiteDetail, start: datetime, end: datetime, *, tz: tzinfo = UTC
) -> dict[str, Markup]:
    """Per metric, with the band every stocked product tolerates, in ``tz``: a chart for a
    wide screen (``temperature_c``) and a narrower one for a phone (``temperature_c:narrow``),
    so that its text stays legible once scaled to the screen."""
    profiles = list(detail.products.values())
    out: dict[str, Markup] = {}
    for metric, title, unit, min_span in _METRICS:
        series = detail.temperature if metric == "temperature_c" else detail.humidity
        low, high = profile_band(profiles, metric)
        band = None
        if (low is not None or high is not None) and (low is None or high is None or low <= high):
            shown = f"{'' if low is None else f'{low:g}'} – {'' if high is None else f'{high:g}'}"
            band = Band(low, high, f"storage profile {shown} {unit}")
        for key, width, height in ((metric, 720, 250), (f"{metric}:narrow", 380, 240)):
            out[key] = line_chart(
                [_line(series, f"{title} (avg, min–max)")],
                start=start, end=end, unit=unit, title=f"{title} at {detail.site.name}",
                band=band, tz=tz, width=width, height=height, min_span=min_span,
            )  # fmt: skip
    return out


_VERDICT_CLASS = {
    "genuine": "v-ok",
    "genuine_seen_before": "v-ok",
    "inconsistent_custody": "v-div",
    "suspected_diversion": "v-div",
    "suspected_clone": "v-clone",
    "recalled": "v-fake",
    "counterfeit": "v-fake",
    "reported": "v-fake",  # a shopper reported a suspected fake (issue 15)
}


def scan_drawing(data: ScanMap, outlines: Sequence[Outline] = ()) -> Markup:
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
    return point_map(points, title="Consumer scans and suspicious clusters",
                     shapes=_shapes(outlines), min_span=6.0)  # fmt: skip
