"""A brand's channel for the consumer pages in a real browser: real signed codes issued for
the served resolver's host, custody captured as EPCIS (shipped, received, sold outside the
area, recalled, never shipped), a month of warehouse readings, passports computed, and the
ledger anchored on anvil so the proof pages are sealed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from cloud.channel.bulk import ensure_tenants
from cloud.channel.changes import Actor
from cloud.channel.records import Distributor, Location, Party, Product, Site
from cloud.channel.store import save_record
from cloud.migrate import migrate
from cloud.provenance.brands import record_issued_codes, register_brand_key
from cloud.provenance.capture import Capturer, capture_document
from cloud.provenance.issue import IssuedCode, IssueRequest, issue_codes
from cloud.provenance.keys import create_brand_key, load_private_key
from cloud.provenance.passports import refresh_passports
from cloud.provenance.prefixes import add_prefix
from ledger.note import LogKey
from ledger.service.anchor import Web3Anchorer, deploy_anchor_contract
from ledger.service.jobs import anchor_latest, make_checkpoint
from tests.plugins.anvil import Anvil
from wire.gs1 import Gtin

GTIN = "09506000134352"
LOT = "L2025-05"
BRAND = "Acme Wines"
PRODUCT_EN = "Reserve Red 750 ml"
PRODUCT_ZH = "珍藏干红葡萄酒 750毫升"
DIST = "urn:epc:id:pgln:9506000.00001"
FACTORY, DC_GZ, SHOP_SZ, SHOP_HZ = (
    "urn:epc:id:sgln:9506000.00010.0",
    "urn:epc:id:sgln:9506000.00020.0",
    "urn:epc:id:sgln:9506000.00030.0",
    "urn:epc:id:sgln:9506000.00040.0",
)
SITE_NAMES = ("上海灌装厂", "广州配送中心", "深圳旗舰店", "杭州专卖店")
PALLET = "urn:epc:id:sscc:9506000.0000000099"
GUANGZHOU = (23.13, 113.26)
BEIJING = (39.90, 116.41)
SHANGHAI = (31.23, 121.47)
CHENGDU = (30.66, 104.06)

# the units and what their pages are to say
GENUINE, DIVERTED, CLONED, RECALLED, NEVER_SHIPPED, FORGED = range(6)


@dataclass
class ConsumerWorld:
    database_url: str
    host: str
    codes: list[IssuedCode]
    key: Any
    ledger_indexes: list[int]

    def path(self, unit: int, point: tuple[float, float] | None = None) -> str:
        uri = self.codes[unit].code.uri.removeprefix(f"http://{self.host}").removeprefix(
            f"https://{self.host}"
        )
        if point is not None:
            uri += f"&lat={point[0]}&lon={point[1]}&acc=30"
        return uri


def _at(now: datetime, days: float) -> str:
    return (now - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def _event(now: datetime, kind: str, days: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "eventTime": _at(now, days), "eventTimeZoneOffset": "+08:00", **fields}


def _where(site: str) -> dict[str, Any]:
    return {"bizLocation": {"id": site}, "readPoint": {"id": site}}


def _events(now: datetime, epcs: list[str]) -> list[dict[str, Any]]:
    shipped = epcs[: NEVER_SHIPPED] + epcs[NEVER_SHIPPED + 1 :]
    to_gd = {"destinationList": [{"type": "owning_party", "destination": DIST},
                                 {"type": "location", "destination": DC_GZ}]}  # fmt: skip
    e = _event
    return [
        e(now, "ObjectEvent", 30, epcList=epcs, action="ADD", bizStep="commissioning",
          **_where(FACTORY)),
        e(now, "AggregationEvent", 29.9, parentID=PALLET, childEPCs=shipped, action="ADD",
          bizStep="packing", **_where(FACTORY)),
        e(now, "ObjectEvent", 29, epcList=[PALLET], action="OBSERVE", bizStep="shipping",
          disposition="in_transit", **to_gd),
        e(now, "ObjectEvent", 27, epcList=[PALLET], action="OBSERVE", bizStep="receiving",
          disposition="in_progress", **_where(DC_GZ), **to_gd),
        e(now, "AggregationEvent", 26.9, parentID=PALLET, childEPCs=shipped, action="DELETE",
          bizStep="unpacking", **_where(DC_GZ)),
        e(now, "ObjectEvent", 20, epcList=epcs[GENUINE:GENUINE + 1], action="OBSERVE",
          bizStep="receiving", **_where(SHOP_SZ)),
        e(now, "ObjectEvent", 8, epcList=epcs[DIVERTED:DIVERTED + 1], action="OBSERVE",
          bizStep="retail_selling", disposition="retail_sold", **_where(SHOP_HZ)),
        e(now, "ObjectEvent", 2, epcList=epcs[RECALLED:RECALLED + 1], action="OBSERVE",
          bizStep="holding", disposition="recalled", **_where(DC_GZ)),
    ]  # fmt: skip


def build_consumer_world(database_url: str, host: str, keys: Path, anvil: Anvil) -> ConsumerWorld:
    now = datetime.now(UTC).replace(microsecond=0)
    migrate(database_url)
    key_path, entry = create_brand_key(keys)
    key = load_private_key(key_path)
    codes = list(issue_codes(IssueRequest(host, Gtin(GTIN), LOT, count=8), key))
    operator = Actor("test:operator", "operator")
    with psycopg.connect(database_url, autocommit=True) as conn:
        ensure_tenants(conn, [("acme", BRAND)], operator)
        for record in (
            Product(GTIN, PRODUCT_EN, PRODUCT_ZH, 10.0, 18.0),
            Distributor("dist-gd", "华南酒业", regions=("440000",)),
            Site("factory", SITE_NAMES[0], None, 31.0, 121.3, "310000"),
            Site("dc-gz", SITE_NAMES[1], None, *GUANGZHOU, "440100", "dist-gd"),
            Site("shop-sz", SITE_NAMES[2], None, 22.54, 114.06, "440300", "dist-gd"),
            Site("shop-hz", SITE_NAMES[3], None, 30.27, 120.15, "330100"),
            Location(FACTORY, "factory"), Location(DC_GZ, "dc-gz"),
            Location(SHOP_SZ, "shop-sz"), Location(SHOP_HZ, "shop-hz"),
            Party(DIST, "dist-gd"),
        ):  # fmt: skip
            save_record(conn, "acme", record, operator)
        start = now - timedelta(days=30)
        rows = [(start + timedelta(minutes=10 * i), 24.0 if 2000 <= i < 2012 else 14.0)
                for i in range(30 * 144)]  # fmt: skip
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO readings (time, received_at, tenant_id, site_id, device_id, seq,"
                " sensor, metric, value) VALUES (%s, now(), 'acme', 'dc-gz', 'gw-1', 1,"
                " 'probe-1', 'temperature_c', %s)",
                rows,
            )
        add_prefix(conn, "acme", "9506000")
        register_brand_key(conn, "acme", entry)
        record_issued_codes(conn, "acme", "batch-1", codes, LOT)
        document = {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": _at(now, 0),
            "epcisBody": {"eventList": _events(now, [c.link.uri for c in codes[:FORGED]])},
        }
        capture_document(conn, document, capturer=Capturer("acme"))
        while refresh_passports(conn).total:
            pass
        # seal the log on the chain: the proof pages then say what is anchored where
        log_key = LogKey.generate("test.channeltrace.example/log")
        contract = deploy_anchor_contract(anvil.url, anvil.private_keys[0])
        anchorer = Web3Anchorer(anvil.url, contract, anvil.private_keys[0], poll_latency=0.01)
        make_checkpoint(conn, log_key)
        assert anchor_latest(conn, anchorer).status == "anchored"
        indexes = [int(r[0]) for r in conn.execute(
            "SELECT ledger_idx FROM custody_events ORDER BY ledger_idx")]  # fmt: skip
    return ConsumerWorld(database_url, host, codes, key, indexes)
