"""A small channel for console tests: two brands, distributors, sites on a map, devices,
a day of climate readings, stock, people who log in, units with custody events captured
through the real provenance path (and their ledger entries), and consumer scans."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from cloud.auth.users import create_user
from cloud.channel.changes import Actor
from cloud.channel.people import create_tenant
from cloud.channel.records import Distributor, Location, Party, Prefix, Product, Site
from cloud.channel.store import save_record
from cloud.migrate import migrate
from cloud.provenance.brands import record_issued_codes, register_brand_key
from cloud.provenance.capture import Capturer, capture_events
from cloud.provenance.events import normalise_document
from cloud.provenance.issue import IssuedCode, IssueRequest, issue_codes
from cloud.provenance.keys import create_brand_key, load_private_key
from wire.gs1 import Gtin

__all__ = ["PASSWORD", "World", "build_world"]

PASSWORD = "correct horse battery staple"
GTIN = "09506000134352"
LOT = "L2026-11"
FACTORY = "urn:epc:id:sgln:9506000.00010.0"
WH_SH = "urn:epc:id:sgln:9506000.00020.0"
DIST_EAST = "urn:epc:id:pgln:9506000.00001"
SHANGHAI = (31.23, 121.47)
BEIJING = (39.90, 116.41)
GUANGZHOU = (23.13, 113.26)


@dataclass(frozen=True)
class World:
    database_url: str
    now: datetime
    codes: list[IssuedCode]
    brand_user: str = "ana@acme"
    east_user: str = "dan@east"
    south_user: str = "sam@south"
    rival_user: str = "rob@rival"

    @property
    def unit_epcs(self) -> list[str]:
        return [f"https://id.gs1.org/01/{GTIN}/21/{c.serial}" for c in self.codes]


def _at(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _document(epcs: list[str], now: datetime) -> dict[str, Any]:
    def event(kind: str, hours_ago: float, **fields: Any) -> dict[str, Any]:
        t = now - timedelta(hours=hours_ago)
        return {"type": kind, "eventTime": _at(t), "eventTimeZoneOffset": "+08:00", **fields}

    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _at(now),
        "epcisBody": {
            "eventList": [
                event("ObjectEvent", 30, epcList=epcs, action="ADD", bizStep="commissioning",
                      bizLocation={"id": FACTORY}, readPoint={"id": FACTORY}),
                event("ObjectEvent", 28, epcList=epcs, action="OBSERVE", bizStep="shipping",
                      disposition="in_transit", readPoint={"id": FACTORY},
                      destinationList=[{"type": "owning_party", "destination": DIST_EAST},
                                       {"type": "location", "destination": WH_SH}]),
                event("ObjectEvent", 20, epcList=epcs, action="OBSERVE", bizStep="receiving",
                      disposition="in_progress", bizLocation={"id": WH_SH},
                      readPoint={"id": WH_SH}),
            ]
        },
    }  # fmt: skip


def _readings(site: str, device: str, tenant: str, now: datetime) -> list[tuple[Any, ...]]:
    rows = []
    for i in range(24 * 12):  # every 5 minutes for a day
        t = now - timedelta(minutes=5 * i)
        temp = 14.0 + math.sin(i / 20)
        rows.append((t, t, tenant, site, device, i + 1, "probe-1", "temperature_c", temp))
        rows.append((t, t, tenant, site, device, i + 1, "probe-1", "humidity_pct", 60.0))
    return rows


def build_world(database_url: str, key_dir: Path) -> World:
    """Migrate ``database_url`` and fill it; everything written as the owner."""
    migrate(database_url)
    now = datetime.now(UTC).replace(microsecond=0)
    key_path, entry = create_brand_key(key_dir)
    codes = list(issue_codes(IssueRequest("trace.acme.example", Gtin(GTIN), LOT, 3),
                             load_private_key(key_path)))  # fmt: skip
    with psycopg.connect(database_url, autocommit=True) as conn:
        # The channel as a brand sets it up: through the channel store (docs/channel-setup.md).
        operator = Actor("test:operator", "operator")
        create_tenant(conn, "acme", "Acme Wines", "ana@acme", PASSWORD, operator)
        create_tenant(conn, "rival", "Rival Spirits", "rob@rival", PASSWORD, operator)
        records: list[tuple[str, Any]] = [
            ("acme", Product(GTIN, "Reserve Red 750 ml", "珍藏干红", 10.0, 18.0, 50.0, 75.0)),
            ("acme", Distributor("dist-east", "East Wines", regions=("310000",))),
            ("acme", Distributor("dist-south", "South Wines", regions=("440000",))),
            ("rival", Distributor("dist-r", "Rival East", regions=("310000",))),
            ("acme", Site("factory", "Bottling plant", None, 32.06, 118.78, "320100")),
            ("acme", Site("wh-sh", "Shanghai warehouse", None, *SHANGHAI, "310000",
                          "dist-east")),
            ("acme", Site("wh-gz", "Guangzhou warehouse", None, *GUANGZHOU, "440100",
                          "dist-south")),
            ("rival", Site("wh-rival", "Rival depot", None, 31.1, 121.3, "310000", "dist-r")),
            ("acme", Location(FACTORY, "factory")),
            ("acme", Location(WH_SH, "wh-sh")),
            ("acme", Party(DIST_EAST, "dist-east")),
            ("acme", Prefix("9506000")),
        ]  # fmt: skip
        for tenant, record in records:
            save_record(conn, tenant, record, operator)
        conn.execute(
            "INSERT INTO devices (id, tenant_id, site_id, status, last_seen_at) VALUES"
            " ('gw-sh', 'acme', 'wh-sh', 'online', now()),"
            " ('gw-gz', 'acme', 'wh-gz', 'offline', now() - interval '1 hour'),"
            " ('gw-rv', 'rival', 'wh-rival', 'online', now())"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO readings (time, received_at, tenant_id, site_id, device_id, seq,"
                " sensor, metric, value) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                _readings("wh-sh", "gw-sh", "acme", now)
                + _readings("wh-rival", "gw-rv", "rival", now)[:20],
            )
        conn.execute(
            "INSERT INTO stock_counts (time, received_at, tenant_id, site_id, device_id, seq,"
            " gtin, quantity, location, method) VALUES"
            " (%(t)s, %(t)s, 'acme', 'wh-sh', 'gw-sh', 9999, %(g)s, 120, 'A-01', 'rfid'),"
            " (%(t)s, %(t)s, 'rival', 'wh-rival', 'gw-rv', 9999, %(g)s, 7, 'R-1', 'rfid')",
            {"t": now - timedelta(minutes=3), "g": GTIN},
        )
        register_brand_key(conn, "acme", entry)
        record_issued_codes(conn, "acme", "batch-1", codes, LOT)
        epcs = [f"https://id.gs1.org/01/{GTIN}/21/{c.serial}" for c in codes]
        capture_events(conn, normalise_document(_document(epcs, now)), capturer=Capturer("acme"))
        scans = [
            (now - timedelta(hours=5), codes[0].serial, "genuine", *SHANGHAI, "CN-SH"),
            (now - timedelta(hours=2), codes[1].serial, "genuine", *SHANGHAI, "CN-SH"),
            (now - timedelta(hours=1), codes[1].serial, "suspected_clone", *BEIJING, "CN-BJ"),
            (now - timedelta(minutes=30), codes[2].serial, "suspected_diversion", *GUANGZHOU,
             "CN-GD"),
        ]  # fmt: skip
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO consumer_scans (scanned_at, tenant_id, gtin, lot, serial,"
                " code_status, lat, lon, accuracy_km, region, verdict, reason)"
                " VALUES (%s, 'acme', %s, %s, %s, 'valid', %s, %s, 1.0, %s, %s, 'test')",
                [(t, GTIN, LOT, serial, lat, lon, region, verdict)
                 for t, serial, verdict, lat, lon, region in scans],
            )  # fmt: skip
        create_user(conn, tenant_id="acme", username="dan@east", password=PASSWORD,
                    role="distributor", distributor_id="dist-east")  # fmt: skip
        create_user(conn, tenant_id="acme", username="sam@south", password=PASSWORD,
                    role="distributor", distributor_id="dist-south")  # fmt: skip
    return World(database_url, now, codes)


COLD_GTIN = "09506000134369"


def add_cold_room(database_url: str) -> None:
    """A refrigerated room of dist-east (2–8 °C goods stocked there), monitored by gw-cold."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        operator = Actor("test:operator", "operator")
        save_record(conn, "acme", Product(COLD_GTIN, "Chilled rosé 6-pack", None, 2.0, 8.0),
                    operator)  # fmt: skip
        save_record(conn, "acme", Site("cold-sh", "Shanghai cold room", None, 31.3, 121.6,
                                       "310000", "dist-east"), operator)  # fmt: skip
        conn.execute(
            "INSERT INTO devices (id, tenant_id, site_id, status, last_seen_at)"
            " VALUES ('gw-cold', 'acme', 'cold-sh', 'online', now())"
        )
        t = datetime.now(UTC) - timedelta(hours=4)
        conn.execute(
            "INSERT INTO stock_counts (time, received_at, tenant_id, site_id, device_id, seq,"
            " gtin, quantity, location, method) VALUES"
            " (%s, %s, 'acme', 'cold-sh', 'gw-cold', 1, %s, 48, 'C-01', 'rfid')",
            (t, t, COLD_GTIN),
        )


def heat_cold_room(database_url: str, *, minutes: int = 150) -> int:
    """The simulator's compressor failure in the cold room: one probe sampled every minute
    for the last ``minutes`` (failing 10 min in), written as the ingest would store them."""
    from firmware_sim.devices.climate import ClimateSensor, Scenario

    sensor = ClimateSensor(
        "probe-1",
        profile="pharma",
        seed=7,
        scenario=Scenario(hvac_failure_after_s=600.0, hvac_failure_s=6 * 3600.0),
    )
    now = datetime.now(UTC).replace(microsecond=0)
    rows = []
    for i in range(minutes, 0, -1):
        t = now - timedelta(minutes=i)
        for seq, r in enumerate(sensor.sample(t), start=10 * (minutes - i) + 2):
            rows.append((t, t, "acme", "cold-sh", "gw-cold", seq, r.sensor, r.metric.value,
                         r.value, r.fault))  # fmt: skip
    with psycopg.connect(database_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (time, received_at, tenant_id, site_id, device_id, seq,"
            " sensor, metric, value, fault) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        cur.execute("UPDATE devices SET last_seen_at = now() WHERE id = 'gw-cold'")
    return len(rows)


def run_alert_evaluation(database_url: str) -> None:
    """One run of the scheduler's ``alerts.evaluate`` job, as the scheduler runs it."""
    from cloud.jobs.alerts import alerts_jobs
    from cloud.settings import Settings

    jobs = {j.name: j for j in alerts_jobs(Settings(database_url=database_url))}
    with psycopg.connect(database_url, autocommit=True) as conn:
        jobs["alerts.evaluate"].func(conn)
