"""Reads of the unit/lot provenance explorer and the scan map.

A unit's page joins what :mod:`cloud.provenance` already computes (custody row, custody
timeline, cold-chain exposure) with the proof status of each timeline entry: an entry is
*anchored* when a confirmed on-chain anchor covers a tree size beyond its ledger index,
*checkpointed* when a signed checkpoint does, else *pending* (appended, not yet signed).
Everything is filtered on the principal's tenant (and bound by row-level security).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cloud.console.lookup import Lookup
from cloud.provenance.audit import (
    ScanCluster,
    TimelineEntry,
    custody_timeline,
    scan_clusters,
    scan_points,
)
from cloud.provenance.coldchain import Exposure, StorageProfile
from cloud.provenance.exposure import intervals_of, storage_profile, unit_exposure
from cloud.provenance.scanlog import jsonable

__all__ = [
    "Checkpoint",
    "ProofState",
    "ScanMap",
    "UnitView",
    "find_units",
    "proof_state",
    "scan_map",
    "unit_view",
]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]
MAX_UNITS_LISTED = 200
MAX_SCANS_SHOWN = 200


@dataclass(frozen=True, slots=True)
class Checkpoint:
    size: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Anchor:
    size: int
    chain_id: int
    tx_hash: str
    block_number: int | None
    settled_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProofState:
    checkpoint: Checkpoint | None
    anchor: Anchor | None

    def status_of(self, ledger_index: int) -> str:
        if self.anchor is not None and ledger_index < self.anchor.size:
            return "anchored"
        if self.checkpoint is not None and ledger_index < self.checkpoint.size:
            return "checkpointed"
        return "pending"


@dataclass(frozen=True, slots=True)
class UnitView:
    epc: str
    custody: dict[str, Any]
    timeline: list[TimelineEntry]
    site_names: dict[str, str]  # EPCIS location -> our site's name
    profile: StorageProfile | None
    exposure: Exposure | None
    proofs: ProofState
    scans: list[dict[str, Any]]
    product: str | None


def find_units(conn: Conn, tenant: str, lookup: Lookup) -> list[dict[str, Any]]:
    """Units of a lot and/or product (a search that names a set, not one object)."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT epc, gtin, lot, serial, status, site, last_event_time FROM units"
            " WHERE tenant_id = %(tenant)s AND serial IS NOT NULL"
            " AND (%(gtin)s::text IS NULL OR gtin = %(gtin)s)"
            " AND (%(lot)s::text IS NULL OR lot = %(lot)s)"
            " ORDER BY gtin, lot, serial LIMIT %(limit)s",
            {"tenant": tenant, "gtin": lookup.gtin, "lot": lookup.lot, "limit": MAX_UNITS_LISTED},
        ).fetchall()


def proof_state(conn: Conn) -> ProofState:
    """The latest signed checkpoint and the latest confirmed anchor of the ledger."""
    row = conn.execute(
        "SELECT size, created_at FROM ledger_checkpoints ORDER BY size DESC LIMIT 1"
    ).fetchone()
    checkpoint = None if row is None else Checkpoint(int(row[0]), row[1])
    row = conn.execute(
        "SELECT size, chain_id, tx_hash, block_number, settled_at FROM ledger_anchors"
        " WHERE status = 'confirmed' ORDER BY size DESC LIMIT 1"
    ).fetchone()
    anchor = (
        None
        if row is None
        else Anchor(int(row[0]), int(row[1]), "0x" + bytes(row[2]).hex(), row[3], row[4])
    )
    return ProofState(checkpoint, anchor)


def _site_names(conn: Conn, tenant: str, locations: set[str]) -> dict[str, str]:
    if not locations:
        return {}
    rows = conn.execute(
        "SELECT l.location, s.name FROM epcis_locations l"
        " JOIN sites s ON (s.tenant_id, s.id) = (l.tenant_id, l.site_id)"
        " WHERE l.tenant_id = %s AND l.location = ANY(%s)",
        (tenant, sorted(locations)),
    ).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def unit_view(
    conn: Conn, tenant: str, epc: str, proofs: ProofState, *, now: datetime | None = None
) -> UnitView | None:
    """The explorer's page of one object, or ``None`` if the tenant has no such object.

    ``proofs`` comes from :func:`proof_state` on an unscoped connection: checkpoints and
    anchors are public (they hold no tenant data) and not granted to the scoped role.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT * FROM units WHERE epc = %s AND tenant_id = %s", (epc, tenant)
        ).fetchone()
    if row is None:
        return None
    now = now or datetime.now(UTC)
    timeline = custody_timeline(conn, tenant, epc)
    intervals = intervals_of(row["intervals"])
    profile = storage_profile(conn, tenant, row["gtin"])
    exposure = (
        None if profile is None else unit_exposure(conn, tenant, intervals, profile, until=now)
    )
    locations = {e.location for e in timeline if e.location}
    locations |= {i.site for i in intervals if i.site}
    scans: list[dict[str, Any]] = []
    if row["gtin"] and row["serial"]:
        with conn.cursor(row_factory=dict_row) as cur:
            scans = cur.execute(
                "SELECT scanned_at, verdict, reason, region, lat, lon FROM consumer_scans"
                " WHERE tenant_id = %s AND gtin = %s AND serial = %s"
                " ORDER BY scanned_at DESC LIMIT %s",
                (tenant, row["gtin"], row["serial"], MAX_SCANS_SHOWN),
            ).fetchall()
    product_row = (
        conn.execute(
            "SELECT name FROM products WHERE tenant_id = %s AND gtin = %s", (tenant, row["gtin"])
        ).fetchone()
        if row["gtin"]
        else None
    )
    custody = jsonable({k: v for k, v in row.items() if k not in ("updated_at", "intervals")})
    return UnitView(
        epc=epc,
        custody=custody,
        timeline=timeline,
        site_names=_site_names(conn, tenant, locations),
        profile=profile,
        exposure=exposure,
        proofs=proofs,
        scans=scans,
        product=None if product_row is None else str(product_row[0]),
    )


@dataclass(frozen=True, slots=True)
class ScanMap:
    since: datetime
    until: datetime
    points: list[dict[str, Any]]
    clusters: list[ScanCluster]
    verdicts: dict[str, int]


def scan_map(conn: Conn, tenant: str, *, days: int, now: datetime | None = None) -> ScanMap:
    """Consumer scans of the last ``days`` with their verdicts, and suspicious clusters."""
    until = now or datetime.now(UTC)
    since = until - timedelta(days=days)
    points = scan_points(conn, tenant, since, until, 5000)  # counterfeit scans included
    verdicts: dict[str, int] = {}
    for p in points:
        verdicts[p["verdict"]] = verdicts.get(p["verdict"], 0) + 1
    return ScanMap(since, until, points, scan_clusters(conn, tenant, since, until), verdicts)
