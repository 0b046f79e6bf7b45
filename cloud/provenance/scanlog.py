"""Consumer scans in PostgreSQL (``consumer_scans``), privacy first.

No IP address is ever stored. A point given by the client is rounded to 0.01° (about
1.1 km north-south) and its accuracy radius widened by the rounding error, so stored points
still never count against a consumer in clone checks; otherwise only a region code
(ISO 3166-2 style, e.g. ``CN-GD``) from the client or an edge header is kept.
"""

from __future__ import annotations

import dataclasses
import enum
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
from cloud.provenance.verdicts import Verdict

__all__ = [
    "HISTORY_LIMIT",
    "ROUNDING_KM",
    "coarse_point",
    "jsonable",
    "record_scan",
    "scan_history",
]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]
#: Worst-case error of rounding to 0.01° (half the diagonal of a cell at the equator), km.
ROUNDING_KM = 0.8
#: Scans of one code read for a verdict: the newest ones (a cloned code may have thousands).
HISTORY_LIMIT = 500


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


def scan_history(conn: Conn, gtin: str, serial: str) -> list[Scan]:
    """The newest :data:`HISTORY_LIMIT` earlier scans of one code, as verdict inputs."""
    rows = conn.execute(
        "SELECT id, scanned_at, lat, lon, accuracy_km, region FROM consumer_scans"
        " WHERE gtin = %s AND serial = %s ORDER BY scanned_at DESC, id DESC LIMIT %s",
        (gtin, serial, HISTORY_LIMIT),
    ).fetchall()
    return [
        Scan(
            time=r[1],
            point=None if r[2] is None else GeoPoint(r[2], r[3], r[4] or 0.0),
            region=r[5],
            scan_id=str(r[0]),
        )
        for r in rows
    ]


def record_scan(
    conn: Conn,
    scan: Scan,
    verdict: Verdict,
    *,
    tenant: str | None,
    gtin: str | None,
    lot: str | None,
    serial: str | None,
    kid: str | None,
    code_status: str,
) -> int:
    """Store one scan (``scan.point`` must already be coarse); returns its id."""
    point = scan.point
    evidence = [
        {"kind": f.kind.value, "code": f.code, "reason": f.reason, "evidence": jsonable(f.evidence)}
        for f in verdict.findings
    ]
    try:
        row = conn.execute(
            "INSERT INTO consumer_scans (scanned_at, tenant_id, gtin, lot, serial, kid,"
            " code_status, lat, lon, accuracy_km, region, verdict, reason, evidence)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
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
            ),
        ).fetchone()
    except psycopg.Error as exc:
        raise ProvenanceStoreError(f"recording a scan failed: {exc}") from exc
    assert row is not None
    return int(row[0])
