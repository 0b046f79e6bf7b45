"""Resolving a consumer scan: check the code, judge it, record it, and tell its story.

One call per resolver request (:func:`resolve_scan`):

1. the code's signature is checked offline against the brand key named by ``k``
   (``brand_keys``); the brand is the key's owner;
2. the unit: the serial must have been issued (``trace_codes``, same lot as printed) —
   a validly signed but never-issued code (a leaked key) is counterfeit; its custody
   (``units``) gives decommissioning, the distributor it was shipped to (and that
   distributor's authorised area) and the recorded sale;
3. :func:`judge_scan` with the brand's thresholds over the code's earlier scans;
4. the scan is recorded (coarse place only, never an IP) with the verdict and evidence;
5. provenance for the page: custody timeline with proof bundle links, and the cold-chain
   exposure against the product's storage profile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from cloud.provenance.audit import TimelineEntry, bundle_url, custody_timeline
from cloud.provenance.brands import authorised_area, brand_keyring, brand_thresholds, unit_epc
from cloud.provenance.clone import Scan
from cloud.provenance.codes import CodeCheck, CodeStatus, SignedCode, check_code
from cloud.provenance.coldchain import Exposure, StorageProfile
from cloud.provenance.errors import CodeVerificationError, VerdictInputError
from cloud.provenance.exposure import CONSUMER_BUCKETS, intervals_of, storage_profile, unit_exposure
from cloud.provenance.geo import GeoPoint, check_region
from cloud.provenance.keys import Keyring
from cloud.provenance.scanlog import coarse_point, record_scan, scan_history
from cloud.provenance.store import unit_row
from cloud.provenance.verdicts import Sale, Shipment, UnitRecord, Verdict, judge_scan

__all__ = ["Resolution", "ScanPlace", "resolve_scan"]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class ScanPlace:
    """Where the scan happened as far as the request says (already coarse or not)."""

    point: GeoPoint | None = None
    region: str | None = None

    @classmethod
    def from_request(
        cls,
        lat: float | None,
        lon: float | None,
        accuracy_m: float | None,
        regions: list[str | None],
    ) -> ScanPlace:
        """Client point when given and valid; the first valid region code otherwise too."""
        point = None
        if lat is not None and lon is not None:
            try:
                point = coarse_point(GeoPoint(lat, lon, max(0.0, (accuracy_m or 0.0) / 1000)))
            except VerdictInputError:
                point = None
        region = None
        for candidate in regions:
            if not candidate:
                continue
            code = candidate.strip().upper()
            try:
                region = check_region(code)
            except VerdictInputError:
                continue
            if code not in ("XX", "T1"):  # Cloudflare: unknown country, Tor
                break
            region = None
        return cls(point, region)


@dataclass(frozen=True, slots=True)
class Resolution:
    check: CodeCheck
    verdict: Verdict
    scan_id: int
    scanned_at: datetime
    tenant: str | None
    epc: str | None
    lot: str | None
    status: str | None = None
    product: str | None = None
    timeline: tuple[TimelineEntry, ...] = ()
    profile: StorageProfile | None = None
    exposure: Exposure | None = None
    regions: tuple[tuple[str, str | None], ...] = ()  # location -> region code


def _check(conn: Conn, code: str) -> tuple[CodeCheck, str | None]:
    try:
        kid = SignedCode.parse(code).kid
    except CodeVerificationError:
        return check_code(code, Keyring()), None
    keyring, tenant = brand_keyring(conn, kid)
    return check_code(code, keyring), tenant


def _sale(conn: Conn, row: dict[str, Any]) -> Sale | None:
    if row["sold_at"] is None:
        return None
    site = conn.execute(
        "SELECT s.latitude, s.longitude, s.region FROM epcis_locations l"
        " JOIN sites s ON (s.tenant_id, s.id) = (l.tenant_id, l.site_id) WHERE l.location = %s",
        (row["sold_location"],),
    ).fetchone()
    if site is None:
        return Sale(row["sold_at"])
    point = None if site[0] is None or site[1] is None else GeoPoint(site[0], site[1])
    try:
        region = None if site[2] is None else check_region(site[2])
    except VerdictInputError:
        region = None
    return Sale(row["sold_at"], point, region)


def _unit(
    conn: Conn, check: CodeCheck
) -> tuple[UnitRecord | None, dict[str, Any] | None, str | None]:
    link = check.link
    if link is None or link.serial is None:
        return None, None, None
    issued = conn.execute(
        "SELECT tenant_id, lot FROM trace_codes WHERE gtin = %s AND serial = %s",
        (link.gtin.value, link.serial),
    ).fetchone()
    if issued is None or issued[1] != link.lot:
        return None, None, None if issued is None else str(issued[0])
    epc = unit_epc(link)
    row = unit_row(conn, epc)
    if row is None:  # issued, no custody event yet
        return UnitRecord(epc), None, str(issued[0])
    shipment = None
    if (area := authorised_area(conn, row["shipped_to"], row["shipped_to_location"])) is not None:
        shipment = Shipment(area[0], area[1])
    record = UnitRecord(
        epc=epc,
        decommissioned_at=row["decommissioned_at"],
        shipment=shipment,
        sale=_sale(conn, row),
    )
    return record, row, str(issued[0])


def resolve_scan(
    conn: Conn, code: str, place: ScanPlace, *, now: datetime | None = None
) -> Resolution:
    """Judge and record one scan of ``code`` (the URI as scanned, with ``k`` and ``s``)."""
    scanned_at = (now or datetime.now(UTC)).astimezone(UTC)
    check, key_tenant = _check(conn, code)
    unit, row, tenant = _unit(conn, check) if check.valid else (None, None, key_tenant)
    tenant = tenant or key_tenant
    link = check.link
    history = scan_history(conn, link.gtin.value, link.serial) if link and link.serial else []
    scan = Scan(scanned_at, place.point, place.region)
    timeline = tuple(custody_timeline(conn, unit.epc)) if unit is not None else ()
    if unit is not None and timeline:
        unit = UnitRecord(
            unit.epc,
            unit.decommissioned_at,
            unit.shipment,
            unit.sale,
            bundle_url(timeline[-1].ledger_index),
        )
    verdict = judge_scan(check, unit, history, scan, brand_thresholds(conn, tenant))
    scan_id = record_scan(
        conn,
        scan,
        verdict,
        tenant=tenant,
        gtin=None if link is None else link.gtin.value,
        lot=None if link is None else link.lot,
        serial=None if link is None else link.serial,
        kid=check.kid,
        code_status=check.status.value,
    )
    if check.status is not CodeStatus.VALID:
        _logger.info("scan %d: %s (%s)", scan_id, verdict.kind.value, check.status.value)
    result = Resolution(
        check,
        verdict,
        scan_id,
        scanned_at,
        tenant,
        None if unit is None else unit.epc,
        None if link is None else link.lot,
    )
    if unit is None:
        return result
    gtin = link.gtin.value if link is not None else None
    profile = storage_profile(conn, tenant, gtin)
    intervals = intervals_of(row["intervals"]) if row is not None else []
    product = conn.execute(
        "SELECT name FROM products WHERE tenant_id = %s AND gtin = %s", (tenant, gtin)
    ).fetchone()
    locations = sorted({e.location for e in timeline if e.location})
    regions = conn.execute(
        "SELECT l.location, s.region FROM epcis_locations l"
        " JOIN sites s ON (s.tenant_id, s.id) = (l.tenant_id, l.site_id)"
        " WHERE l.location = ANY(%s)",
        (locations,),
    ).fetchall()
    return Resolution(
        check,
        verdict,
        scan_id,
        scanned_at,
        tenant,
        unit.epc,
        result.lot,
        status=None if row is None else row["status"],
        product=None if product is None else str(product[0]),
        timeline=timeline,
        profile=profile,
        exposure=(
            unit_exposure(conn, intervals, profile, until=scanned_at, max_buckets=CONSUMER_BUCKETS)
            if profile is not None and intervals
            else None
        ),
        regions=tuple((str(r[0]), r[1]) for r in regions),
    )
