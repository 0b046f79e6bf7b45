"""Offline reverse geocoding: time per lookup and accuracy near borders, with a baseline.

Run: ``.venv/bin/python bench/geocode.py [--points 20000]``. Prints figures; asserts nothing.

Measured in the same run (machine speed varies 4x from day to day, so compare the columns,
not yesterday's figures):

- the geocoder (:class:`cloud.channel.geocode.Geocoder`, boundary polygons) on city centres,
  on uniformly random points of China's bounding box (many fall abroad or at sea), and on
  points 0–5 km from a provincial border;
- the baseline: the obvious alternative, nearest of the data's 363 city centres (a linear
  scan with haversine, pure Python), on the same points;
- the ceiling of this machine for pure-Python work: one haversine distance;
- the province both agree on for the border points (how often nearest-centre is wrong
  exactly where diversion is decided).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cloud.channel.geocode import Geocoder, Place  # noqa: E402
from cloud.channel.regions import Level  # noqa: E402

# Towns on provincial borders (tests/cloud/channel/test_geocode.py): their province.
BORDER_TOWNS = [
    (22.5405, 114.1180, "440000"), (22.5016, 114.1278, "810000"), (22.2220, 113.5520, "440000"),
    (22.1937, 113.5401, "820000"), (31.3015, 121.0960, "320000"), (31.2925, 121.1645, "310000"),
    (31.5100, 121.2900, "320000"), (31.1160, 120.8460, "320000"), (31.1100, 121.0500, "310000"),
    (30.8880, 121.0150, "310000"), (29.7300, 115.9950, "360000"), (29.7700, 115.9650, "420000"),
    (40.0097, 119.7536, "130000"), (39.9450, 116.8250, "130000"), (39.9300, 116.7300, "110000"),
]  # fmt: skip


def haversine_km(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    dp, dl = p2 - p1, math.radians(b_lon - a_lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 12742.0 * math.asin(min(1.0, math.sqrt(h)))


def city_centres() -> list[tuple[float, float, str]]:
    from GeoToolCN import GeoTool

    tool = GeoTool()
    return [
        (r.latitude, r.longitude, r.code)
        for r in tool.list_regions("city")
        if r.latitude is not None and r.longitude is not None
    ]


def nearest_centre(centres: list[tuple[float, float, str]], lat: float, lon: float) -> str:
    return min(centres, key=lambda c: haversine_km(lat, lon, c[0], c[1]))[2]


def per_lookup_us(func: object, points: list[tuple[float, float]]) -> float:
    call = func  # type: ignore[assignment]
    start = time.perf_counter()
    for lat, lon in points:
        call(lat, lon)  # type: ignore[operator]
    return (time.perf_counter() - start) / len(points) * 1e6


def near_border(geocoder: Geocoder, rng: random.Random, count: int) -> list[tuple[float, float]]:
    """Points 0–5 km from the border towns in random directions."""
    out = []
    for _ in range(count):
        lat, lon, _ = rng.choice(BORDER_TOWNS)
        km, angle = rng.uniform(0, 5), rng.uniform(0, 2 * math.pi)
        out.append(
            (
                lat + km / 111.2 * math.cos(angle),
                lon + km / (111.2 * math.cos(math.radians(lat))) * math.sin(angle),
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    args = parser.parse_args()
    rng = random.Random(2260)
    started = time.perf_counter()
    geocoder = Geocoder()
    load_ms = (time.perf_counter() - started) * 1e3
    centres = city_centres()
    on_centres = [(c[0], c[1]) for c in centres]
    uniform = [(rng.uniform(18, 53), rng.uniform(73, 135)) for _ in range(args.points)]
    border = near_border(geocoder, rng, min(args.points, 5_000))
    baseline_points = uniform[: max(200, args.points // 20)]  # the scan is slow

    print(f"geocoder data loaded in {load_ms:.1f} ms ({len(centres)} city centres)")
    cold = per_lookup_us(geocoder.locate, on_centres + uniform[:2_000])
    print(f"first pass (polygons decoded on first use): {cold:.1f} µs/lookup")
    print(f"{'points':34s} {'polygons µs/lookup':>20s} {'nearest-centre µs':>18s}")
    for label, points in (
        ("city centres", on_centres),
        ("uniform over China's bounding box", uniform),
        ("0-5 km from provincial borders", border),
    ):
        ours = per_lookup_us(geocoder.locate, points)
        base = per_lookup_us(
            lambda a, b: nearest_centre(centres, a, b),
            points[: len(baseline_points)] if len(points) > len(baseline_points) else points,
        )
        print(f"{label:34s} {ours:20.1f} {base:18.1f}")
    ceiling = per_lookup_us(lambda a, b: haversine_km(a, b, 30.0, 120.0), uniform)
    print(f"ceiling: one pure-Python haversine  {ceiling:.2f} µs")

    truth = [(g, p) for p in border if (g := geocoder.locate(*p)) is not None]
    disagree = sum(
        1 for g, p in truth if nearest_centre(centres, *p)[:2] != g.province.code[:2]
    )
    print(
        f"border points: nearest-centre names another province than the polygons for "
        f"{disagree} of {len(truth)} ({100 * disagree / max(1, len(truth)):.1f} %)"
    )
    towns_right = sum(
        1 for lat, lon, prov in BORDER_TOWNS if _province(geocoder.locate(lat, lon)) == prov
    )
    towns_base = sum(
        1 for lat, lon, prov in BORDER_TOWNS if nearest_centre(centres, lat, lon)[:2] == prov[:2]
    )
    print(
        f"border towns placed in their real province: polygons {towns_right}/{len(BORDER_TOWNS)},"
        f" nearest-centre {towns_base}/{len(BORDER_TOWNS)}"
    )
    print(f"levels: {len(geocoder.regions(Level.CITY))} cities known")


def _province(place: Place | None) -> str | None:
    return None if place is None else place.province.code


if __name__ == "__main__":
    main()
