"""A brand's channel as a brand manager would have it: the tenant made by the operator
command's function, the channel imported from the CSV the demo ships, custody captured
through the API (``POST /epcis/capture``), gateways registered, and what the ingest would
have stored (readings with a cold-room excursion, stock counts that disagree with custody).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from channeltrace.demo_channel import channel_file
from cloud.auth.apikeys import create_api_key
from cloud.auth.users import create_user
from cloud.channel.changes import Actor
from cloud.channel.geocode import default_geocoder
from cloud.channel.importer import import_file
from cloud.channel.people import create_tenant
from cloud.migrate import migrate
from cloud.registry import DeviceRegistration, register_device
from wire import format_public_key, generate_private_key

__all__ = ["PASSWORD", "TENANT", "ChannelWorld", "build_channel_world", "capture_custody"]

TENANT = "acme-wines"
PASSWORD = "a long enough password"
RED, MILK = "09506000134352", "09506000134406"
FACTORY = "urn:epc:id:sgln:9506000.00010.0"
WH_SHANGHAI = "urn:epc:id:sgln:9506000.00020.0"
SHOP = "urn:epc:id:sgln:9506000.00050.0"
DIST_EAST = "urn:epc:id:pgln:9506000.00001"


@dataclass(frozen=True)
class ChannelWorld:
    database_url: str
    now: datetime
    brand_key: str
    manager: str = "ana@acme-wines"
    distributor: str = "li@east-wines"


def _readings(site: str, device: str, now: datetime, *, heat: bool) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(12 * 12):  # every 5 minutes for 12 hours
        t = now - timedelta(minutes=5 * i)
        temp = 4.0 + 0.6 * math.sin(i / 7)
        if heat and 30 <= i < 54:  # a compressor failure 2.5–4.5 h ago: up to ~10 °C
            temp += 6.0 * math.sin(math.pi * (i - 30) / 24)
        rows.append((t, t, TENANT, site, device, 1000 + i, "probe-1", "temperature_c", temp))
        rows.append((t, t, TENANT, site, device, 1000 + i, "probe-1", "humidity_pct", 82.0))
    return rows


def build_channel_world(database_url: str) -> ChannelWorld:
    migrate(database_url)
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(database_url, autocommit=True) as conn:
        create_tenant(conn, TENANT, "Acme Wines", "ana@acme-wines", PASSWORD,
                      Actor("test:operator", "operator"))  # fmt: skip
        report = import_file(conn, TENANT, "channel.csv", "text/csv", channel_file(),
                             Actor("user:ana@acme-wines", "console"), default_geocoder(),
                             dry_run=False)  # fmt: skip
        assert report.applied, report.problems
        create_user(conn, tenant_id=TENANT, username="li@east-wines", password=PASSWORD,
                    role="distributor", distributor_id="dist-east")  # fmt: skip
        for device, site in (("gw-sh-01", "wh-shanghai"), ("gw-cold-01", "cold-room-demo"),
                             ("gw-bj-01", "wh-beijing"), ("gw-gz-01", "wh-guangzhou")):
            register_device(conn, DeviceRegistration(
                device_id=device, tenant=TENANT, site=site,
                public_key=format_public_key(generate_private_key())))  # fmt: skip
        conn.execute(
            "UPDATE devices SET status = 'online', last_seen_at = now() WHERE tenant_id = %s",
            (TENANT,),
        )  # what the ingest records from their heartbeats
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO readings (time, received_at, tenant_id, site_id, device_id, seq,"
                " sensor, metric, value) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                _readings("cold-room-demo", "gw-cold-01", now, heat=True)
                + _readings("wh-beijing", "gw-bj-01", now, heat=False),
            )
            t = now - timedelta(minutes=20)
            cur.executemany(
                "INSERT INTO stock_counts (time, received_at, tenant_id, site_id, device_id,"
                " seq, gtin, quantity, location, method) VALUES"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'rfid')",
                [(t, t, TENANT, "wh-shanghai", "gw-sh-01", 1, RED, 4, "A-01"),
                 (t, t, TENANT, "cold-room-demo", "gw-cold-01", 1, MILK, 240, "C-01"),
                 (t, t, TENANT, "wh-beijing", "gw-bj-01", 1, MILK, 96, "B-01")],
            )  # fmt: skip
        key = create_api_key(conn, tenant_id=TENANT, role="brand", label="browser tests")
    return ChannelWorld(database_url, now, key)


def _event(kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "eventTime": at.isoformat().replace("+00:00", "Z"),
            "eventTimeZoneOffset": "+08:00", **fields}  # fmt: skip


def capture_custody(base_url: str, world: ChannelWorld) -> None:
    """6 bottles commissioned, shipped to East China Wines' Shanghai DC and received there;
    4 of them moved on to the Jing'an shop (which counts no stock)."""
    headers = {"X-API-Key": world.brand_key}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        # Where prefixes are owned (docs/provenance.md), the brand registers its own first.
        client.post(f"/v1/tenants/{TENANT}/prefixes", json={"prefix": "9506000"})
        units = [f"https://id.gs1.org/01/{RED}/21/BT{i:04d}" for i in range(10)]
        t = world.now - timedelta(hours=30)
        to_east = [{"type": "owning_party", "destination": DIST_EAST},
                   {"type": "location", "destination": WH_SHANGHAI}]  # fmt: skip
        events = [
            _event("ObjectEvent", t, epcList=units, action="ADD", bizStep="commissioning",
                   bizLocation={"id": FACTORY}, readPoint={"id": FACTORY}),
            _event("ObjectEvent", t + timedelta(hours=2), epcList=units, action="OBSERVE",
                   bizStep="shipping", disposition="in_transit", readPoint={"id": FACTORY},
                   destinationList=to_east),
            _event("ObjectEvent", t + timedelta(hours=20), epcList=units, action="OBSERVE",
                   bizStep="receiving", disposition="in_progress",
                   bizLocation={"id": WH_SHANGHAI}, readPoint={"id": WH_SHANGHAI}),
            _event("ObjectEvent", t + timedelta(hours=24), epcList=units[6:], action="OBSERVE",
                   bizStep="receiving", disposition="in_progress", bizLocation={"id": SHOP},
                   readPoint={"id": SHOP}),
        ]  # fmt: skip
        document = {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": world.now.isoformat().replace("+00:00", "Z"),
            "epcisBody": {"eventList": events},
        }  # fmt: skip
        response = client.post("/epcis/capture", json=document)
        assert response.status_code in (200, 202), response.text
