"""Acceptance: where a scan happened decides diversion, from its GPS point alone, offline,
near a provincial border — through the real API and resolver on real PostgreSQL.

The brand's channel is set up through the channel API (a distributor authorised for
Shenzhen only, its warehouse, the EPCIS mappings, the company prefix), codes are issued and
custody captured through the API; then phones scan without any region header. Luohu (a
Shenzhen district, 0.75 km from Hong Kong) is inside; Sheung Shui (Hong Kong, 4.4 km away)
is outside; Dongguan (the next city of the same province) is outside a city-level area.
(A nearest-city-centre lookup over the data's 363 cities names Shenzhen for Sheung Shui;
a 25 km circle around Shenzhen's centre would hold it too.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.auth.apikeys import create_api_key
from cloud.channel.changes import Actor
from cloud.channel.people import create_tenant
from cloud.migrate import migrate
from cloud.provenance.brands import record_issued_codes, register_brand_key
from cloud.provenance.issue import IssuedCode, IssueRequest, issue_codes
from cloud.provenance.keys import create_brand_key, load_private_key
from cloud.settings import Settings
from wire.gs1 import Gtin

pytestmark = pytest.mark.integration

HOST = "testserver"
GTIN, LOT = "09506000134352", "L-SZ-01"
FACTORY, DC_SZ = "urn:epc:id:sgln:9506000.00010.0", "urn:epc:id:sgln:9506000.00020.0"
DIST_SZ = "urn:epc:id:pgln:9506000.00001"
LUOHU = (22.5405, 114.1180)  # Shenzhen, Luohu district, 0.75 km from the Hong Kong border
SHEUNG_SHUI = (22.5016, 114.1278)  # Hong Kong, 3.5 km from the border
DONGGUAN = (23.0205, 113.7518)  # Guangdong, but another city than Shenzhen
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class World:
    client: TestClient
    codes: list[IssuedCode]
    database_url: str

    def scan(self, i: int, point: tuple[float, float], client_ip: str) -> Any:
        where = urlencode({"lat": point[0], "lon": point[1], "acc": 20})
        phone = TestClient(self.client.app, client=(client_ip, 40000))
        response = phone.get(f"{self.codes[i].code.uri}&{where}",
                             headers={"Accept": "application/json"})  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()


def _event(hours_ago: float, **fields: Any) -> dict[str, Any]:
    at = (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")
    return {"type": "ObjectEvent", "eventTime": at, "eventTimeZoneOffset": "+08:00", **fields}


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    migrate(database_url)
    key_path, entry = create_brand_key(tmp_path / "keys")
    codes = list(issue_codes(IssueRequest(HOST, Gtin(GTIN), LOT, count=4),
                             load_private_key(key_path)))  # fmt: skip
    with psycopg.connect(database_url, autocommit=True) as conn:
        create_tenant(conn, "acme", "Acme Wines", "ana@acme", "a long enough password",
                      Actor("test:operator", "operator"))  # fmt: skip
        brand = {"X-API-Key": create_api_key(conn, tenant_id="acme", role="brand", label="t")}
    settings = Settings(database_url=database_url, public_rate_limit="10000/minute")
    with TestClient(create_app(settings)) as client:

        def put(path: str, body: dict[str, Any], method: str = "PUT") -> None:
            response = client.request(method, f"/v1/tenants/acme{path}", json=body,
                                      headers=brand)  # fmt: skip
            assert response.status_code in (200, 201), response.text

        put("/prefixes", {"prefix": "9506000"}, "POST")
        with psycopg.connect(database_url, autocommit=True) as conn:  # codes need the prefix
            register_brand_key(conn, "acme", entry)
            record_issued_codes(conn, "acme", "b1", codes, LOT)
        put("/distributors/dist-sz", {"name": "深圳酒业", "regions": ["440300"]})
        put("/sites/factory", {"name": "Plant", "latitude": 30.2084, "longitude": 120.2105})
        put("/sites/dc-sz", {"name": "Shenzhen DC", "latitude": 22.6, "longitude": 114.05,
                             "distributor_id": "dist-sz"})  # fmt: skip
        put("/epcis/locations", {"location": FACTORY, "site_id": "factory"}, "POST")
        put("/epcis/locations", {"location": DC_SZ, "site_id": "dc-sz"}, "POST")
        put("/epcis/parties", {"party": DIST_SZ, "distributor_id": "dist-sz"}, "POST")
        units = [c.link.uri for c in codes]
        to_sz = [{"type": "owning_party", "destination": DIST_SZ},
                 {"type": "location", "destination": DC_SZ}]  # fmt: skip
        document = {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": NOW.isoformat().replace("+00:00", "Z"),
            "epcisBody": {"eventList": [
                _event(48, epcList=units, action="ADD", bizStep="commissioning",
                       bizLocation={"id": FACTORY}, readPoint={"id": FACTORY}),
                _event(40, epcList=units, action="OBSERVE", bizStep="shipping",
                       readPoint={"id": FACTORY}, destinationList=to_sz),
                _event(20, epcList=units, action="OBSERVE", bizStep="receiving",
                       bizLocation={"id": DC_SZ}, readPoint={"id": DC_SZ}),
            ]},
        }  # fmt: skip
        response = client.post("/epcis/capture", json=document, headers=brand)
        assert response.status_code == 202, response.text
        yield World(client, codes, database_url)


def test_the_border_is_where_the_polygons_say(world: World) -> None:
    inside = world.scan(0, LUOHU, "198.51.100.1")
    assert inside["verdict"] == "genuine", inside
    across = world.scan(1, SHEUNG_SHUI, "198.51.100.2")
    assert across["verdict"] == "suspected_diversion", across
    assert across["confirmed"] is False  # one phone's word (issue 14)
    evidence = across["findings"][0]["evidence"]
    assert evidence["distributor"] == "dist-sz"
    assert str(evidence["region"]).startswith("81")  # Hong Kong, from the point alone
    next_city = world.scan(2, DONGGUAN, "198.51.100.3")  # same province, another city
    assert next_city["verdict"] == "suspected_diversion", next_city
    # scans are written in batches off the response path: wait for them
    assert world.client.portal is not None
    world.client.portal.call(world.client.app.state.scans.writer.flush)
    with psycopg.connect(world.database_url) as conn:
        rows = conn.execute(
            "SELECT serial, region FROM consumer_scans ORDER BY scanned_at"
        ).fetchall()
    regions = {serial: region for serial, region in rows}
    assert regions[world.codes[0].serial] == "440303"  # Luohu district, GB/T 2260
    assert regions[world.codes[2].serial].startswith("4419")  # Dongguan
