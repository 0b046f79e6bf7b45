"""A unit's scan summary (pure): bounded whatever the history, stored as JSON; client tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.provenance.clone import EARLY_CLIENTS, RECENT_SCANS, Scan
from cloud.provenance.geo import GeoPoint
from cloud.provenance.scanlog import client_tag
from cloud.provenance.scanstate import CloneFlag, ScanState

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
KEY = b"k" * 32


def _scan(i: int, client: str | None, located: bool = True) -> Scan:
    point = GeoPoint(23.1 + i * 0.001, 113.2, 0.8) if located else None
    return Scan(T0 + timedelta(minutes=i), point, None, scan_id=str(i), client=client)


@settings(max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]), st.booleans()), max_size=300))
def test_the_summary_stays_bounded(scans: list[tuple[str | None, bool]]) -> None:
    state = ScanState()
    for i, (client, located) in enumerate(scans):
        state = state.add(_scan(i, client, located))
    assert state.count == len(scans)
    assert len(state.recent) == min(len(scans), RECENT_SCANS)
    assert len(state.early) <= EARLY_CLIENTS
    assert len({s.client or "?" for s in state.early}) == len(state.early)  # one per client
    if scans:
        assert state.first_at == T0
        assert state.last_at == T0 + timedelta(minutes=len(scans) - 1)


def test_early_keeps_the_first_located_scan_of_each_client() -> None:
    state = ScanState()
    for i, (client, located) in enumerate(
        [("a", False), ("a", True), ("a", True), ("b", True), (None, True), (None, True)]
    ):
        state = state.add(_scan(i, client, located))
    assert [(s.client, s.scan_id) for s in state.early] == [("a", "1"), ("b", "3"), (None, "4")]
    for i in range(20):
        state = state.add(_scan(100 + i, f"x{i}"))
    assert len(state.early) == EARLY_CLIENTS


def test_round_trip_through_the_stored_row() -> None:
    state = ScanState()
    for i in range(70):
        state = state.add(_scan(i, f"c{i % 3}"), CloneFlag("impossible_travel", "far", T0))
    again = ScanState.from_row(
        state.count, state.first_at, state.last_at, state.early_json(), state.recent_json(),
        state.flags_json(),
    )  # fmt: skip
    assert again == state


def test_an_unreadable_row_is_not_a_failed_scan() -> None:
    junk = ScanState.from_row(3, T0, T0, [{"t": "yesterday"}], [{"lat": 1}], {"clone": {}})
    assert (junk.count, junk.early, junk.recent, junk.clone_flag) == (3, (), (), None)


def test_client_tags_tell_networks_and_codes_apart_without_addresses() -> None:
    tag = client_tag(KEY, "203.0.113.7", "09506000134352", "ABC")
    assert len(tag) == 16
    assert set(tag) <= set("0123456789abcdef")  # a hash, not the address
    assert client_tag(KEY, "203.0.113.200", "09506000134352", "ABC") == tag  # same /24
    assert client_tag(KEY, "203.0.114.7", "09506000134352", "ABC") != tag
    assert client_tag(KEY, "203.0.113.7", "09506000134352", "ABD") != tag  # another code
    assert client_tag(b"other" * 7, "203.0.113.7", "09506000134352", "ABC") != tag
    v6 = client_tag(KEY, "2001:db8:1:2::1", "09506000134352", "ABC")
    assert client_tag(KEY, "2001:db8:1:ffff::9", "09506000134352", "ABC") == v6  # same /48
    assert client_tag(KEY, "2001:db8:2::1", "09506000134352", "ABC") != v6
    assert len(client_tag(KEY, "testclient", "09506000134352", "ABC")) == 16
