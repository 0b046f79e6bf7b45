"""The SVG drawings: scaling, gaps, bands, escaping, projection."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.console.svg import Band, Line, MapPoint, bounds_of, line_chart, point_map, project

T0 = datetime(2026, 11, 22, tzinfo=UTC)


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_line_chart_breaks_lines_at_missing_values_and_shades_the_band() -> None:
    points = tuple((T0 + timedelta(minutes=10 * i), None if i == 3 else 10.0 + i) for i in range(7))
    svg = line_chart(
        [Line("temp", points)], start=T0, end=T0 + timedelta(hours=1), unit="°C", title="t",
        band=Band(10.0, 12.0, "profile"),
    )  # fmt: skip
    root = _parse(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 2  # 0..2 and 4..6
    band = root.find(f"{ns}rect[@class='band']")
    assert band is not None
    assert float(band.attrib["height"]) > 0


def test_every_label_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    chart = line_chart([Line(evil, ())], start=T0, end=T0 + timedelta(hours=1), unit=evil,
                       title=evil)  # fmt: skip
    drawing = point_map([MapPoint(1.0, 2.0, evil, "st-ok", href='/x?"><script>')], title=evil)
    for svg in (chart, drawing):
        assert "<script>" not in svg
        _parse(svg)
    assert "no data in this range" in chart


def test_chart_refuses_an_empty_range() -> None:
    with pytest.raises(ValueError, match="after start"):
        line_chart([], start=T0, end=T0, unit="", title="")


def test_map_links_points_and_keeps_them_inside() -> None:
    points = [MapPoint(31.2, 121.5, "a", "st-ok", href="/console/sites/a"),
              MapPoint(23.1, 113.3, "b", "st-alert")]  # fmt: skip
    svg = point_map(points, title="m")
    root = _parse(svg)
    view = [float(v) for v in root.attrib["viewBox"].split()]
    circles = re.findall(r'cx="([0-9.]+)" cy="([0-9.]+)"', svg)
    assert len(circles) == 2
    for cx, cy in circles:
        assert 0 < float(cx) < view[2]
        assert 0 < float(cy) < view[3]
    assert svg.count("<a href=") == 1


@given(st.lists(st.tuples(st.floats(-89, 89), st.floats(-179, 179)), min_size=1, max_size=20))
def test_projection_keeps_every_point_within_its_bounds(coords: list[tuple[float, float]]) -> None:
    points = [MapPoint(lat, lon, "", "") for lat, lon in coords]
    bounds = bounds_of(points)
    for p in points:
        x, y = project(p.lat, p.lon, bounds, 100, 50)
        assert -1e-9 <= x <= 100 + 1e-9
        assert -1e-9 <= y <= 50 + 1e-9
