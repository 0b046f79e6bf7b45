"""Resolving a consumer scan: check the code, judge it, record it, and tell its story.

One call per resolver request (:func:`resolve_scan`):

1. the code's signature is checked offline against the brand key named by ``k``
   (``brand_keys``);
2. the code must be an issued code of the brand that owns its GTIN: the GTIN under a
   registered company prefix, the key that brand's, the serial issued by it (same lot,
   same key). Otherwise it is counterfeit with that reason (:class:`Refusal`): a leaked
   key mints nothing, and one brand's key makes no other brand's serial genuine;
3. only then is it a *verified* code: the unit's custody (``units``: decommissioning,
   recall, where it is, the distributor it was shipped to and that distributor's
   authorised area, the recorded sale) and the unit's scan summary (``unit_scan_state``,
   locked for the transaction) feed :func:`judge_scan`; the scan is recorded and added to
   the summary in the same transaction;
4. a code that did not verify is judged counterfeit and kept apart (``counterfeit_scans``,
   for the GTIN owner's counterfeit map): it never enters any unit's history;
5. provenance for the page: custody timeline with proof bundle links, and the cold-chain
   exposure against the product's storage profile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import psycopg

from cloud.provenance.audit import TimelineEntry, bundle_url, custody_timeline
from cloud.provenance.brands import authorised_area, brand_keyring, brand_thresholds, unit_epc
from cloud.provenance.clone import Scan
from cloud.provenance.codes import CodeCheck, SignedCode, check_code
from cloud.provenance.coldchain import Exposure, StorageProfile
from cloud.provenance.errors import CodeVerificationError, VerdictInputError
from cloud.provenance.exposure import CONSUMER_BUCKETS, intervals_of, storage_profile, unit_exposure
from cloud.provenance.geo import GeoPoint, check_region
from cloud.provenance.keys import Keyring
from cloud.provenance.prefixes import owner_of
from cloud.provenance.scanlog import (
    coarse_point,
    lock_scan_state,
    record_counterfeit,
    record_scan,
    save_scan_state,
)
from cloud.provenance.scanstate import ScanState
from cloud.provenance.store import unit_row
from cloud.provenance.verdicts import (
    Refusal,
    Sale,
    Shipment,
    UnitRecord,
    Verdict,
    Whereabouts,
    judge_scan,
)
from wire.digital_link import DigitalLink

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
        locate: Callable[[float, float], str | None] | None = None,
    ) -> ScanPlace:
        """Client point when given and valid, with the region it is in (``locate``: the
        offline geocoder, GB/T 2260 district); else the first valid region code given."""
        point = None
        if lat is not None and lon is not None:
            try:
                point = coarse_point(GeoPoint(lat, lon, max(0.0, (accuracy_m or 0.0) / 1000)))
            except VerdictInputError:
                point = None
        if point is not None and locate is not None:
            code = locate(lat or 0.0, lon or 0.0)  # the precise point, before rounding
            if code is not None:
                return cls(point, check_region(code))
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
    scan_id: int | None  # None: not kept (a code of no registered brand)
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


def _refusal(
    conn: Conn, link: DigitalLink, kid: str | None, owner: str | None, key_tenant: str | None
) -> Refusal | None:
    """Why a code that verified is not an issued code of its GTIN's owner (None: it is)."""
    if owner is None:
        return Refusal(
            "unregistered_gtin",
            f"GTIN {link.gtin.value} is not under a company prefix any brand registered",
        )
    if key_tenant != owner:
        return Refusal(
            "key_not_issuer",
            f"signed with key {kid}, which is not a key of the brand that owns GTIN "
            f"{link.gtin.value}",
        )
    issued = conn.execute(
        "SELECT lot, kid FROM trace_codes WHERE tenant_id = %s AND gtin = %s AND serial = %s",
        (owner, link.gtin.value, link.serial),
    ).fetchone()
    if issued is None:
        return Refusal("unknown_serial", "the brand never issued this serial")
    if issued[0] != link.lot:
        return Refusal("unknown_serial", "the brand issued this serial with another lot")
    if issued[1] != kid:
        return Refusal(
            "wrong_key", f"this serial was issued under key {issued[1]}, not key {kid}"
        )
    return None


def _site(conn: Conn, tenant: str, location: str | None) -> tuple[Any, ...] | None:
    """``(name, lat, lon, region, distributor_id)`` of the site mapped to ``location``."""
    if location is None:
        return None
    row = conn.execute(
        "SELECT s.name, s.latitude, s.longitude, s.region, s.distributor_id"
        " FROM epcis_locations l JOIN sites s ON (s.tenant_id, s.id) = (l.tenant_id, l.site_id)"
        " WHERE l.tenant_id = %s AND l.location = %s",
        (tenant, location),
    ).fetchone()
    return None if row is None else tuple(row)


def _point(lat: float | None, lon: float | None) -> GeoPoint | None:
    try:
        return None if lat is None or lon is None else GeoPoint(lat, lon)
    except VerdictInputError:
        return None


def _region(code: str | None) -> str | None:
    try:
        return None if code is None else check_region(code)
    except VerdictInputError:
        return None


def _sale(conn: Conn, tenant: str, row: dict[str, Any]) -> Sale | None:
    if row["sold_at"] is None:
        return None
    site = _site(conn, tenant, row["sold_location"])
    if site is None:
        return Sale(row["sold_at"])
    return Sale(row["sold_at"], _point(site[1], site[2]), _region(site[3]))


def _whereabouts(conn: Conn, tenant: str, row: dict[str, Any]) -> Whereabouts:
    site = _site(conn, tenant, row["site"])
    status = str(row["status"])
    # With the brand: never shipped (no transit in its history), and not at a site of one
    # of its distributors.
    # (a first interval without a site is a commissioning that named no place)
    shipped = row["shipped_to"] is not None or any(
        i.get("site") is None for i in (row["intervals"] or [])[1:]
    )
    at_distributor = site is not None and site[4] is not None
    with_brand = status in ("commissioned", "at_site") and not shipped and not at_distributor
    if site is None:
        return Whereabouts(status, row["site"], with_brand=with_brand)
    return Whereabouts(
        status, row["site"], site[0], _point(site[1], site[2]), _region(site[3]), with_brand
    )


def _unit(conn: Conn, tenant: str, link: DigitalLink) -> tuple[UnitRecord, dict[str, Any] | None]:
    epc = unit_epc(link)
    row = unit_row(conn, tenant, epc)
    if row is None:  # issued, no custody event yet
        return UnitRecord(epc), None
    shipment = None
    area = authorised_area(conn, tenant, row["shipped_to"], row["shipped_to_location"])
    if area is not None:
        shipment = Shipment(area[0], area[1])
    record = UnitRecord(
        epc=epc,
        decommissioned_at=row["decommissioned_at"],
        shipment=shipment,
        sale=_sale(conn, tenant, row),
        recalled_at=row.get("recalled_at"),
        whereabouts=_whereabouts(conn, tenant, row),
    )
    return record, row


def _untrusted(
    conn: Conn,
    check: CodeCheck,
    scan: Scan,
    refusal: Refusal | None,
    tenant: str | None,
    scanned_at: datetime,
) -> Resolution:
    """A code that did not verify: counterfeit, kept for the brand's counterfeit map only."""
    verdict = judge_scan(check, None, ScanState(), scan, refusal=refusal)
    link = check.link
    scan_id = None
    if tenant is not None and link is not None:
        scan_id = record_counterfeit(
            conn,
            scan,
            verdict,
            tenant=tenant,
            gtin=link.gtin.value,
            lot=link.lot,
            serial=link.serial,
            kid=check.kid,
            code_status=check.status.value,
        )
    _logger.info("counterfeit scan (%s): %s", verdict.findings[0].code, verdict.reason)
    return Resolution(
        check, verdict, scan_id, scanned_at, tenant, None, None if link is None else link.lot
    )


def resolve_scan(
    conn: Conn,
    code: str,
    place: ScanPlace,
    *,
    client: str | None = None,
    now: datetime | None = None,
) -> Resolution:
    """Judge and record one scan of ``code`` (the URI as scanned, with ``k`` and ``s``);
    ``client`` is the scanner's tag (:func:`cloud.provenance.scanlog.client_tag`)."""
    scanned_at = (now or datetime.now(UTC)).astimezone(UTC)
    scan = Scan(scanned_at, place.point, place.region, client=client)
    with conn.transaction():
        check, key_tenant = _check(conn, code)
        link = check.link
        owner = None if link is None else owner_of(conn, link.gtin.prefix_digits)
        if link is None or link.serial is None or not check.valid:
            return _untrusted(conn, check, scan, None, owner or key_tenant, scanned_at)
        refusal = _refusal(conn, link, check.kid, owner, key_tenant)
        if refusal is not None or owner is None:
            return _untrusted(conn, check, scan, refusal, owner or key_tenant, scanned_at)
        return _trusted(conn, check, link, owner, scan, scanned_at)


def _trusted(
    conn: Conn,
    check: CodeCheck,
    link: DigitalLink,
    tenant: str,
    scan: Scan,
    scanned_at: datetime,
) -> Resolution:
    assert link.serial is not None
    unit, row = _unit(conn, tenant, link)
    timeline = tuple(custody_timeline(conn, tenant, unit.epc))
    if timeline:
        unit = replace(unit, proof_url=bundle_url(timeline[-1].ledger_index))
    state = lock_scan_state(conn, tenant, link.gtin.value, link.serial)
    verdict = judge_scan(check, unit, state, scan, brand_thresholds(conn, tenant))
    scan_id = record_scan(
        conn,
        scan,
        verdict,
        tenant=tenant,
        gtin=link.gtin.value,
        lot=link.lot,
        serial=link.serial,
        kid=check.kid,
        code_status=check.status.value,
    )
    kept = replace(scan, scan_id=str(scan_id))
    save_scan_state(
        conn, tenant, link.gtin.value, link.serial, state.add(kept, verdict.clone_flag)
    )
    profile = storage_profile(conn, tenant, link.gtin.value)
    intervals = intervals_of(row["intervals"]) if row is not None else []
    product = conn.execute(
        "SELECT name FROM products WHERE tenant_id = %s AND gtin = %s", (tenant, link.gtin.value)
    ).fetchone()
    locations = sorted({e.location for e in timeline if e.location})
    regions = conn.execute(
        "SELECT l.location, s.region FROM epcis_locations l"
        " JOIN sites s ON (s.tenant_id, s.id) = (l.tenant_id, l.site_id)"
        " WHERE l.tenant_id = %s AND l.location = ANY(%s)",
        (tenant, locations),
    ).fetchall()
    return Resolution(
        check,
        verdict,
        scan_id,
        scanned_at,
        tenant,
        unit.epc,
        link.lot,
        status=None if row is None else row["status"],
        product=None if product is None else str(product[0]),
        timeline=timeline,
        profile=profile,
        exposure=(
            unit_exposure(
                conn, tenant, intervals, profile, until=scanned_at, max_buckets=CONSUMER_BUCKETS
            )
            if profile is not None and intervals
            else None
        ),
        regions=tuple((str(r[0]), r[1]) for r in regions),
    )
