"""The clone rules' loops (cloud/provenance/clone.py) give exactly the answers of the plain
pairwise rules (tests/cloud/provenance/_clone_reference.py) on random histories: same
evidence, same floats, whatever the input order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.provenance import clone
from cloud.provenance.clone import RECENT_SCANS, Scan, Thresholds, clone_rules
from cloud.provenance.geo import GeoPoint
from tests.cloud.provenance import _clone_reference as reference

T0 = datetime(2025, 5, 1, 19, 0, tzinfo=UTC)

# Places that make every rule fire now and then: a city's neighbourhoods (same place), two
# cities 50-100 km away, the far end of the country, the other side of the Earth.
_CENTRES = [(23.13, 113.26), (23.55, 113.59), (22.54, 114.06), (39.90, 116.41), (-33.9, -70.6)]

points = st.builds(
    lambda centre, dlat, dlon, accuracy: GeoPoint(
        round(centre[0] + dlat, 4), round(centre[1] + dlon, 4), accuracy
    ),
    st.sampled_from(_CENTRES),
    st.floats(-0.3, 0.3),
    st.floats(-0.3, 0.3),
    st.sampled_from([0.0, 0.05, 2.0, 30.0]),
)
scans = st.builds(
    lambda minutes, micros, point, region, client, ident: Scan(
        T0 + timedelta(minutes=minutes, microseconds=micros), point, region, ident, client
    ),
    st.integers(0, 60 * 24 * 40),  # 40 days: windows open and close
    st.sampled_from([0, 1, 333_333, 999_999]),
    st.none() | points,
    st.none() | st.sampled_from(["440000", "440100", "110000", "CN-GD", "US-CA"]),
    st.none() | st.sampled_from(["c1", "c2", "c3", "c4"]),
    st.text("0123456789", min_size=1, max_size=4),
)
thresholds = st.builds(
    Thresholds,
    max_speed_kmh=st.sampled_from([60.0, 900.0]),
    min_distance_km=st.sampled_from([50.0, 120.0]),
    home_radius_km=st.sampled_from([5.0, 25.0]),
    places_window=st.sampled_from([timedelta(days=1), timedelta(days=30)]),
    max_places_per_window=st.integers(1, 6),
    count_window=st.sampled_from([timedelta(hours=1), timedelta(hours=24)]),
    max_scans_per_window=st.integers(1, 10),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(scans, max_size=RECENT_SCANS + 8), thresholds, st.randoms())
def test_rules_answer_as_the_plain_pairwise_rules(
    history: list[Scan], limits: Thresholds, shuffle: object
) -> None:
    found = clone_rules(history, limits)
    assert found.travel == reference.impossible_travel(history, limits)
    places = reference.most_places(history, limits)
    if found.places is None:  # not searched: no window can exceed the limit
        assert places is None or places.places <= limits.max_places_per_window
    else:
        assert found.places == places
    busiest = reference.busiest_window(history, limits)
    if found.busiest is None:
        assert busiest is None or busiest.scans <= limits.max_scans_per_window
    else:
        assert found.busiest == busiest
    shuffled = list(history)
    shuffle.shuffle(shuffled)  # type: ignore[attr-defined]
    assert clone_rules(shuffled, limits) == found
    assert clone.impossible_travel(shuffled, limits) == found.travel
    assert clone.most_places(shuffled, limits) == places
    assert clone.busiest_window(shuffled, limits) == busiest


def test_a_pair_apart_by_latitude_alone_is_never_one_place() -> None:
    # 0.5 degrees of latitude is 55.6 km: beyond a 50 km link even with no longitude apart.
    a = Scan(T0, GeoPoint(23.0, 113.0), scan_id="a")
    b = Scan(T0 + timedelta(hours=1), GeoPoint(23.5, 113.0), scan_id="b")
    c = Scan(T0 + timedelta(hours=2), GeoPoint(23.2, 113.0), scan_id="c")
    limits = Thresholds(home_radius_km=25.0, max_places_per_window=1)  # 2 scans: searched
    found = clone_rules([a, b, c], limits).places
    assert found is not None
    assert found.places == 1
    apart = clone_rules([a, b], limits).places
    assert apart is not None
    assert apart.places == 2
