"""Two brands, two distributors each (and a brand-owned site): data in every tenant table.

Every identifier carries a *marker* naming its scope, so a response can be searched for
strings that belong to a scope the caller must not see.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from cloud.auth.tokens import login
from cloud.auth.users import create_user
from cloud.channel.changes import Actor
from cloud.channel.records import Distributor, Location, Site
from cloud.channel.store import save_record
from cloud.ingest.store import write_batch
from cloud.provenance.reconciliation import record_discrepancies
from cloud.registry import register_device
from cloud.settings import Settings
from wire import Kind, StockBatch, StockCount

from ..cloud._messages import GTIN, Device, state, telemetry

__all__ = ["MARKER_PREFIXES", "NOW", "Scope", "World", "build_world", "commissioning"]

NOW = datetime.now(UTC).replace(microsecond=0)
TENANTS = {"acme": "9506000", "zeta": "9506001"}  # tenant -> GS1 company prefix
# A second prefix per brand, registered too: a marker nothing else contains.
MARKER_PREFIXES = {"acme": "95060049", "zeta": "95060059"}
PASSWORD = "isolation-test-password"


@dataclass(frozen=True, slots=True)
class Scope:
    """A brand-owned site (``distributor`` None) or a distributor's site of a tenant."""

    tenant: str
    distributor: str | None

    @property
    def tag(self) -> str:
        return f"{self.tenant}{self.distributor or 'hq'}"

    @property
    def site(self) -> str:
        return f"s-{self.tag}"

    @property
    def device(self) -> str:
        return f"gw-{self.tag}"

    @property
    def location(self) -> str:  # an SGLN for the site
        ref = {"hq": "00010", "d1": "00020", "d2": "00030"}[self.distributor or "hq"]
        return f"urn:epc:id:sgln:{TENANTS[self.tenant]}.{ref}.0"

    @property
    def serials(self) -> tuple[str, ...]:
        return (f"U{self.tag}1", f"U{self.tag}2")

    @property
    def epcs(self) -> tuple[str, ...]:
        return tuple(f"urn:epc:id:sgtin:{TENANTS[self.tenant]}.013435.{s}" for s in self.serials)

    @property
    def stock_location(self) -> str:
        return f"L-{self.tag}"

    @property
    def distributor_name(self) -> str | None:
        return None if self.distributor is None else f"N-{self.tag}"

    @property
    def import_name(self) -> str | None:  # a brand's channel import file: brand-only data
        return f"I-{self.tag}.csv" if self.distributor is None else None

    @property
    def markers(self) -> tuple[str, ...]:
        scan = (  # brand-only data: consumer and counterfeit scans, company prefixes
            (f"C{self.tenant}scan", f"C{self.tenant}fake", MARKER_PREFIXES[self.tenant])
            if self.distributor is None
            else ()
        )
        named = tuple(m for m in (self.distributor_name, self.import_name) if m is not None)
        return (self.site, self.device, self.stock_location, *self.serials, *scan, *named)

    def visible_to(self, viewer: Scope) -> bool:
        """Does a principal of ``viewer`` (distributor None: the brand) see this scope?"""
        if viewer.tenant != self.tenant:
            return False
        return viewer.distributor is None or viewer.distributor == self.distributor


SCOPES = tuple(Scope(t, d) for t in TENANTS for d in (None, "d1", "d2"))
PRINCIPALS = SCOPES  # (t, None): the brand; (t, d): the distributor


@dataclass
class World:
    database_url: str
    tokens: dict[Scope, str] = field(default_factory=dict)
    ledger: dict[Scope, list[int]] = field(default_factory=dict)
    leaf_hashes: list[str] = field(default_factory=list)
    alerts: dict[Scope, int] = field(default_factory=dict)  # when migration 0007 exists
    webhooks: dict[Scope, int] = field(default_factory=dict)
    imports: dict[Scope, int] = field(default_factory=dict)  # a brand's channel import

    def markers(self, scope: Scope) -> tuple[str, ...]:
        alert = (f"A-{scope.tag}",) if scope in self.alerts else ()
        hook = (f"W-{scope.tag}",) if scope in self.webhooks else ()
        return (*scope.markers, *alert, *hook)

    def all_markers(self) -> set[str]:
        return {m for s in SCOPES for m in self.markers(s)}

    def foreign_markers(self, viewer: Scope) -> set[str]:
        return {m for s in SCOPES if not s.visible_to(viewer) for m in self.markers(s)}

    def own_markers(self, viewer: Scope) -> set[str]:
        return {m for s in SCOPES if s.visible_to(viewer) for m in self.markers(s)}

    def headers(self, viewer: Scope) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[viewer]}"}


def commissioning(scope: Scope, by: Scope | None = None) -> dict[str, Any]:
    """An EPCIS document commissioning ``scope``'s units at its site (event ids differ by
    ``by``, the capturing scope, so that probes do not collide with the world's events)."""
    events = [
        {
            "type": "ObjectEvent",
            "eventTime": (NOW - timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
            "eventTimeZoneOffset": "+00:00",
            "epcList": list(scope.epcs),
            "action": "ADD",
            "bizStep": "commissioning",
            "bizLocation": {"id": scope.location},
            "readPoint": {"id": scope.location},
            **(
                {"eventID": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, scope.tag + by.tag)}"}
                if by is not None
                else {}
            ),
        }
    ]
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": NOW.isoformat().replace("+00:00", "Z"),
        "epcisBody": {"eventList": events},
    }


def _device_data(conn: psycopg.Connection[Any], scope: Scope) -> None:
    device = Device(scope.device, tenant=scope.tenant, site=scope.site)
    register_device(conn, device.registration)
    t = NOW - timedelta(minutes=30)
    batches = []
    for seq in (1, 2, 4):  # seq 3 never arrives: a gap
        readings = telemetry(5.0 + seq, ts=t + timedelta(minutes=seq), sent_at=t)
        batches.append(
            device.accept(device.inbound(Kind.TELEMETRY, seq, readings, received_at=NOW))
        )
    counts = StockBatch(
        sent_at=t, counts=[StockCount(ts=t, gtin=GTIN, quantity=1, location=scope.stock_location)]
    )
    batches.append(device.accept(device.inbound(Kind.STOCK, 5, counts, received_at=NOW)))
    online = state("online", will_seq=7, ts=NOW)
    batches.append(device.accept(device.inbound(Kind.STATE, 6, online, received_at=NOW)))
    write_batch(conn, batches, [])


def build_world(database_url: str, client: TestClient, settings: Settings) -> World:
    """Populate the database (migrated) and log in one user per principal."""
    world = World(database_url)
    operator = Actor("test:world", "operator")
    with psycopg.connect(database_url, autocommit=True) as conn:
        for scope in SCOPES:
            with conn.transaction():
                _device_data(conn, scope)
            if scope.distributor is not None:
                save_record(conn, scope.tenant, Distributor(
                    scope.distributor, scope.distributor_name or ""), operator)  # fmt: skip
            save_record(conn, scope.tenant, Site(scope.site, scope.site,
                                                 distributor_id=scope.distributor), operator)
            save_record(conn, scope.tenant, Location(scope.location, scope.site), operator)
            create_user(
                conn, tenant_id=scope.tenant, username=f"user-{scope.tag}", password=PASSWORD,
                role="distributor" if scope.distributor else "brand",
                distributor_id=scope.distributor,
            )  # fmt: skip
            token = login(conn, settings, f"user-{scope.tag}", PASSWORD)
            assert token is not None
            world.tokens[scope] = token
        for scope in SCOPES:  # a channel file imported by each brand
            if scope.import_name is None:
                continue
            response = client.post(
                f"/v1/tenants/{scope.tenant}/channel/imports",
                params={"filename": scope.import_name},
                content=f"gtin,name_en\n{GTIN},Wine\n".encode(),
                headers={**world.headers(scope), "Content-Type": "text/csv"},
            )
            assert response.status_code == 200, response.text
            assert response.json()["applied"], response.text
            world.imports[scope] = response.json()["import_id"]
        for tenant, prefix in TENANTS.items():  # each brand registers its company prefixes
            for own in (prefix, MARKER_PREFIXES[tenant]):
                response = client.post(
                    f"/v1/tenants/{tenant}/prefixes",
                    json={"prefix": own},
                    headers=world.headers(Scope(tenant, None)),
                )
                assert response.status_code == 201, response.text
        for scope in SCOPES:  # captured by the tenant's brand, at the scope's site
            brand = world.headers(Scope(scope.tenant, None))
            response = client.post("/epcis/capture", json=commissioning(scope), headers=brand)
            assert response.status_code == 202, response.text
            world.ledger[scope] = [e["ledger_index"] for e in response.json()["events"]]
        for scope in SCOPES:
            if scope.distributor is None:
                conn.execute(
                    "INSERT INTO consumer_scans (scanned_at, tenant_id, gtin, serial,"
                    " code_status, verdict, reason) VALUES (%s, %s, %s, %s, 'valid',"
                    " 'genuine', 'test')",
                    (NOW - timedelta(minutes=5), scope.tenant, GTIN, f"C{scope.tenant}scan"),
                )
                conn.execute(
                    "INSERT INTO unit_scan_state (tenant_id, gtin, serial, scans)"
                    " VALUES (%s, %s, %s, 1)",
                    (scope.tenant, GTIN, f"C{scope.tenant}scan"),
                )
                conn.execute(
                    "INSERT INTO counterfeit_scans (scanned_at, tenant_id, gtin, serial,"
                    " code_status, finding, reason, region) VALUES (%s, %s, %s, %s,"
                    " 'bad_signature', 'bad_signature', 'test', 'CN-SH')",
                    (NOW - timedelta(minutes=4), scope.tenant, GTIN, f"C{scope.tenant}fake"),
                )
        record_discrepancies(conn, now=NOW - timedelta(hours=1))
        if conn.execute("SELECT to_regclass('alerts')").fetchone() != (None,):
            for scope in SCOPES:
                row = conn.execute(
                    "INSERT INTO alerts (tenant_id, site_id, kind, dedupe_key, severity,"
                    " summary, condition_since, last_seen_at) VALUES (%s, %s, 'device_offline',"
                    " %s, 'warning', %s, %s, %s) RETURNING id",
                    (scope.tenant, scope.site, scope.device, f"A-{scope.tag}", NOW, NOW),
                ).fetchone()
                assert row is not None
                world.alerts[scope] = row[0]
                row = conn.execute(
                    "INSERT INTO webhook_subscriptions (tenant_id, distributor_id, url, secret)"
                    " VALUES (%s, %s, %s, %s) RETURNING id",
                    (scope.tenant, scope.distributor, f"https://hooks.example/W-{scope.tag}",
                     "s" * 32),
                ).fetchone()  # fmt: skip
                assert row is not None
                world.webhooks[scope] = row[0]
        world.leaf_hashes = [
            bytes(r[0]).hex()
            for r in conn.execute("SELECT leaf_hash FROM ledger_entries ORDER BY idx")
        ]
    return world
