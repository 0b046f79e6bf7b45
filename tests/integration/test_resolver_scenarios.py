"""Acceptance: consumer scans through the real resolver (app from ``create_app``, real
PostgreSQL), on a channel built with real EPCIS captures and real signed codes.

Only the scan clock is replaced (``scan_clock``, a FastAPI dependency), to replay scans
spread over a week; everything else is the production path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from cloud.api.routers.resolver import scan_clock
from cloud.app import create_app
from cloud.auth.apikeys import create_api_key
from cloud.channel.bulk import ensure_tenants
from cloud.channel.changes import Actor
from cloud.channel.records import Distributor, Location, Party, Product, Site
from cloud.channel.store import save_record
from cloud.migrate import migrate
from cloud.provenance.brands import record_issued_codes, register_brand_key
from cloud.provenance.codes import sign_link
from cloud.provenance.issue import IssuedCode, IssueRequest, issue_codes
from cloud.provenance.keys import create_brand_key
from cloud.provenance.prefixes import add_prefix
from cloud.settings import Settings, parse_networks
from wire.digital_link import DigitalLink
from wire.gs1 import Gtin

pytestmark = pytest.mark.integration

HOST = "testserver"
PROXY = ("127.0.0.1", 50000)  # the peer address of the test client: a trusted proxy
GTIN = "09506000134352"
LOT = "L2025-05"
NOW = datetime.now(UTC).replace(microsecond=0)
DIST_GD = "urn:epc:id:pgln:9506000.00001"
FACTORY, DC_GZ, SHOP_SZ, SHOP_HZ = (
    "urn:epc:id:sgln:9506000.00010.0",
    "urn:epc:id:sgln:9506000.00020.0",
    "urn:epc:id:sgln:9506000.00030.0",
    "urn:epc:id:sgln:9506000.00040.0",
)
CASE = "urn:epc:id:sscc:9506000.0000000001"
PALLET = "urn:epc:id:sscc:9506000.0000000099"
SHENZHEN = (22.5431, 114.0579)
BEIJING = (39.9042, 116.4074)
SHANGHAI = (31.2304, 121.4737)


@dataclass
class World:
    client: TestClient
    codes: list[IssuedCode]
    key: Ed25519PrivateKey
    brand_key: str  # the brand's API key (consumers scan without one)
    clock: list[datetime] = field(default_factory=lambda: [NOW])

    def flush(self) -> None:
        """Wait until every scan answered so far is written (the writer's group commit)."""
        assert self.client.portal is not None
        self.client.portal.call(self.client.app.state.scans.writer.flush)

    def scan(
        self,
        code: str,
        *,
        at: datetime | None = None,
        point: tuple[float, float] | None = None,
        headers: dict[str, str] | None = None,
        json: bool = True,
    ) -> Any:
        self.clock[0] = at or NOW
        if point is not None:  # the phone adds its location to the scanned URL
            where = urlencode({"lat": point[0], "lon": point[1], "acc": 30})
            code += ("&" if "?" in code else "?") + where
        accept = {"Accept": "application/json"} if json else {}
        response = self.client.get(code, headers={**accept, **(headers or {})})
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        return response.json() if json else response.text


def _at(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def _event(kind: str, days: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "eventTime": _at(days), "eventTimeZoneOffset": "+08:00", **fields}


def _where(site: str) -> dict[str, Any]:
    return {"bizLocation": {"id": site}, "readPoint": {"id": site}}


def _channel(epcs: list[str]) -> list[dict[str, Any]]:
    to_gd = {
        "destinationList": [
            {"type": "owning_party", "destination": DIST_GD},
            {"type": "location", "destination": DC_GZ},
        ]
    }
    return [
        _event(
            "ObjectEvent",
            30,
            epcList=epcs,
            action="ADD",
            bizStep="commissioning",
            **_where(FACTORY),
        ),
        _event(
            "AggregationEvent",
            29.9,
            parentID=CASE,
            childEPCs=epcs,
            action="ADD",
            bizStep="packing",
            **_where(FACTORY),
        ),
        _event(
            "AggregationEvent",
            29.8,
            parentID=PALLET,
            childEPCs=[CASE],
            action="ADD",
            bizStep="packing",
            **_where(FACTORY),
        ),
        _event(
            "ObjectEvent",
            29,
            epcList=[PALLET],
            action="OBSERVE",
            bizStep="shipping",
            disposition="in_transit",
            **to_gd,
        ),
        _event(
            "ObjectEvent",
            27,
            epcList=[PALLET],
            action="OBSERVE",
            bizStep="receiving",
            disposition="in_progress",
            **_where(DC_GZ),
            **to_gd,
        ),
        _event(
            "AggregationEvent",
            26.9,
            parentID=PALLET,
            childEPCs=[CASE],
            action="DELETE",
            bizStep="unpacking",
            **_where(DC_GZ),
        ),
        _event(
            "AggregationEvent",
            26.8,
            parentID=CASE,
            childEPCs=epcs,
            action="DELETE",
            bizStep="unpacking",
            **_where(DC_GZ),
        ),
        # unit 0: to a shop in Shenzhen (inside Guangdong) and sold there
        _event(
            "ObjectEvent",
            20,
            epcList=epcs[:1],
            action="OBSERVE",
            bizStep="receiving",
            **_where(SHOP_SZ),
        ),
        _event(
            "ObjectEvent",
            10,
            epcList=epcs[:1],
            action="OBSERVE",
            bizStep="retail_selling",
            disposition="retail_sold",
            **_where(SHOP_SZ),
        ),
        # unit 1: turns up in a shop in Hangzhou (Zhejiang) and is sold there: diversion
        _event(
            "ObjectEvent",
            8,
            epcList=epcs[1:2],
            action="OBSERVE",
            bizStep="retail_selling",
            disposition="retail_sold",
            **_where(SHOP_HZ),
        ),
        # unit 5: destroyed (e.g. breakage) — its code must never scan as genuine again
        _event(
            "ObjectEvent",
            5,
            epcList=epcs[5:6],
            action="DELETE",
            bizStep="decommissioning",
            disposition="destroyed",
            **_where(DC_GZ),
        ),
    ]


def _setup_channel(conn: psycopg.Connection[Any], codes: list[IssuedCode]) -> None:
    # The channel as a brand sets it up: through the channel store (docs/channel-setup.md).
    operator = Actor("test:operator", "operator")
    ensure_tenants(conn, [("acme", "Acme Wines")], operator)
    records: list[Any] = [
        Product(GTIN, "Reserve Red 750 ml", None, 10.0, 18.0),
        Distributor("dist-gd", "South China Wines", regions=("440000",)),
        Site("factory", "Bottling plant", None, 31.0, 121.3, "310000"),
        Site("dc-gz", "Guangzhou DC", None, 23.13, 113.26, "440100", "dist-gd"),
        Site("shop-sz", "Shenzhen shop", None, *SHENZHEN, "440300", "dist-gd"),
        Site("shop-hz", "Hangzhou shop", None, 30.27, 120.15, "330100"),
        Location(FACTORY, "factory"),
        Location(DC_GZ, "dc-gz"),
        Location(SHOP_SZ, "shop-sz"),
        Location(SHOP_HZ, "shop-hz"),
        Party(DIST_GD, "dist-gd"),
    ]
    for record in records:
        save_record(conn, "acme", record, operator)
    # The Guangzhou DC ran 14 °C for a month, with one warm afternoon at 24 °C.
    start = NOW - timedelta(days=30)
    rows = [
        (start + timedelta(minutes=10 * i), 24.0 if 2000 <= i < 2012 else 14.0)
        for i in range(30 * 144)
    ]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (time, received_at, tenant_id, site_id, device_id, seq,"
            " sensor, metric, value) VALUES (%s, now(), 'acme', 'dc-gz', 'gw-1', 1, 'probe-1',"
            " 'temperature_c', %s)",
            rows,
        )


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    migrate(database_url)
    key_path, entry = create_brand_key(tmp_path / "keys")
    from cloud.provenance.keys import load_private_key

    key = load_private_key(key_path)
    request = IssueRequest(HOST, Gtin(GTIN), LOT, count=8)
    codes = list(issue_codes(request, key))
    with psycopg.connect(database_url, autocommit=True) as conn:
        _setup_channel(conn, codes)
        add_prefix(conn, "acme", "9506000")
        register_brand_key(conn, "acme", entry)
        record_issued_codes(conn, "acme", "batch-0001", codes, LOT)
        brand_key = create_api_key(conn, tenant_id="acme", role="brand", label="tests")
    # a week of scans from one test client: the public rate limit is not under test here;
    # the client plays the TLS proxy that sets X-Region (CT_TRUSTED_PROXIES)
    settings = Settings(
        database_url=database_url,
        public_rate_limit="10000/minute",
        trusted_proxies=parse_networks(PROXY[0]),
    )
    app = create_app(settings)
    state = World(TestClient(app, client=PROXY), codes, key, brand_key)
    app.dependency_overrides[scan_clock] = lambda: state.clock[0]
    with state.client:
        epcs = [c.link.uri for c in codes[:6]]  # the printed Digital Links name the units
        document = {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": _at(0),
            "epcisBody": {"eventList": _channel(epcs)},
        }
        response = state.client.post(
            "/epcis/capture",
            params={"tenant": "acme"},
            json=document,
            headers={"X-API-Key": brand_key},
        )
        assert response.status_code == 202, response.text
        yield state


def _code(world: World, i: int) -> str:
    return world.codes[i].code.uri


def test_forged_codes_are_counterfeit(world: World) -> None:
    genuine = world.codes[2].code
    # 1. a copied signature on another serial
    altered = genuine.uri.replace(f"/21/{genuine.link.serial}", "/21/AAAAAAAAAAAA")
    # 2. a code signed by a key that is not the brand's
    stranger = sign_link(genuine.link, Ed25519PrivateKey.generate()).uri
    # 3. validly signed, never issued (a leaked key)
    unissued = sign_link(DigitalLink(HOST, Gtin(GTIN), lot=LOT, serial="NEVERISSUED"), world.key)
    # 4. a genuine serial printed with another lot (the signature covers the lot)
    other_lot = sign_link(
        DigitalLink(HOST, Gtin(GTIN), lot="L1999", serial=genuine.link.serial), world.key
    )
    # 5. no signature at all
    unsigned = genuine.link.uri
    expected = {
        altered: "bad_signature",
        stranger: "unknown_key",
        unissued.uri: "unknown_serial",
        other_lot.uri: "unknown_serial",
        unsigned: "malformed",
    }
    for code, finding in expected.items():
        answer = world.scan(code, point=SHENZHEN)
        assert answer["verdict"] == "counterfeit", (code, answer)
        assert answer["findings"][0]["code"] == finding, answer["findings"]
        assert answer["timeline"] == []
        assert answer["proof_url"] is None
    destroyed = world.scan(_code(world, 5))
    assert destroyed["verdict"] == "counterfeit"
    assert destroyed["findings"][0]["code"] == "decommissioned"


def test_clone_scanned_in_two_cities_within_an_hour(world: World) -> None:
    code = _code(world, 2)
    beijing, shanghai = {"X-Forwarded-For": "198.51.100.1"}, {"X-Forwarded-For": "203.0.113.5"}
    first = world.scan(code, at=NOW - timedelta(minutes=50), point=BEIJING, headers=beijing)
    # issue 14 (was "genuine"): the records place this unit at the Guangzhou DC, 1,900 km
    # away, and Beijing (its point's GB/T 2260 district) is outside the distributor's area:
    # a suspicion, unconfirmed while only one scanner says so
    assert (first["verdict"], first["confirmed"]) == ("suspected_diversion", False)
    assert "far_from_custody" in [f["code"] for f in first["findings"]]
    # two scanners (the proxy forwards their addresses) in two cities: a confirmed clone
    # (issue 14: one scanner alone only raises an unconfirmed suspicion)
    second = world.scan(code, at=NOW, point=SHANGHAI, headers=shanghai)
    assert (second["verdict"], second["confirmed"]) == ("suspected_clone", True)
    travel = next(f for f in second["findings"] if f["code"] == "impossible_travel")
    assert travel["evidence"]["distance_km"] > 1_000
    assert travel["evidence"]["hours"] < 1
    assert travel["evidence"]["independent"] is True
    # the evidence stays: a third scan back in Beijing is still judged a clone
    later = world.scan(code, at=NOW + timedelta(hours=2), point=BEIJING, headers=beijing)
    assert later["verdict"] == "suspected_clone"


def test_sold_outside_the_distributors_region_is_diversion(world: World) -> None:
    answer = world.scan(_code(world, 1))  # no location given: the recorded sale decides
    assert answer["verdict"] == "suspected_diversion"
    finding = answer["findings"][0]
    assert finding["evidence"]["basis"] == "sale"
    assert finding["evidence"]["distributor"] == "dist-gd"
    assert finding["evidence"]["region"] == "330100"  # the shop's city, Hangzhou (GB/T 2260)


def test_first_seen_outside_the_region_is_diversion(world: World) -> None:
    # not sold in the records; first scanned in Zhejiang (region from the edge header)
    answer = world.scan(_code(world, 3), headers={"X-Region": "CN-ZJ"})
    assert answer["verdict"] == "suspected_diversion"
    assert answer["findings"][0]["evidence"]["basis"] == "scan"
    # issue 14: one scanner's word is an unconfirmed suspicion, worded as such; a second,
    # independent scanner there confirms it
    assert answer["confirmed"] is False
    assert "not confirmed" in answer["reason"]
    other = {"X-Region": "CN-ZJ", "X-Forwarded-For": "203.0.113.77"}
    again = world.scan(_code(world, 3), at=NOW + timedelta(hours=1), headers=other)
    assert (again["verdict"], again["confirmed"]) == ("suspected_diversion", True)
    # a country-level hint (CF-IPCountry) alone never accuses
    assert world.scan(_code(world, 4), headers={"CF-IPCountry": "CN"})["verdict"] == "genuine"


def test_edge_headers_count_only_from_a_trusted_proxy(world: World) -> None:
    """A phone talking to the API directly cannot pick its region or the code's host."""
    direct = TestClient(world.client.app, client=("203.0.113.9", 40000))
    scan = {"Accept": "application/json", "X-Region": "CN-ZJ"}
    answer = direct.get(_code(world, 3), headers=scan).json()
    assert answer["verdict"] == "genuine"  # the claimed region outside the area is ignored
    # The code is verified against the host it was printed for; a forwarded host from
    # anyone but the proxy is not believed (so the scan stays genuine) ...
    moved = {"Accept": "application/json", "X-Forwarded-Host": "id.elsewhere.example"}
    assert direct.get(_code(world, 4), headers=moved).json()["verdict"] == "genuine"
    # ... while from the proxy it is the host the code is checked against: not ours.
    assert world.scan(_code(world, 5), headers=moved)["verdict"] == "counterfeit"


def test_family_scanning_one_bottle_five_times_over_a_week(world: World) -> None:
    code = _code(world, 0)
    home = [
        (22.5431, 114.0579),
        (22.5502, 114.0631),
        None,
        (22.5380, 114.0511),
        (22.5450, 114.0600),
    ]
    verdicts = []
    for day, point in enumerate(home):
        headers = {"CF-IPCountry": "CN"} if point is None else {}
        answer = world.scan(
            code, at=NOW + timedelta(days=day * 1.6, hours=19), point=point, headers=headers
        )
        verdicts.append(answer["verdict"])
        assert all(f["kind"] in ("genuine", "genuine_seen_before") for f in answer["findings"])
    assert verdicts == ["genuine"] + ["genuine_seen_before"] * 4
    assert answer["previous_scans"] == 4
    assert answer["first_scan"].startswith((NOW + timedelta(hours=19)).date().isoformat())
    page = world.scan(
        code,
        at=NOW + timedelta(days=7, hours=20),
        point=home[0],
        json=False,
        headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"},
    )
    assert '<html lang="zh-CN">' in page
    assert "正品" in page
    assert "<script" not in page
    assert 'href="#en"' in page
    assert "警告" not in page.split('id="zh"')[1]


def test_provenance_proofs_and_cold_chain_on_the_answer(world: World) -> None:
    answer = world.scan(_code(world, 2), point=(23.13, 113.26))
    steps = [(e["biz_step"], e["via"] is not None) for e in answer["timeline"]]
    assert steps == [
        ("commissioning", False),
        ("packing", False),  # into the case
        ("packing", True),  # the case onto the pallet
        ("shipping", True),  # the pallet was shipped, the bottle with it
        ("receiving", True),
        ("unpacking", True),
        ("unpacking", False),
    ]
    assert answer["proof_url"] == answer["timeline"][-1]["proof_url"]
    assert answer["proof_url"].startswith("/proof/")
    # issue 15: each step's proof is a public page (no credentials) saying what is proven;
    # not anchored yet in this test, so it says the step is recorded and not sealed yet,
    # and its JSON form (the public bundle) is not there yet (409)
    page = world.client.get(answer["proof_url"])
    assert page.status_code == 200
    assert "not sealed on the blockchain yet" in page.text
    assert world.client.get(answer["proof_url"] + "?format=json").status_code == 409
    # the full bundle carries the event: the brand reads it (409 until anchored), the
    # public does not
    bundle = answer["timeline"][-1]["bundle_url"]
    assert world.client.get(bundle).status_code == 401
    brand = {"X-API-Key": world.brand_key}
    assert world.client.get(bundle, headers=brand).status_code == 409
    cold = answer["cold_chain"]
    assert cold["profile"] == {"min_celsius": 10.0, "max_celsius": 18.0}
    assert cold["max_celsius"] == pytest.approx(24.0)
    assert cold["minutes_above"] == pytest.approx(120.0, abs=7)  # within one summary bucket
    assert cold["minutes_below"] == 0
    assert 14.0 < cold["mkt_celsius"] < 15.0
    page = world.scan(_code(world, 2), point=(23.13, 113.26), json=False)
    assert "Storage conditions" in page
    assert "/proof/" in page


def test_no_ip_address_is_stored_and_points_are_coarse(world: World, database_url: str) -> None:
    world.scan(
        _code(world, 4), point=(22.543123, 114.057891), headers={"X-Forwarded-For": "203.0.113.7"}
    )
    world.flush()  # scans are written in batches, off the response path
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT lat, lon, accuracy_km, row_to_json(s)::text FROM consumer_scans s"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row is not None
    assert (row[0], row[1]) == (22.54, 114.06)
    assert row[2] >= 0.8
    assert "203.0.113" not in row[3]
    assert "testclient" not in row[3]
