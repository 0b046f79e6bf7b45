"""Consumer scans in PostgreSQL, privacy first, untrusted input kept apart.

No IP address is ever stored. A point given by the client is rounded to 0.01° (about
1.1 km north-south) and its accuracy radius widened by the rounding error, so stored points
still never count against a consumer in clone checks; otherwise only a region code
(ISO 3166-2 style, e.g. ``CN-GD``) from the client or a trusted proxy's header is kept.
Who scanned is a *client tag*: a keyed hash of the client's network (IPv4 /24, IPv6 /48)
and of the unit, so it tells two scanners of one code apart without identifying anyone or
linking one person's scans of different codes.

Scans of codes that verified go to ``consumer_scans`` and update the unit's summary
(``unit_scan_state``, the only scan input of a verdict); scans of codes that did not go to
``counterfeit_scans`` (the brand's counterfeit map), which no verdict reads.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import ipaddress
import logging
import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cloud.provenance.clone import Scan
from cloud.provenance.errors import ProvenanceStoreError
from cloud.provenance.geo import GeoPoint
from cloud.provenance.scanstate import ScanState
from cloud.provenance.verdicts import Verdict

__all__ = [
    "ROUNDING_KM",
    "client_tag",
    "coarse_point",
    "jsonable",
    "lock_scan_state",
    "record_counterfeit",
    "record_scan",
    "save_scan_state",
]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]
#: Worst-case error of rounding to 0.01° (half the diagonal of a cell at the equator), km.
ROUNDING_KM = 0.8
_TAG_CONTEXT = b"channeltrace/scan-client/v1\n"


def client_tag(key: bytes, address: str, gtin: str, serial: str) -> str:
    """Who scanned this code, as 16 hex digits: HMAC-SHA256 under ``key`` of the client's
    network (IPv4 /24, IPv6 /48: one household or phone keeps one tag as its address
    changes within them) and of the code. Never reversible to an address without ``key``,
    and different for the same client on another code."""
    try:
        ip = ipaddress.ip_address(address)
        bits = 24 if ip.version == 4 else 48
        network = str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))
    except ValueError:
        network = address  # not an IP (a test client, a unix socket): taken as it is
    message = _TAG_CONTEXT + "\n".join((network, gtin, serial)).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:16]


def coarse_point(point: GeoPoint) -> GeoPoint:
    """``point`` rounded to 0.01°, its accuracy widened by the rounding error."""
    return GeoPoint(
        round(point.lat, 2), round(point.lon, 2), round(point.accuracy_km + ROUNDING_KM, 3)
    )


def _scalar(value: object) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN and infinities are not JSON
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def jsonable(value: object) -> Any:
    """Evidence (dataclasses, enums, datetimes, tuples) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return _scalar(value)


def lock_scan_state(conn: Conn, tenant: str, gtin: str, serial: str) -> ScanState:
    """The unit's scan summary, locked until the transaction ends (one scan of a code at a
    time: the summary is read and written whole). Call inside a transaction."""
    conn.execute(
        "INSERT INTO unit_scan_state (tenant_id, gtin, serial) VALUES (%s, %s, %s)"
        " ON CONFLICT DO NOTHING",
        (tenant, gtin, serial),
    )
    row = conn.execute(
        "SELECT scans, first_at, last_at, early, recent, flags FROM unit_scan_state"
        " WHERE (tenant_id, gtin, serial) = (%s, %s, %s) FOR UPDATE",
        (tenant, gtin, serial),
    ).fetchone()
    assert row is not None
    return ScanState.from_row(int(row[0]), row[1], row[2], row[3], row[4], row[5])


def save_scan_state(conn: Conn, tenant: str, gtin: str, serial: str, state: ScanState) -> None:
    conn.execute(
        "UPDATE unit_scan_state SET scans = %s, first_at = %s, last_at = %s, early = %s,"
        " recent = %s, flags = %s, updated_at = now()"
        " WHERE (tenant_id, gtin, serial) = (%s, %s, %s)",
        (
            state.count,
            state.first_at,
            state.last_at,
            Jsonb(state.early_json()),
            Jsonb(state.recent_json()),
            Jsonb(state.flags_json()),
            tenant,
            gtin,
            serial,
        ),
    )


def record_counterfeit(
    conn: Conn,
    scan: Scan,
    verdict: Verdict,
    *,
    tenant: str,
    gtin: str,
    lot: str | None,
    serial: str | None,
    kid: str | None,
    code_status: str,
) -> int:
    """Keep a scan of a code that did not verify for ``tenant``'s counterfeit map."""
    point = scan.point
    top = verdict.findings[0]
    row = conn.execute(
        "INSERT INTO counterfeit_scans (scanned_at, tenant_id, gtin, lot, serial, kid,"
        " code_status, finding, reason, lat, lon, accuracy_km, region)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            scan.time,
            tenant,
            gtin,
            lot,
            serial,
            kid,
            code_status,
            top.code,
            verdict.reason,
            None if point is None else point.lat,
            None if point is None else point.lon,
            None if point is None else point.accuracy_km,
            scan.region,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def record_scan(
    conn: Conn,
    scan: Scan,
    verdict: Verdict,
    *,
    tenant: str,
    gtin: str,
    lot: str | None,
    serial: str,
    kid: str | None,
    code_status: str,
) -> int:
    """Store one scan of a verified code (``scan.point`` must already be coarse); returns
    its id."""
    point = scan.point
    evidence = [
        {
            "kind": f.kind.value,
            "code": f.code,
            "reason": f.reason,
            "confirmed": f.confirmed,
            "evidence": jsonable(f.evidence),
        }
        for f in verdict.findings
    ]
    try:
        row = conn.execute(
            "INSERT INTO consumer_scans (scanned_at, tenant_id, gtin, lot, serial, kid,"
            " code_status, lat, lon, accuracy_km, region, verdict, reason, evidence, client,"
            " confirmed)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING id",
            (
                scan.time,
                tenant,
                gtin,
                lot,
                serial,
                kid,
                code_status,
                None if point is None else point.lat,
                None if point is None else point.lon,
                None if point is None else point.accuracy_km,
                scan.region,
                verdict.kind.value,
                verdict.reason,
                Jsonb(evidence),
                scan.client,
                verdict.confirmed,
            ),
        ).fetchone()
    except psycopg.Error as exc:
        raise ProvenanceStoreError(f"recording a scan failed: {exc}") from exc
    assert row is not None
    return int(row[0])
