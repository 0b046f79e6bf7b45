from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.provenance.clone import RECENT_SCANS, Scan, Thresholds, TravelEvidence
from cloud.provenance.codes import CodeCheck, CodeStatus, check_code, sign_link
from cloud.provenance.errors import VerdictInputError
from cloud.provenance.geo import AuthorisedArea, Circle, GeoPoint, haversine_km
from cloud.provenance.keys import Keyring
from cloud.provenance.scanstate import ScanState
from cloud.provenance.verdicts import (
    DiversionEvidence,
    Refusal,
    Sale,
    Shipment,
    UnitRecord,
    VerdictKind,
    Whereabouts,
    judge_scan,
)
from wire.digital_link import DigitalLink

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
LINK = DigitalLink.build("id.brand.example", "9506000134352", lot="L1", serial="7KQ2M9XR4TBW")
CODE = sign_link(LINK, KEY).uri
VALID = check_code(CODE, Keyring.of(KEY.public_key()))
T0 = datetime(2025, 5, 1, 19, 0, tzinfo=UTC)
SHANGHAI = GeoPoint(31.2304, 121.4737)
BEIJING = GeoPoint(39.9042, 116.4074)
GUANGZHOU = GeoPoint(23.1291, 113.2644, accuracy_km=5)
SOUTH = Shipment("distributor-south", AuthorisedArea(regions=("CN-GD", "CN-GX")))
UNIT = UnitRecord(LINK.uri, shipment=SOUTH, proof_url="/proofs/1")


def scan(hours: float, point: GeoPoint | None = None, region: str | None = None) -> Scan:
    return Scan(T0 + timedelta(hours=hours), point, region)


def test_first_scan_is_genuine() -> None:
    verdict = judge_scan(VALID, UNIT, [], scan(0, GUANGZHOU, "CN-GD"))
    assert verdict.kind is VerdictKind.GENUINE
    assert verdict.previous_scans == 0
    assert verdict.proof_url == "/proofs/1"


def test_family_scanning_at_home_for_a_week_is_not_an_alarm() -> None:
    home = GeoPoint(23.1291, 113.2644)
    nearby = [GeoPoint(23.1291 + d, 113.2644 - d) for d in (0.0, 0.001, 0.002, 0.0005)]
    history = [scan(24 * day, p, "CN-GD") for day, p in enumerate(nearby)]
    verdict = judge_scan(VALID, UNIT, history, scan(24 * 6, home, "CN-GD"))
    assert verdict.kind is VerdictKind.GENUINE_SEEN_BEFORE
    assert verdict.first_scan == T0
    assert verdict.previous_scans == 4
    assert "4 time(s) before" in verdict.reason


def test_clone_in_two_cities_within_an_hour() -> None:
    assert haversine_km(SHANGHAI, BEIJING) > 1000
    verdict = judge_scan(VALID, UNIT, [scan(0, SHANGHAI)], scan(0.75, BEIJING))
    assert verdict.kind is VerdictKind.SUSPECTED_CLONE
    travel = verdict.findings[0].evidence
    assert isinstance(travel, TravelEvidence)
    assert travel.distance_km > 1000
    assert travel.speed_kmh is not None
    assert travel.speed_kmh > 1300
    assert "km apart within 45 min" in verdict.reason


def test_a_flight_is_plausible() -> None:
    verdict = judge_scan(VALID, None, [], scan(0, SHANGHAI))
    assert verdict.kind is VerdictKind.COUNTERFEIT  # unknown serial
    unit = UnitRecord(LINK.uri)
    assert judge_scan(VALID, unit, [scan(0, SHANGHAI)], scan(3, BEIJING)).kind is (
        VerdictKind.GENUINE_SEEN_BEFORE
    )


def test_many_places_is_a_clone_even_at_plausible_speeds() -> None:
    cities = [GeoPoint(30 + 2 * i, 110 + i) for i in range(6)]
    history = [scan(24 * 3 * i, p) for i, p in enumerate(cities[:-1])]
    verdict = judge_scan(VALID, UnitRecord(LINK.uri), history, scan(24 * 16, cities[-1]))
    assert verdict.kind is VerdictKind.SUSPECTED_CLONE
    assert verdict.findings[0].code == "too_many_places"


def test_too_many_scans_in_a_day() -> None:
    history = [scan(i * 0.5, SHANGHAI) for i in range(40)]
    verdict = judge_scan(VALID, UnitRecord(LINK.uri), history, scan(20.5, SHANGHAI))
    assert verdict.findings[0].code == "too_many_scans"


def test_sold_outside_the_distributor_region_is_diversion() -> None:
    unit = UnitRecord(LINK.uri, shipment=SOUTH, sale=Sale(T0, region="CN-BJ"))
    verdict = judge_scan(VALID, unit, [], scan(1, BEIJING, "CN-BJ"))
    assert verdict.kind is VerdictKind.SUSPECTED_DIVERSION
    evidence = verdict.findings[0].evidence
    assert isinstance(evidence, DiversionEvidence)
    assert evidence.basis == "sale"
    assert evidence.distributor == "distributor-south"


def test_first_scan_outside_the_region_is_diversion() -> None:
    verdict = judge_scan(VALID, UNIT, [], scan(0, BEIJING, "CN-BJ"))
    assert verdict.kind is VerdictKind.SUSPECTED_DIVERSION
    assert "Beijing 110000" in verdict.reason  # CN-BJ, as GB/T 2260 reads it


def test_bought_in_region_then_travelling_is_not_diversion() -> None:
    history = [scan(0, GUANGZHOU, "CN-GD-GZ")]
    verdict = judge_scan(VALID, UNIT, history, scan(48, BEIJING, "CN-BJ"))
    assert verdict.kind is VerdictKind.GENUINE_SEEN_BEFORE


def test_circles_and_unknown_places() -> None:
    area = AuthorisedArea(circles=(Circle(GeoPoint(23.1, 113.3), 150),))
    unit = UnitRecord(LINK.uri, shipment=Shipment("d", area))
    assert judge_scan(VALID, unit, [], scan(0, SHANGHAI)).kind is VerdictKind.SUSPECTED_DIVERSION
    assert judge_scan(VALID, unit, [], scan(0, GUANGZHOU)).kind is VerdictKind.GENUINE
    assert judge_scan(VALID, unit, [], scan(0, region="CN-SH")).kind is VerdictKind.GENUINE


@pytest.mark.parametrize(
    ("check", "unit", "code"),
    [
        (CodeCheck(CodeStatus.BAD_SIGNATURE, "signature does not match"), UNIT, "bad_signature"),
        (CodeCheck(CodeStatus.UNKNOWN_KEY, "no brand key"), UNIT, "unknown_key"),
        (CodeCheck(CodeStatus.MALFORMED, "no signature"), UNIT, "malformed"),
        (VALID, None, "unknown_serial"),
        (VALID, UnitRecord(LINK.uri, decommissioned_at=T0 - timedelta(days=1)), "decommissioned"),
    ],
)
def test_counterfeit(check: CodeCheck, unit: UnitRecord | None, code: str) -> None:
    verdict = judge_scan(check, unit, [scan(-1, BEIJING)], scan(0, SHANGHAI))
    assert verdict.kind is VerdictKind.COUNTERFEIT
    assert [f.code for f in verdict.findings] == [code]


def test_forged_code_end_to_end() -> None:
    forger = Ed25519PrivateKey.generate()
    forged = sign_link(LINK, forger).uri
    check = check_code(forged, Keyring.of(KEY.public_key()))
    assert judge_scan(check, UNIT, [], scan(0, GUANGZHOU)).kind is VerdictKind.COUNTERFEIT


def test_threshold_validation() -> None:
    with pytest.raises(VerdictInputError, match="home cluster"):
        Thresholds(min_distance_km=30, home_radius_km=25)
    with pytest.raises(VerdictInputError, match="timezone-aware"):
        Scan(datetime(2025, 1, 1))
    with pytest.raises(VerdictInputError, match="latitude"):
        GeoPoint(91, 0)
    with pytest.raises(VerdictInputError, match="region code"):
        Scan(T0, region="guangdong")


# -- properties ---------------------------------------------------------------------------

offsets = st.tuples(st.floats(-0.15, 0.15), st.floats(-0.15, 0.15))
times = st.floats(0, 24 * 30)


def _near_home(dlat: float, dlon: float) -> GeoPoint:
    # ±0.15° is within ~22 km at 23°N: inside the default 25 km home radius.
    return GeoPoint(23.1291 + dlat, 113.2644 + dlon)


@settings(max_examples=150)
@given(st.lists(st.tuples(times, offsets), min_size=1, max_size=25))
def test_scans_within_the_home_radius_are_never_a_clone(
    scans: list[tuple[float, tuple[float, float]]],
) -> None:
    built = [scan(h, _near_home(*o)) for h, o in scans]
    assert all(haversine_km(_near_home(0, 0), s.point) <= 25 for s in built if s.point)
    verdict = judge_scan(VALID, UnitRecord(LINK.uri), built[:-1], built[-1])
    assert verdict.kind in (VerdictKind.GENUINE, VerdictKind.GENUINE_SEEN_BEFORE)


points = st.builds(GeoPoint, st.floats(-60, 60), st.floats(-179, 179), st.sampled_from([0.0, 5.0]))
scan_st = st.builds(
    Scan,
    st.floats(0, 24 * 40).map(lambda h: T0 + timedelta(hours=h)),
    st.one_of(st.none(), points),
    st.sampled_from([None, "CN-GD", "CN-BJ", "CN-GD-SZ"]),
)


@settings(max_examples=150)
@given(st.lists(scan_st, min_size=0, max_size=12), scan_st, st.randoms(use_true_random=False))
def test_verdict_is_deterministic_and_independent_of_history_order(
    history: list[Scan], new: Scan, rnd: object
) -> None:
    shuffled = history[:]
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    first = judge_scan(VALID, UNIT, history, new)
    assert judge_scan(VALID, UNIT, shuffled, new) == first
    assert judge_scan(VALID, UNIT, history, new) == first


@settings(max_examples=100)
@given(st.lists(scan_st, min_size=1, max_size=12))
def test_which_scan_is_new_does_not_change_clone_findings(scans: list[Scan]) -> None:
    a = judge_scan(VALID, UnitRecord(LINK.uri), scans[:-1], scans[-1])
    b = judge_scan(VALID, UnitRecord(LINK.uri), scans[1:], scans[0])
    clone = VerdictKind.SUSPECTED_CLONE
    assert (a.kind is clone) == (b.kind is clone)


def test_a_country_level_region_never_accuses_a_provincial_distributor() -> None:
    # CF-IPCountry gives only "CN": it neither proves nor disproves being in CN-GD.
    assert judge_scan(VALID, UNIT, [], scan(0, region="CN")).kind is VerdictKind.GENUINE
    later = judge_scan(VALID, UNIT, [scan(0, region="CN")], scan(1, region="CN-BJ"))
    assert later.kind is VerdictKind.SUSPECTED_DIVERSION


# -- corroboration, custody, recalls, issuers (issue 14) ------------------------------------


def by(client: str, hours: float, point: GeoPoint | None = None, region: str | None = None) -> Scan:
    return Scan(T0 + timedelta(hours=hours), point, region, client=client)


def test_one_scanner_alone_raises_only_an_unconfirmed_clone() -> None:
    alone = judge_scan(VALID, UNIT, [by("a", 0, SHANGHAI)], by("a", 0.75, BEIJING))
    assert (alone.kind, alone.confirmed) == (VerdictKind.SUSPECTED_CLONE, False)
    assert "not confirmed" in alone.reason
    two = judge_scan(VALID, UNIT, [by("a", 0, SHANGHAI)], by("b", 0.75, BEIJING))
    assert (two.kind, two.confirmed) == (VerdictKind.SUSPECTED_CLONE, True)
    travel = two.findings[0].evidence
    assert isinstance(travel, TravelEvidence)
    assert travel.independent
    # unknown clients (scans recorded before clients were tagged) never corroborate
    unknown = judge_scan(VALID, UNIT, [scan(0, SHANGHAI)], scan(0.75, BEIJING))
    assert unknown.confirmed is False


def test_counts_need_independent_clients_too() -> None:
    unit = UnitRecord(LINK.uri)
    one = [by("a", i * 0.5, SHANGHAI) for i in range(40)]
    verdict = judge_scan(VALID, unit, one, by("a", 20.5, SHANGHAI))
    assert (verdict.findings[0].code, verdict.confirmed) == ("too_many_scans", False)
    many = [by(f"c{i % 3}", i * 0.5, SHANGHAI) for i in range(40)]
    assert judge_scan(VALID, unit, many, by("a", 20.5, SHANGHAI)).confirmed is True


def test_diversion_needs_two_scanners_or_a_sale_and_an_inside_scan_contradicts() -> None:
    outside = judge_scan(VALID, UNIT, [], by("a", 0, region="CN-BJ"))
    assert (outside.kind, outside.confirmed) == (VerdictKind.SUSPECTED_DIVERSION, False)
    confirmed = judge_scan(VALID, UNIT, [by("a", 0, region="CN-BJ")], by("b", 5, region="CN-BJ"))
    assert (confirmed.kind, confirmed.confirmed) == (VerdictKind.SUSPECTED_DIVERSION, True)
    contradicted = judge_scan(
        VALID, UNIT, [by("a", 0, region="CN-BJ")], by("b", 5, region="CN-GD")
    )
    assert contradicted.kind is VerdictKind.GENUINE_SEEN_BEFORE
    sold = UnitRecord(LINK.uri, shipment=SOUTH, sale=Sale(T0, region="CN-BJ"))
    assert judge_scan(VALID, sold, [], by("a", 1)).confirmed is True  # records, not scanners


def test_a_confirmed_clone_is_remembered_beyond_the_recent_scans() -> None:
    state = ScanState()
    for earlier in (by("a", 0, SHANGHAI), by("b", 0.5, BEIJING)):
        verdict = judge_scan(VALID, UNIT, state, earlier)
        state = state.add(earlier, verdict.clone_flag)
    assert state.clone_flag is not None
    for i in range(RECENT_SCANS + 5):  # the evidence leaves ``recent``
        state = state.add(by("c", 100 + i, GUANGZHOU, "CN-GD"))
    later = judge_scan(VALID, UNIT, state, by("c", 300, GUANGZHOU, "CN-GD"))
    assert (later.kind, later.findings[0].code) == (VerdictKind.SUSPECTED_CLONE, "flagged")
    assert len(state.recent) == RECENT_SCANS
    assert state.count == RECENT_SCANS + 7


def test_custody_in_the_verdict() -> None:
    factory = Whereabouts("commissioned", "urn:factory", "Plant", SHANGHAI, with_brand=True)
    never = UnitRecord(LINK.uri, whereabouts=factory)
    far = judge_scan(VALID, never, [], scan(0, BEIJING))
    assert (far.kind, far.findings[0].code) == (VerdictKind.INCONSISTENT_CUSTODY, "never_shipped")
    assert "not left" in far.reason
    assert judge_scan(VALID, never, [], scan(0)).kind is VerdictKind.INCONSISTENT_CUSTODY
    at_plant = judge_scan(VALID, never, [], scan(0, GeoPoint(31.25, 121.45)))
    assert at_plant.kind is VerdictKind.GENUINE  # staff checking a code at the plant
    dc = Whereabouts("at_site", "urn:dc", "Guangzhou DC", GUANGZHOU, "CN-GD")
    held = UnitRecord(LINK.uri, whereabouts=dc)
    assert judge_scan(VALID, held, [], scan(0, BEIJING)).findings[0].code == "far_from_custody"
    assert judge_scan(VALID, held, [], scan(0, region="CN-BJ")).findings[0].code == (
        "far_from_custody"
    )
    assert judge_scan(VALID, held, [], scan(0, GUANGZHOU)).kind is VerdictKind.GENUINE
    shipped = UnitRecord(LINK.uri, shipment=SOUTH, whereabouts=dc)  # area says inside
    assert judge_scan(VALID, shipped, [], scan(0, region="CN-GD")).kind is VerdictKind.GENUINE
    sold = UnitRecord(LINK.uri, whereabouts=Whereabouts("sold", "urn:shop"))
    assert judge_scan(VALID, sold, [], scan(0, BEIJING)).kind is VerdictKind.GENUINE


def test_recalled_and_refused_codes_are_never_genuine() -> None:
    recalled = UnitRecord(LINK.uri, recalled_at=T0)
    verdict = judge_scan(VALID, recalled, [], scan(1, GUANGZHOU))
    assert (verdict.kind, verdict.findings[0].code) == (VerdictKind.RECALLED, "recalled")
    refusal = Refusal("key_not_issuer", "signed with a key of another brand")
    refused = judge_scan(VALID, UNIT, [], scan(0), refusal=refusal)
    assert (refused.kind, refused.reason) == (VerdictKind.COUNTERFEIT, refusal.reason)
    gone = UnitRecord(LINK.uri, decommissioned_at=T0 + timedelta(days=3))  # even "later"
    assert judge_scan(VALID, gone, [], scan(0)).kind is VerdictKind.COUNTERFEIT


def test_new_threshold_validation() -> None:
    with pytest.raises(VerdictInputError, match="one client alone"):
        Thresholds(min_independent_clients=1)
    with pytest.raises(VerdictInputError, match="below 64"):
        Thresholds(max_scans_per_window=64)
    with pytest.raises(VerdictInputError, match="custody radius"):
        Thresholds(custody_radius_km=0)
