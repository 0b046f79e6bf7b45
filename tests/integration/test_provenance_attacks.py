"""Acceptance (issue 14): custody and verdicts that no other tenant and no anonymous scanner
can bend. Each test is one attack of the issue, tried against the real app (``create_app``)
on a real PostgreSQL, with real EPCIS captures, real signed codes, the real ingest store
and provenance job for gateway events, and the real alert rules.

The world: two brands, ``acme`` (company prefix 9506000) and ``rival`` (6901234), each with
its own registered code key and issued codes. Acme ships to a Guangdong distributor
(``dist-gd``) and has a Zhejiang one (``dist-zj``) that never received these units.

Consumers reach the resolver through the TLS proxy (the test client's address is in
``CT_TRUSTED_PROXIES``), which forwards each phone's address in ``X-Forwarded-For``: that
is what makes two scanners independent. ``DIRECT`` is a client talking to the API without
the proxy (its forwarded headers are ignored).
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

from cloud.alerts import AlertKind, default_rules, evaluate
from cloud.api.routers.resolver import scan_clock
from cloud.app import create_app
from cloud.auth.apikeys import create_api_key
from cloud.channel.bulk import ensure_tenants
from cloud.channel.changes import Actor
from cloud.channel.records import Distributor, Location, Party, Product, Site
from cloud.channel.store import save_record
from cloud.ingest.store import write_batch
from cloud.jobs.provenance import drain_inbox
from cloud.migrate import migrate
from cloud.provenance.brands import record_issued_codes, register_brand_key
from cloud.provenance.codes import sign_link
from cloud.provenance.issue import IssuedCode, IssueRequest, issue_codes
from cloud.provenance.keys import create_brand_key, load_private_key
from cloud.registry import register_device
from cloud.settings import Settings, parse_networks
from tests.cloud._messages import Device
from tests.cloud.alerts._world import SETTINGS as ALERT_SETTINGS
from wire import CustodyEventBatch, Kind
from wire.epc import canonical_epc
from wire.gs1 import Gtin

pytestmark = pytest.mark.integration

HOST = "testserver"
PROXY = ("127.0.0.1", 50000)
DIRECT = ("203.0.113.9", 40000)
NOW = datetime.now(UTC).replace(microsecond=0)
ACME_PREFIX, RIVAL_PREFIX = "9506000", "6901234"
GTIN = "09506000134352"
RIVAL_GTIN = Gtin.from_parts("0", RIVAL_PREFIX, "00001").value
LOT = "L2025-05"
FACTORY = "urn:epc:id:sgln:9506000.00010.0"
DC_GZ = "urn:epc:id:sgln:9506000.00020.0"
SHOP_HZ = "urn:epc:id:sgln:9506000.00040.0"
RIVAL_SITE = "urn:epc:id:sgln:6901234.00010.0"
DIST_GD = "urn:epc:id:pgln:9506000.00001"
SHANGHAI = (31.2304, 121.4737)
BEIJING = (39.9042, 116.4074)
SHENZHEN = (22.5431, 114.0579)
# Units (acme codes): 0-3 shipped to dist-gd and received at its Guangzhou DC; 4 never left
# the factory in Shanghai; 5 destroyed at the DC; 6 recalled at the DC; 7 issued only.
SHIPPED, NEVER_SHIPPED, DESTROYED, RECALLED = (0, 1, 2, 3), 4, 5, 6


@dataclass
class World:
    database_url: str
    proxy: TestClient
    direct: TestClient
    acme: list[IssuedCode]
    rival: list[IssuedCode]
    acme_key: Ed25519PrivateKey
    rival_key: Ed25519PrivateKey
    keys: dict[str, str]  # principal name -> API key
    clock: list[datetime] = field(default_factory=lambda: [NOW])

    def code(self, i: int) -> str:
        return self.acme[i].code.uri

    def epc(self, i: int) -> str:
        return f"https://id.gs1.org/01/{GTIN}/21/{self.acme[i].serial}"

    def scan(
        self,
        code: str,
        *,
        client: str = "198.51.100.10",
        at: datetime | None = None,
        point: tuple[float, float] | None = None,
        region: str | None = None,
        html: bool = False,
    ) -> Any:
        """A consumer's scan through the proxy, which forwards the phone's address."""
        self.clock[0] = at or NOW
        if point is not None:
            code += ("&" if "?" in code else "?") + urlencode(
                {"lat": point[0], "lon": point[1], "acc": 30}
            )
        headers = {"X-Forwarded-For": client}
        if region is not None:  # the proxy's own geolocation of the phone
            headers["X-Region"] = region
        if not html:
            headers["Accept"] = "application/json"
        response = self.proxy.get(code, headers=headers)
        assert response.status_code == 200, response.text
        return response.text if html else response.json()

    def capture(self, principal: str, events: list[dict[str, Any]]) -> Any:
        return self.proxy.post(
            "/epcis/capture", json=_document(events), headers={"X-API-Key": self.keys[principal]}
        )

    def flush(self) -> None:
        """Wait until every scan answered so far is written (scans are written in batches,
        off the response path)."""
        assert self.proxy.portal is not None
        self.proxy.portal.call(self.proxy.app.state.scans.writer.flush)

    def count(self, sql: str, *args: Any) -> int:
        self.flush()
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(sql, args).fetchone()
        assert row is not None
        return int(row[0])

    def ledger_size(self) -> int:
        return self.count("SELECT count(*) FROM ledger_entries")


def _at(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")


def _event(kind: str, hours_ago: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "eventTime": _at(hours_ago), "eventTimeZoneOffset": "+08:00", **fields}


def _where(location: str) -> dict[str, Any]:
    return {"bizLocation": {"id": location}, "readPoint": {"id": location}}


def _document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _at(0),
        "epcisBody": {"eventList": events},
    }


def _channel(world: World) -> list[dict[str, Any]]:
    all_units = [world.epc(i) for i in range(7)]
    shipped = [world.epc(i) for i in (*SHIPPED, DESTROYED, RECALLED)]
    to_gd = {
        "destinationList": [
            {"type": "owning_party", "destination": DIST_GD},
            {"type": "location", "destination": DC_GZ},
        ]
    }
    return [
        _event("ObjectEvent", 240, epcList=all_units, action="ADD", bizStep="commissioning",
               **_where(FACTORY)),
        _event("ObjectEvent", 200, epcList=shipped, action="OBSERVE", bizStep="shipping",
               disposition="in_transit", readPoint={"id": FACTORY}, **to_gd),
        _event("ObjectEvent", 150, epcList=shipped, action="OBSERVE", bizStep="receiving",
               disposition="in_progress", **_where(DC_GZ), **to_gd),
        _event("ObjectEvent", 100, epcList=[world.epc(DESTROYED)], action="DELETE",
               bizStep="decommissioning", disposition="destroyed", **_where(DC_GZ)),
        _event("ObjectEvent", 90, epcList=[world.epc(RECALLED)], action="OBSERVE",
               bizStep="holding", disposition="recalled", **_where(DC_GZ)),
    ]  # fmt: skip


def _setup(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """The two brands' channels, set up through the channel store (docs/channel-setup.md)."""
    operator = Actor("test:operator", "operator")
    for tenant, name in (("acme", "Acme Wines"), ("rival", "Rival Spirits")):
        ensure_tenants(conn, [(tenant, name)], operator)
    records: list[tuple[str, Any]] = [
        ("acme", Product(GTIN, "Reserve Red 750 ml", None, 10.0, 18.0)),
        ("rival", Product(RIVAL_GTIN, "Rival Baijiu 500 ml")),
        ("acme", Distributor("dist-gd", "South China Wines", regions=("440000",))),
        ("acme", Distributor("dist-zj", "Zhejiang Wines", regions=("330000",))),
        ("acme", Site("factory", "Bottling plant", None, *SHANGHAI, "310000")),
        ("acme", Site("dc-gz", "Guangzhou DC", None, 23.13, 113.26, "440100", "dist-gd")),
        ("acme", Site("shop-hz", "Hangzhou shop", None, 30.27, 120.15, "330100", "dist-zj")),
        ("rival", Site("rival-dc", "Rival DC", None, 30.66, 104.07, "510100")),
        ("acme", Location(FACTORY, "factory")),
        ("acme", Location(DC_GZ, "dc-gz")),
        ("acme", Location(SHOP_HZ, "shop-hz")),
        ("rival", Location(RIVAL_SITE, "rival-dc")),
        ("acme", Party(DIST_GD, "dist-gd")),
    ]
    for tenant, record in records:
        save_record(conn, tenant, record, operator)
    return {
        "acme": create_api_key(conn, tenant_id="acme", role="brand", label="erp"),
        "rival": create_api_key(conn, tenant_id="rival", role="brand", label="erp"),
        "dist-gd": create_api_key(
            conn, tenant_id="acme", role="distributor", distributor_id="dist-gd", label="wms"
        ),
        "dist-zj": create_api_key(
            conn, tenant_id="acme", role="distributor", distributor_id="dist-zj", label="wms"
        ),
    }


def _register_prefix(client: TestClient, tenant: str, prefix: str, key: str) -> None:
    response = client.post(
        f"/v1/tenants/{tenant}/prefixes", json={"prefix": prefix}, headers={"X-API-Key": key}
    )
    assert response.status_code == 201, response.text


def _issue(
    conn: psycopg.Connection[Any], tmp: Path, tenant: str, gtin: str
) -> tuple[list[IssuedCode], Ed25519PrivateKey]:
    path, entry = create_brand_key(tmp / f"{tenant}-keys")
    key = load_private_key(path)
    codes = list(issue_codes(IssueRequest(HOST, Gtin(gtin), LOT, count=8), key))
    register_brand_key(conn, tenant, entry)
    record_issued_codes(conn, tenant, f"{tenant}-0001", codes, LOT)
    return codes, key


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    migrate(database_url)
    settings = Settings(
        database_url=database_url,
        public_rate_limit="100000/minute",
        trusted_proxies=parse_networks(PROXY[0]),
    )
    app = create_app(settings)
    with (
        psycopg.connect(database_url, autocommit=True) as conn,
        TestClient(app, client=PROXY) as proxy,
    ):
        keys = _setup(conn)
        _register_prefix(proxy, "acme", ACME_PREFIX, keys["acme"])
        _register_prefix(proxy, "rival", RIVAL_PREFIX, keys["rival"])
        acme, acme_key = _issue(conn, tmp_path, "acme", GTIN)
        rival, rival_key = _issue(conn, tmp_path, "rival", RIVAL_GTIN)
        state = World(
            database_url, proxy, TestClient(app, client=DIRECT), acme, rival, acme_key,
            rival_key, keys,
        )  # fmt: skip
        app.dependency_overrides[scan_clock] = lambda: state.clock[0]
        response = state.capture("acme", _channel(state))
        assert response.status_code == 202, response.text
        yield state


def _alerts(world: World, *kinds: AlertKind) -> list[tuple[str, str]]:
    every = default_rules(ALERT_SETTINGS, anchor_interval=None)
    rules = [r for r in every if r.name == "suspicion"]
    world.flush()
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        evaluate(conn, rules, now=world.clock[0] + timedelta(seconds=1))
        rows = conn.execute(
            "SELECT tenant_id, kind FROM alerts WHERE kind = ANY(%s) ORDER BY id",
            ([str(k) for k in kinds],),
        ).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


# ------------------------------------------------------------------ 1. ownership of identifiers


def test_another_brand_cannot_decommission_or_revive_a_unit(world: World) -> None:
    """Attack: with the rival brand's API key, decommission acme's bottle (its genuine code
    then scanned counterfeit), and re-commission a destroyed one (a clone of it passed)."""
    before = (world.ledger_size(), world.count("SELECT count(*) FROM custody_events"))
    victim = world.epc(SHIPPED[1])
    kill = _event("ObjectEvent", 1, epcList=[victim], action="DELETE",
                  bizStep="decommissioning", disposition="destroyed",
                  **_where(RIVAL_SITE))  # fmt: skip
    response = world.capture("rival", [kill])
    assert response.status_code == 403, response.text
    problem = response.json()
    assert problem["epc"] == victim
    assert victim in problem["detail"]
    revive = _event("ObjectEvent", 1, epcList=[world.epc(DESTROYED)], action="ADD",
                    bizStep="commissioning", **_where(RIVAL_SITE))  # fmt: skip
    response = world.capture("rival", [revive])
    assert response.status_code == 403, response.text
    assert response.json()["epc"] == world.epc(DESTROYED)
    assert (world.ledger_size(), world.count("SELECT count(*) FROM custody_events")) == before
    assert world.scan(world.code(SHIPPED[1]))["verdict"] == "genuine"
    destroyed = world.scan(world.code(DESTROYED))
    assert (destroyed["verdict"], destroyed["findings"][0]["code"]) == (
        "counterfeit",
        "decommissioned",
    )


def test_an_event_naming_one_foreign_epc_is_refused_whole(world: World) -> None:
    """Every identifier counts: a parent, a child, a quantity class or a transformation
    input under another brand's prefix refuses the document, naming the first one."""
    before = world.ledger_size()
    own = world.rival[0].link
    rival_unit = f"https://id.gs1.org/01/{own.gtin.value}/21/{own.serial}"
    acme_class = f"urn:epc:class:lgtin:{ACME_PREFIX}.013435.{LOT}"
    cases = [
        {"epcList": [rival_unit, world.epc(0)]},  # the second is acme's
        {"epcList": [rival_unit], "quantityList": [{"epcClass": acme_class, "quantity": 3}]},
    ]
    for fields in cases:
        event = _event("ObjectEvent", 1, action="OBSERVE", bizStep="inspecting",
                       **_where(RIVAL_SITE), **fields)  # fmt: skip
        response = world.capture("rival", [event])
        assert response.status_code == 403, response.text
        assert response.json()["epc"] in (world.epc(0), canonical_epc(acme_class))
    pack = _event("AggregationEvent", 1, parentID="urn:epc:id:sscc:9506000.0000000001",
                  childEPCs=[rival_unit], action="ADD", bizStep="packing",
                  **_where(RIVAL_SITE))  # fmt: skip
    response = world.capture("rival", [pack])
    assert response.status_code == 403, response.text
    assert response.json()["epc"] == canonical_epc("urn:epc:id:sscc:9506000.0000000001")
    assert world.ledger_size() == before
    # the rival's own unit, alone, is its to capture
    own_event = _event("ObjectEvent", 1, epcList=[rival_unit], action="ADD",
                       bizStep="commissioning", **_where(RIVAL_SITE))  # fmt: skip
    assert world.capture("rival", [own_event]).status_code == 202


def test_a_distributor_captures_only_units_shipped_to_it(world: World) -> None:
    """Attack: a distributor records events about units that were never at its sites."""
    before = world.ledger_size()
    receive = _event("ObjectEvent", 1, epcList=[world.epc(SHIPPED[2])], action="OBSERVE",
                     bizStep="receiving", **_where(SHOP_HZ))  # fmt: skip
    response = world.capture("dist-zj", [receive])  # its own shop, not its unit
    assert response.status_code == 403, response.text
    assert response.json()["epc"] == world.epc(SHIPPED[2])
    assert world.ledger_size() == before
    observe = _event("ObjectEvent", 1, epcList=[world.epc(SHIPPED[2])], action="OBSERVE",
                     bizStep="inspecting", **_where(DC_GZ))  # fmt: skip
    assert world.capture("dist-gd", [observe]).status_code == 202  # shipped to it: fine


def test_a_gateway_custody_event_for_a_foreign_epc_is_refused(world: World) -> None:
    """The same rule on the gateway path (ingest -> custody_inbox -> provenance job)."""
    rival_gw = Device("gw-rival", tenant="rival", site="rival-dc")
    zj_gw = Device("gw-zj", tenant="acme", site="shop-hz")
    gd_gw = Device("gw-gd", tenant="acme", site="dc-gz")
    before = world.ledger_size()
    sends = [
        (rival_gw, world.epc(SHIPPED[0]), RIVAL_SITE),  # another brand's unit
        (zj_gw, world.epc(SHIPPED[0]), SHOP_HZ),  # never shipped to this distributor
        (gd_gw, world.epc(SHIPPED[0]), DC_GZ),  # shipped to this site's distributor: fine
    ]
    with psycopg.connect(world.database_url, autocommit=True) as conn:
        for device, epc, location in sends:
            register_device(conn, device.registration)
            event = _event("ObjectEvent", 0.5, epcList=[epc], action="OBSERVE",
                           bizStep="inspecting", **_where(location))  # fmt: skip
            batch = CustodyEventBatch(sent_at=NOW, events=[event])
            write_batch(conn, [device.accept(device.inbound(Kind.EVENTS, 1, batch))], [])
        drain_inbox(100, conn)
        outcomes = conn.execute(
            "SELECT i.device_id, o.accepted, o.reason FROM custody_inbox_outcomes o"
            " JOIN custody_inbox i ON i.id = o.inbox_id ORDER BY i.device_id"
        ).fetchall()
    by_device = {r[0]: (r[1], r[2]) for r in outcomes}
    assert by_device["gw-gd"][0] is True
    for device in ("gw-rival", "gw-zj"):
        accepted, reason = by_device[device]
        assert accepted is False, device
        assert world.epc(SHIPPED[0]) in reason, reason
    assert world.ledger_size() == before + 1  # only the distributor's own unit


# ------------------------------------------------------------------ 2. key and issuer agree


def test_a_key_of_another_brand_does_not_make_a_serial_genuine(world: World) -> None:
    """Attack: acme's GTIN/lot/serial signed with the rival's registered key."""
    forged = sign_link(world.acme[0].link, world.rival_key).uri
    answer = world.scan(forged)
    assert answer["verdict"] == "counterfeit"
    assert answer["findings"][0]["code"] == "key_not_issuer"
    assert "rival" not in answer["reason"]  # the key's owner is not named to the public
    assert answer["product"] is None
    assert answer["timeline"] == []
    # ... nor the other way round: acme's key minting a serial of the rival's product
    minted = sign_link(world.rival[0].link, world.acme_key).uri
    assert world.scan(minted)["findings"][0]["code"] == "key_not_issuer"
    # the genuine code is untouched by both
    assert world.scan(world.code(0))["verdict"] == "genuine"


# ------------------------------------------------------------------ 3. untrusted scans


def test_unsigned_scans_do_not_poison_a_genuine_unit(world: World) -> None:
    """Attack: two unsigned requests to a real code's path, one with X-Region: CN-GD, one
    with Beijing coordinates, made the real code's next scan a clone and a diversion."""
    unsigned = world.acme[SHIPPED[2]].link.uri
    headers = {"Accept": "application/json", "X-Region": "CN-GD"}
    first = world.direct.get(unsigned, headers=headers).json()
    world.clock[0] = NOW + timedelta(minutes=1)
    where = urlencode({"lat": BEIJING[0], "lon": BEIJING[1], "acc": 30})
    second = world.direct.get(f"{unsigned}?{where}", headers=headers).json()
    for answer in (first, second):
        assert (answer["verdict"], answer["findings"][0]["code"]) == ("counterfeit", "malformed")
    genuine = world.scan(world.code(SHIPPED[2]), at=NOW + timedelta(minutes=30), point=SHENZHEN)
    assert genuine["verdict"] == "genuine"
    assert genuine["previous_scans"] == 0
    assert _alerts(world, AlertKind.CLONE, AlertKind.DIVERSION) == []
    # the forged scans are kept apart, for the brand's counterfeit map
    until = (NOW + timedelta(hours=1)).isoformat()
    scans = world.proxy.get(
        "/audit/scans",
        params={"tenant": "acme", "until": until},
        headers={"X-API-Key": world.keys["acme"]},
    ).json()
    verdicts = sorted(p["verdict"] for p in scans["points"])
    assert verdicts == ["counterfeit", "counterfeit", "genuine"]


def test_a_flood_of_unsigned_scans_leaves_verdict_and_cost_alone(world: World) -> None:
    """Attack: 480 unsigned scans of one code (they made each genuine scan walk 480 rows
    and turned it into a clone: too many scans in a day)."""
    unsigned = world.acme[SHIPPED[3]].link.uri
    for i in range(480):
        world.clock[0] = NOW + timedelta(seconds=i)
        response = world.direct.get(unsigned, headers={"Accept": "application/json"})
        assert response.status_code == 200
    answer = world.scan(world.code(SHIPPED[3]), at=NOW + timedelta(minutes=10))
    assert (answer["verdict"], answer["previous_scans"]) == ("genuine", 0)
    # the verdict reads one summary row per unit, whatever the history: bounded cost
    for i in range(80):
        world.scan(world.code(SHIPPED[3]), at=NOW + timedelta(hours=1, minutes=i))
    world.flush()
    with psycopg.connect(world.database_url) as conn:
        row = conn.execute(
            "SELECT scans, jsonb_array_length(recent), jsonb_array_length(early)"
            " FROM unit_scan_state WHERE tenant_id = 'acme' AND gtin = %s AND serial = %s",
            (GTIN, world.acme[SHIPPED[3]].serial),
        ).fetchone()
    assert row is not None
    assert row[0] == 81
    assert row[1] <= 64
    assert row[2] <= 8


def test_one_scanner_alone_cannot_confirm_a_clone_or_a_diversion(world: World) -> None:
    """Scans of a genuine code from one phone (one network) in places too far apart are an
    unconfirmed suspicion, worded as such; a second independent scanner confirms it."""
    code = world.code(SHIPPED[0])
    world.scan(code, client="198.51.100.10", at=NOW, point=BEIJING)
    alone = world.scan(code, client="198.51.100.10", at=NOW + timedelta(minutes=50),
                       point=SHANGHAI)  # fmt: skip
    assert (alone["verdict"], alone["confirmed"]) == ("suspected_clone", False)
    assert "not confirmed" in alone["reason"]
    page = world.scan(code, client="198.51.100.10", at=NOW + timedelta(minutes=51),
                      point=SHANGHAI, html=True)  # fmt: skip
    assert "not confirmed" in page
    assert _alerts(world, AlertKind.CLONE) == []
    other = world.scan(code, client="192.0.2.77", at=NOW + timedelta(minutes=55), point=BEIJING)
    assert (other["verdict"], other["confirmed"]) == ("suspected_clone", True)
    assert _alerts(world, AlertKind.CLONE) == [("acme", "clone")]
    # diversion: first seen in Zhejiang (the proxy's geolocation) by one phone, then another
    code = world.code(SHIPPED[1])
    first = world.scan(code, client="198.51.100.20", region="CN-ZJ")
    assert (first["verdict"], first["confirmed"]) == ("suspected_diversion", False)
    second = world.scan(code, client="203.0.113.50", region="CN-ZJ",
                        at=NOW + timedelta(hours=3))  # fmt: skip
    assert (second["verdict"], second["confirmed"]) == ("suspected_diversion", True)


def test_a_lying_first_scanner_does_not_make_an_honest_buyer_a_diverter(world: World) -> None:
    """A copier who scans first from outside the area (one phone) is contradicted by the
    buyer's scan inside it: no diversion, for the buyer or anyone after."""
    code = world.code(SHIPPED[2])
    assert world.scan(code, client="198.51.100.30", region="CN-ZJ")["confirmed"] is False
    buyer = world.scan(code, client="192.0.2.31", region="CN-GD", at=NOW + timedelta(days=2))
    assert buyer["verdict"] == "genuine_seen_before"


# ------------------------------------------------------------------ 4. custody in the verdict


def test_a_unit_that_never_left_the_brand_is_not_plain_genuine(world: World) -> None:
    """Attack: a unit commissioned in Shanghai and never shipped, scanned 1,000 km away."""
    answer = world.scan(world.code(NEVER_SHIPPED), point=BEIJING)
    assert answer["verdict"] == "inconsistent_custody"
    assert answer["findings"][0]["code"] == "never_shipped"
    assert "not left" in answer["reason"]
    page = world.scan(world.code(NEVER_SHIPPED), point=BEIJING, html=True)
    assert "records" in page


def test_recalled_and_destroyed_units_are_never_genuine(world: World) -> None:
    recalled = world.scan(world.code(RECALLED), point=SHENZHEN)
    assert (recalled["verdict"], recalled["findings"][0]["code"]) == ("recalled", "recalled")
    destroyed = world.scan(world.code(DESTROYED), point=SHENZHEN)
    assert destroyed["verdict"] == "counterfeit"


# ------------------------------------------------------------------ 5. malformed requests


def test_malformed_codes_are_refused_and_leave_nothing_behind(world: World) -> None:
    """Attack: a GTIN of the wrong length and a 10 kB serial answered 200 as scans."""
    tables = ("consumer_scans", "counterfeit_scans", "unit_scan_state")

    def stored() -> list[int]:
        return [
            world.count(f"SELECT count(*) FROM {t}")
            for t in tables
        ]

    before = stored()
    good = world.acme[0]
    tail = f"?k={good.code.kid}&s=" + "A" * 86
    bad = {
        f"/01/950600013435/10/{LOT}/21/{good.serial}{tail}": "GTIN",  # 12 digits, bad check
        f"/01/095060001343520/10/{LOT}/21/{good.serial}{tail}": "GTIN",  # 15 digits
        f"/01/09506000134353/10/{LOT}/21/{good.serial}{tail}": "check digit",
        f"/01/{GTIN}/10/{LOT}/21/{'A' * 10_000}{tail}": "serial",
        f"/01/{GTIN}/10/{LOT}/21/AB~CD{tail}": "serial",
        f"/01/{GTIN}/10/{'L' * 21}/21/{good.serial}{tail}": "lot",
        f"/01/{GTIN}/10/{LOT}/21/{good.serial}{tail}&utm={'x' * 5_000}": "query",
    }
    for path, word in bad.items():
        response = world.proxy.get(path, headers={"Accept": "application/json"})
        assert response.status_code == 400, (path[:80], response.status_code, response.text[:200])
        assert response.headers["content-type"].startswith("application/problem+json")
        assert word in response.json()["detail"], response.json()
        page = world.proxy.get(path, headers={"Accept": "text/html"})
        assert page.status_code == 400
        assert page.headers["content-type"].startswith("text/html")
        assert "<script" not in page.text
    assert stored() == before
    # a short unknown parameter (a campaign tag) is fine
    assert world.scan(world.code(0) + "&utm_source=poster")["verdict"] == "genuine"
