"""Channel master data through the real API on real PostgreSQL: each resource created,
updated, refused with what was expected and got, imported in bulk; distributors with
their own logins see only their own sites and stock; another brand sees nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.auth.apikeys import create_api_key
from cloud.channel.changes import Actor
from cloud.channel.people import create_tenant
from cloud.migrate import migrate
from cloud.settings import Settings

pytestmark = pytest.mark.integration

OPERATOR = Actor("cli:operator", "operator")
PASSWORD = "a long enough password"
ACME = "/v1/tenants/acme"


@dataclass
class Api:
    client: TestClient
    url: str
    brand: dict[str, str]
    rival: dict[str, str]

    def call(self, method: str, path: str, status: int, as_: dict[str, str] | None = None,
             **kwargs: Any) -> Any:  # fmt: skip
        headers = self.brand if as_ is None else as_
        response = self.client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        return response.json() if response.content else None

    def login(self, username: str, password: str) -> dict[str, str]:
        response = self.client.post("/auth/token", data={"username": username,
                                                          "password": password})  # fmt: skip
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        create_tenant(conn, "acme", "Acme Wines", "ana@acme", PASSWORD, OPERATOR)
        create_tenant(conn, "zeta", "Zeta Spirits", "zoe@zeta", PASSWORD, OPERATOR)
        brand = create_api_key(conn, tenant_id="acme", role="brand", label="tests")
        rival = create_api_key(conn, tenant_id="zeta", role="brand", label="tests")
    settings = Settings(database_url=database_url, public_rate_limit="1000/minute",
                             api_max_import_bytes=64 * 1024)  # fmt: skip
    with TestClient(create_app(settings)) as client:
        yield Api(client, database_url, {"X-API-Key": brand}, {"X-API-Key": rival})


def test_distributors_created_updated_refused_and_logged(api: Api) -> None:
    east = api.call("POST", f"{ACME}/distributors", 201, json={
        "id": "east", "name": "East China Wines", "regions": ["310000", "CN-JS"],
        "contact_name": "Li Wei", "contact_phone": "+86 21 5555 0100"})  # fmt: skip
    assert east["regions"] == [{"code": "310000", "name": "上海市"},
                               {"code": "320000", "name": "江苏省"}]  # fmt: skip
    api.call("POST", f"{ACME}/distributors", 409, json={"id": "east", "name": "Again"})
    shop = api.call("PUT", f"{ACME}/distributors/sh-shop", 201,
                    json={"name": "Shanghai Shop", "parent_id": "east", "regions": ["310100"]})
    assert shop["parent_id"] == "east"
    problem = api.call("PUT", f"{ACME}/distributors/east", 422, json={
        "name": "East", "parent_id": "sh-shop", "regions": ["440304", "990000"],
        "contact_email": "nobody"})  # fmt: skip
    assert problem["type"] == "tag:channeltrace.example,2026:problem/invalid-request"
    assert problem["errors"] == [
        {"pointer": "/regions", "detail": "expected a province or city code, got '440304'"},
        {"pointer": "/regions", "detail": "expected a code of a Chinese province (first two "
         "digits 11–82), got '990000'"},
        {"pointer": "/contact_email",
         "detail": "expected an e-mail address like name@example.com, got 'nobody'"},
    ]  # fmt: skip
    loop = api.call("PUT", f"{ACME}/distributors/east", 422,
                    json={"name": "East", "parent_id": "sh-shop"})
    assert "does not buy, directly or not, from east" in loop["errors"][0]["detail"]
    api.call("PUT", f"{ACME}/distributors/east", 200,
             json={"name": "East China Wines Ltd", "regions": ["310000"]})
    changes = api.call("GET", f"{ACME}/channel/changes", 200, params={"entity": "distributor"})
    assert [(c["key"], c["action"]) for c in changes] == [
        ("east", "update"), ("sh-shop", "create"), ("east", "create")]  # fmt: skip
    assert changes[0]["before"]["name"] == "East China Wines"
    assert changes[0]["after"]["name"] == "East China Wines Ltd"
    assert changes[0]["via"] == "api"
    api.call("GET", f"{ACME}/distributors", 404, as_=api.rival)
    api.call("PUT", f"{ACME}/distributors/east", 404, as_=api.rival, json={"name": "Mine"})
    api.call("GET", f"{ACME}/distributors", 401, as_={})
    assert api.call("GET", "/v1/tenants/zeta/distributors", 200, as_=api.rival) == []


def test_sites_products_and_mappings(api: Api) -> None:
    api.call("POST", f"{ACME}/distributors", 201, json={"id": "east", "name": "East"})
    site = api.call("POST", f"{ACME}/sites", 201, json={
        "id": "wh-sz", "name": "Shenzhen DC", "address": "1 Futian Rd", "latitude": 22.5431,
        "longitude": 114.0579, "distributor_id": "east"})  # fmt: skip
    assert (site["region"], site["distributor_id"], site["devices"]) == ("440300", "east", 0)
    wrong = api.call("PUT", f"{ACME}/sites/wh-sz", 422, json={
        "name": "Shenzhen DC", "latitude": 22.5431, "longitude": 114.0579, "region": "310000"})
    assert wrong["errors"][0]["pointer"] == "/region"
    api.call("PUT", f"{ACME}/sites/wh-sz", 200, json={"name": "Shenzhen DC", "region": "440000"})
    api.call("PUT", f"{ACME}/sites/wh-sz", 422, json={"id": "other", "name": "X"})

    product = api.call("PUT", f"{ACME}/products/09506000134352", 201, json={
        "name_en": "Reserve Red 750 ml", "name_zh": "珍藏干红", "temp_min_c": 10,
        "temp_max_c": 18})  # fmt: skip
    assert product["name"] == "Reserve Red 750 ml"
    api.call("POST", f"{ACME}/products", 201, json={"gtin": "6901234567892", "name_zh": "白酒"})
    assert api.call("GET", f"{ACME}/products/06901234567892", 200)["name"] == "白酒"
    bad = api.call("POST", f"{ACME}/products", 422, json={"gtin": "6901234567891"})
    assert [e["pointer"] for e in bad["errors"]] == ["/gtin", "/name_en"]

    location = {"location": "urn:epc:id:sgln:9506000.00020.0", "site_id": "wh-sz"}
    assert api.call("POST", f"{ACME}/epcis/locations", 201, json=location)["target"] == "wh-sz"
    api.call("POST", f"{ACME}/epcis/locations", 200, json=location)  # idempotent
    api.call("POST", f"{ACME}/epcis/parties", 201,
             json={"party": "urn:epc:id:pgln:9506000.00001", "distributor_id": "east"})
    api.call("POST", f"{ACME}/epcis/parties", 422,
             json={"party": "urn:epc:id:pgln:9506000.00002", "distributor_id": "ghost"})
    api.call("DELETE", f"{ACME}/epcis/locations", 204, params={"location": location["location"]})
    api.call("DELETE", f"{ACME}/epcis/locations", 404, params={"location": location["location"]})
    # The other brand may map the same SGLN to a site of its own; acme's stays acme's.
    api.call("POST", "/v1/tenants/zeta/sites", 201, as_=api.rival, json={"id": "z", "name": "Z"})
    api.call("POST", "/v1/tenants/zeta/epcis/locations", 201, as_=api.rival,
             json={**location, "site_id": "z"})
    api.call("POST", "/v1/tenants/zeta/epcis/locations", 422, as_=api.rival, json=location)
    assert api.call("GET", f"{ACME}/epcis/locations", 200) == []
    kinds = {c["entity"] for c in api.call("GET", f"{ACME}/channel/changes", 200)}
    assert kinds == {"tenant", "user", "distributor", "site", "product", "location", "party"}


def test_distributor_logins_see_their_own_sites_and_stock_only(api: Api) -> None:
    for ident in ("east", "south"):
        api.call("POST", f"{ACME}/distributors", 201, json={"id": ident, "name": ident.title()})
    for site, owner in (("wh-sh", "east"), ("wh-gz", "south"), ("hq", None)):
        api.call("POST", f"{ACME}/sites", 201,
                 json={"id": site, "name": site, "distributor_id": owner})
    created = api.call("POST", f"{ACME}/users", 201,
                       json={"username": "dan@east", "distributor_id": "east"})
    assert created["role"] == "distributor"
    assert len(created["password"]) >= 16
    api.call("POST", f"{ACME}/users", 409, json={"username": "dan@east",
                                                  "distributor_id": "east"})  # fmt: skip
    api.call("POST", f"{ACME}/users", 422, json={"username": "x", "distributor_id": "ghost"})
    api.call("POST", f"{ACME}/users", 422, json={"username": "y", "password": "short"})
    dan = api.login("dan@east", created["password"])
    _stock(api.url)
    assert [s["id"] for s in api.call("GET", f"{ACME}/sites", 200, as_=dan)] == ["wh-sh"]
    api.call("GET", f"{ACME}/sites/wh-gz", 404, as_=dan)
    assert [d["id"] for d in api.call("GET", f"{ACME}/distributors", 200, as_=dan)] == ["east"]
    stock = api.call("GET", f"{ACME}/stock/positions", 200, as_=dan)
    assert [(p["site_id"], p["sensed"]) for p in stock] == [("wh-sh", 12)]
    everything = api.call("GET", f"{ACME}/stock/positions", 200)
    assert sorted(p["site_id"] for p in everything) == ["wh-gz", "wh-sh"]
    # A distributor reads the catalogue but writes nothing, manages no logins.
    api.call("POST", f"{ACME}/products", 403, as_=dan, json={"gtin": "09506000134352",
                                                           "name_en": "X"})  # fmt: skip
    api.call("PUT", f"{ACME}/sites/wh-sh", 403, as_=dan, json={"name": "mine"})
    api.call("POST", f"{ACME}/users", 403, as_=dan, json={"username": "eve"})
    api.call("GET", f"{ACME}/users", 403, as_=dan)
    api.call("GET", f"{ACME}/channel/changes", 403, as_=dan)
    api.call("GET", "/v1/tenants/zeta/users", 404)
    logins = api.call("GET", f"{ACME}/users", 200)
    assert [(u["username"], u["role"]) for u in logins] == [
        ("ana@acme", "brand"), ("dan@east", "distributor")]  # fmt: skip
    api.call("POST", f"{ACME}/users/dan@east/disable", 200)
    api.call("POST", "/v1/tenants/zeta/users/dan@east/disable", 404, as_=api.rival)
    api.call("GET", f"{ACME}/sites", 401, as_=dan)  # a disabled login stops at once


def _stock(url: str) -> None:
    t = datetime.now(UTC) - timedelta(minutes=5)
    with psycopg.connect(url, autocommit=True) as conn:  # what the ingest stores
        conn.execute("INSERT INTO devices (id, tenant_id, site_id) VALUES"
                     " ('gw-sh', 'acme', 'wh-sh'), ('gw-gz', 'acme', 'wh-gz')")  # fmt: skip
        conn.execute(
            "INSERT INTO stock_counts (time, received_at, tenant_id, site_id, device_id, seq,"
            " gtin, quantity, location, method) VALUES"
            " (%(t)s, %(t)s, 'acme', 'wh-sh', 'gw-sh', 1, '09506000134352', 12, 'A', 'rfid'),"
            " (%(t)s, %(t)s, 'acme', 'wh-gz', 'gw-gz', 1, '09506000134352', 7, 'B', 'rfid')",
            {"t": t},
        )


CSV = (
    "kind,id,name,parent_id,regions,latitude,longitude,distributor_id,gtin,name_en\n"
    "distributor,east,East,,310000,,,,,\n"
    "site,wh-sh,Shanghai DC,,,31.2304,121.4737,east,,\n"
    "product,,,,,,,,09506000134352,Reserve Red\n"
)


def test_import_dry_run_apply_reimport_and_limits(api: Api) -> None:
    path = f"{ACME}/channel/imports"
    headers = {**api.brand, "Content-Type": "text/csv"}
    bad = api.call("POST", path, 200, as_=headers, params={"filename": "channel.csv"},
                   content=CSV.replace("121.4737", "221.4737").encode())  # fmt: skip
    assert (bad["applied"], bad["problem_count"]) == (False, 1)
    assert bad["problems"] == [{"sheet": "channel.csv", "row": 3, "column": "longitude",
                                "expected": "a number from -180 to 180 (degrees east, WGS-84)",
                                "got": "'221.4737'"}]  # fmt: skip
    assert api.call("GET", f"{ACME}/sites", 200) == []
    dry = api.call("POST", path, 200, as_=headers, params={"dry_run": "true"},
                   content=CSV.encode())  # fmt: skip
    assert (dry["applied"], dry["problems"], dry["created"]) == (
        False, [], {"distributors": 1, "sites": 1, "products": 1})  # fmt: skip
    applied = api.call("POST", f"{path}/{dry['import_id']}/apply", 200)
    assert applied["applied"]
    api.call("POST", f"{path}/{dry['import_id']}/apply", 409)
    again = api.call("POST", path, 200, as_=headers, content=CSV.encode())
    assert (again["applied"], again["created"], again["updated"]) == (True, {}, {})
    assert sum(again["unchanged"].values()) == 3
    listed = api.call("GET", path, 200)
    assert [i["id"] for i in listed][:2] == [again["import_id"], dry["import_id"]]
    assert api.call("GET", f"{path}/{dry['import_id']}", 200)["applied_by"] is not None
    api.call("GET", f"{path}/{dry['import_id']}", 404, as_=api.rival)
    api.call("GET", f"/v1/tenants/zeta/channel/imports/{dry['import_id']}", 404, as_=api.rival)
    unreadable = api.call("POST", path, 422, as_=headers, content=b"PK\x03\x04junk")
    assert "expected an Excel workbook" in unreadable["detail"]
    too_big = api.client.post(path, headers=headers, content=b"x" * (65 * 1024))
    assert too_big.status_code == 413
    anonymous = api.client.post(path, headers={"Content-Type": "text/csv"}, content=CSV.encode())
    assert anonymous.status_code == 401
