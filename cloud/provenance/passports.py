"""Unit passports in PostgreSQL: computed from custody, the channel and readings, stored
once, refreshed when what they rest on changes (``unit_passports``, migration 0013).

A passport names the unit revision (``units.revision``, bumped by every custody write)
and the tenant's channel epoch (``passport_epochs``, bumped by any change to sites,
distributors, EPCIS mappings, products or the brand's name) it was computed from. The
resolver's read compares both with the current ones in the same query and recomputes on a
mismatch before judging, so a verdict never rests on stale custody. What changes without
either moving is the cold-chain exposure of a unit still at a site (readings keep
arriving): such a passport is refreshed when it is older than the refresh age, by the
``provenance.passports`` job and, off the response path, by a resolver that served it.

Custody writes queue their units (``passport_queue``, a trigger); :func:`refresh_passports`
drains that queue, then passports of an older channel epoch, then open-interval passports
whose exposure is older than the refresh age.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from cloud.provenance.audit import custody_timeline
from cloud.provenance.brands import authorised_area
from cloud.provenance.coldchain import Exposure, combine
from cloud.provenance.custody import CustodyInterval
from cloud.provenance.errors import VerdictInputError
from cloud.provenance.exposure import (
    CONSUMER_BUCKETS,
    ExposureMemo,
    interval_exposures,
    intervals_of,
    storage_profile,
)
from cloud.provenance.geo import GeoPoint, check_region
from cloud.provenance.i18n import DEFAULT_TIMEZONE
from cloud.provenance.passport import Passport, Stay, Step
from cloud.provenance.passportview import fragments
from cloud.provenance.store import unit_row
from cloud.provenance.verdicts import Sale, Shipment, UnitRecord, Whereabouts

__all__ = [
    "PassportRefresh",
    "compute_passport",
    "refresh_passports",
    "store_passport",
    "update_passport",
]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


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


def _sites(conn: Conn, tenant: str, locations: set[str]) -> dict[str, tuple[Any, ...]]:
    """``location -> (name, lat, lon, region, distributor_id)`` of the mapped sites."""
    if not locations:
        return {}
    rows = conn.execute(
        "SELECT l.location, s.name, s.latitude, s.longitude, s.region, s.distributor_id"
        " FROM epcis_locations l JOIN sites s ON (s.tenant_id, s.id) = (l.tenant_id, l.site_id)"
        " WHERE l.tenant_id = %s AND l.location = ANY(%s)",
        (tenant, sorted(locations)),
    ).fetchall()
    return {str(r[0]): tuple(r[1:]) for r in rows}


def _unit(
    conn: Conn, tenant: str, epc: str, row: dict[str, Any], sites: dict[str, tuple[Any, ...]]
) -> tuple[UnitRecord, str | None]:
    """The verdict's view of the unit, and the name of the distributor it was shipped to."""
    shipment, shipped_to_name = None, None
    area = authorised_area(conn, tenant, row["shipped_to"], row["shipped_to_location"])
    if area is not None:
        shipment = Shipment(area[0], area[1])
        found = conn.execute(
            "SELECT name FROM distributors WHERE tenant_id = %s AND id = %s", (tenant, area[0])
        ).fetchone()
        shipped_to_name = None if found is None else str(found[0])
    sale = None
    if row["sold_at"] is not None:
        site = sites.get(row["sold_location"] or "")
        sale = (
            Sale(row["sold_at"])
            if site is None
            else Sale(row["sold_at"], _point(site[1], site[2]), _region(site[3]))
        )
    site = sites.get(row["site"] or "")
    status = str(row["status"])
    # With the brand: never shipped (no transit in its history), and not at a site of one
    # of its distributors (a first interval without a site is a commissioning that named
    # no place).
    shipped = row["shipped_to"] is not None or any(
        i.get("site") is None for i in (row["intervals"] or [])[1:]
    )
    at_distributor = site is not None and site[4] is not None
    with_brand = status in ("commissioned", "at_site") and not shipped and not at_distributor
    if site is None:
        whereabouts = Whereabouts(status, row["site"], with_brand=with_brand)
    else:
        whereabouts = Whereabouts(
            status, row["site"], site[0], _point(site[1], site[2]), _region(site[3]), with_brand
        )
    record = UnitRecord(
        epc=epc,
        decommissioned_at=row["decommissioned_at"],
        shipment=shipment,
        sale=sale,
        recalled_at=row.get("recalled_at"),
        whereabouts=whereabouts,
    )
    return record, shipped_to_name


def compute_passport(
    conn: Conn,
    tenant: str,
    epc: str,
    *,
    gtin: str,
    lot: str | None,
    serial: str | None,
    now: datetime | None = None,
    memo: ExposureMemo | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> Passport:
    """The passport of ``tenant``'s unit ``epc`` as the database has it now (``memo``:
    stays computed already, shared by the units of one refresh)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    product = conn.execute(
        "SELECT p.name_en, p.name_zh, t.name FROM tenants t LEFT JOIN products p"
        " ON (p.tenant_id, p.gtin) = (t.id, %s) WHERE t.id = %s",
        (gtin, tenant),
    ).fetchone()
    names = (None, None, None) if product is None else tuple(product)
    base = Passport(
        tenant, epc, gtin, lot, serial, UnitRecord(epc),
        brand=names[2], product_en=names[0], product_zh=names[1],
        profile=storage_profile(conn, tenant, gtin), computed_at=now,
    )  # fmt: skip
    row = unit_row(conn, tenant, epc)
    if row is None:  # issued, no custody event yet
        return replace(base, html=fragments(base, timezone))
    timeline = custody_timeline(conn, tenant, epc)
    intervals = intervals_of(row["intervals"] or [])
    locations = {e.location for e in timeline if e.location}
    locations |= {i.site for i in intervals if i.site}
    locations |= {x for x in (row["site"], row["sold_location"]) if x}
    sites = _sites(conn, tenant, locations)
    unit, shipped_to_name = _unit(conn, tenant, epc, row, sites)
    steps = tuple(
        Step(
            e.ledger_index, e.event_id, e.event_time, e.event_type, e.biz_step, e.action,
            e.location,
            (sites.get(e.location or "") or (None,))[0],
            _region((sites.get(e.location or "") or (None,) * 4)[3]),
            e.via,
        )
        for e in timeline
    )
    profile = base.profile
    exposures: list[Exposure | None] = [None] * len(intervals)
    if profile is not None:
        exposures = interval_exposures(
            conn, tenant, intervals, profile, until=now, max_buckets=CONSUMER_BUCKETS, memo=memo
        )
    stays = []
    for interval, stay_exposure in zip(intervals, exposures, strict=True):
        site = sites.get(interval.site or "")
        stays.append(
            Stay(
                interval.start, interval.end, interval.site,
                None if site is None else site[0],
                None if site is None else _region(site[3]),
                stay_exposure,
            )
        )
    total = None
    if profile is not None and intervals:
        # transit counts as uncovered time: an exposure of its length with no readings
        total = combine([
            x if x is not None else _uncovered(i, now)
            for i, x in zip(intervals, exposures, strict=True)
        ])
    unit = replace(unit, proof_url=steps[-1].proof_url if steps else None)
    passport = replace(
        base,
        unit=unit,
        status=str(row["status"]),
        lot=row.get("lot") or lot,
        steps=steps,
        stays=tuple(stays),
        exposure=total,
        exposure_through=now,
        shipped_to_name=shipped_to_name,
    )
    return replace(passport, html=fragments(passport, timezone))


def _uncovered(interval: CustodyInterval, now: datetime) -> Exposure:
    end = interval.end or now
    minutes = max(0.0, (end - interval.start).total_seconds() / 60)
    return Exposure(interval.start, end, minutes, 0.0, 0.0, 0.0, None, None, None, None)


def _versions(conn: Conn, tenant: str, epc: str) -> tuple[int, int]:
    row = conn.execute(
        "SELECT (SELECT revision FROM units WHERE tenant_id = %(t)s AND epc = %(e)s),"
        " (SELECT epoch FROM passport_epochs WHERE tenant_id = %(t)s)",
        {"t": tenant, "e": epc},
    ).fetchone()
    assert row is not None
    return int(row[0] or 0), int(row[1] or 0)


def store_passport(conn: Conn, passport: Passport, revision: int, epoch: int) -> None:
    """Keep ``passport`` unless a passport of a newer revision or epoch is already kept."""
    conn.execute(
        "INSERT INTO unit_passports (tenant_id, epc, unit_revision, channel_epoch, computed_at,"
        " exposure_through, open_interval, passport)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, epc) DO UPDATE SET unit_revision = EXCLUDED.unit_revision,"
        " channel_epoch = EXCLUDED.channel_epoch, computed_at = EXCLUDED.computed_at,"
        " exposure_through = EXCLUDED.exposure_through,"
        " open_interval = EXCLUDED.open_interval, passport = EXCLUDED.passport"
        " WHERE unit_passports.unit_revision <= EXCLUDED.unit_revision"
        "   AND unit_passports.channel_epoch <= EXCLUDED.channel_epoch",
        (
            passport.tenant,
            passport.epc,
            revision,
            epoch,
            passport.computed_at,
            passport.exposure_through,
            passport.open_interval,
            Jsonb(passport.to_json()),
        ),
    )


def update_passport(
    conn: Conn,
    tenant: str,
    epc: str,
    *,
    gtin: str,
    lot: str | None,
    serial: str | None,
    now: datetime | None = None,
    memo: ExposureMemo | None = None,
) -> tuple[Passport, int, int]:
    """Compute and keep the passport of one unit, in one transaction (the versions are
    read first: a change committed meanwhile leaves the passport behind, to be redone)."""
    with conn.transaction():
        revision, epoch = _versions(conn, tenant, epc)
        passport = compute_passport(
            conn, tenant, epc, gtin=gtin, lot=lot, serial=serial, now=now, memo=memo
        )
        store_passport(conn, passport, revision, epoch)
        conn.execute("DELETE FROM passport_queue WHERE tenant_id = %s AND epc = %s", (tenant, epc))
    return passport, revision, epoch


@dataclass(frozen=True, slots=True)
class PassportRefresh:
    """What one :func:`refresh_passports` run did."""

    queued: int = 0
    channel: int = 0
    exposure: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.channel + self.exposure


def _refresh(conn: Conn, units: Sequence[tuple[str, str]], now: datetime) -> int:
    done = 0
    memo: ExposureMemo = {}
    for tenant, epc in units:
        row = conn.execute(
            "SELECT gtin, lot, serial FROM units WHERE tenant_id = %s AND epc = %s", (tenant, epc)
        ).fetchone()
        if row is None or row[0] is None:
            conn.execute(
                "DELETE FROM passport_queue WHERE tenant_id = %s AND epc = %s", (tenant, epc)
            )
            continue
        update_passport(
            conn, tenant, epc, gtin=row[0], lot=row[1], serial=row[2], now=now, memo=memo
        )
        done += 1
    return done


def refresh_passports(
    conn: Conn, *, limit: int = 500, exposure_age: timedelta = timedelta(minutes=15),
    now: datetime | None = None,
) -> PassportRefresh:  # fmt: skip
    """Recompute up to ``limit`` passports of each kind: queued by custody writes, of an
    older channel epoch, and at a site with exposure older than ``exposure_age``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    queued = conn.execute(
        "SELECT tenant_id, epc FROM passport_queue ORDER BY queued_at LIMIT %s", (limit,)
    ).fetchall()
    done_queued = _refresh(conn, [(str(r[0]), str(r[1])) for r in queued], now)
    stale = conn.execute(
        "SELECT p.tenant_id, p.epc FROM unit_passports p"
        " JOIN passport_epochs e ON e.tenant_id = p.tenant_id"
        " WHERE p.channel_epoch < e.epoch LIMIT %s",
        (limit,),
    ).fetchall()
    done_channel = _refresh(conn, [(str(r[0]), str(r[1])) for r in stale], now)
    old = conn.execute(
        "SELECT tenant_id, epc FROM unit_passports WHERE open_interval"
        " AND exposure_through < %s ORDER BY exposure_through LIMIT %s",
        (now - exposure_age, limit),
    ).fetchall()
    done_exposure = _refresh(conn, [(str(r[0]), str(r[1])) for r in old], now)
    result = PassportRefresh(done_queued, done_channel, done_exposure)
    if result.total:
        _logger.info(
            "passports: %d after custody changes, %d after channel changes, %d exposure "
            "refreshes",
            result.queued, result.channel, result.exposure,
        )  # fmt: skip
    return result
