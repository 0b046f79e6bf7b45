"""The data each console page shows, read through a connection already scoped to the
principal (row-level security applies), and filtered on the principal's tenant again here.

Charts and maps are drawn from these values by :mod:`cloud.console.svg`; this module only
reads. The alert tables belong to :mod:`cloud.alerts`: the console reads them when they
exist (``to_regclass``), so pages keep working on a database without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cloud.api import queries
from cloud.api.schemas import Device, Series, StockLevel
from cloud.auth import Principal, Role
from cloud.console.status import SiteStatus, site_status

__all__ = [
    "ProductProfile",
    "SiteDetail",
    "SiteSummary",
    "alerts_table_exists",
    "channel_sites",
    "profile_band",
    "site_detail",
]

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class SiteSummary:
    id: str
    name: str
    region: str | None
    latitude: float | None
    longitude: float | None
    distributor_id: str | None
    status: SiteStatus
    devices: int
    open_alerts: int


@dataclass(frozen=True, slots=True)
class ProductProfile:
    gtin: str
    name: str
    temp_min_c: float | None
    temp_max_c: float | None
    humidity_min_pct: float | None
    humidity_max_pct: float | None


@dataclass(frozen=True, slots=True)
class SiteDetail:
    site: SiteSummary
    devices: list[Device]
    stock: list[StockLevel]
    products: dict[str, ProductProfile]
    temperature: Series | None
    humidity: Series | None
    alerts: list[dict[str, Any]] = field(default_factory=list)


def alerts_table_exists(conn: Conn) -> bool:
    row = conn.execute("SELECT to_regclass('alerts') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _open_alerts_by_site(conn: Conn, tenant: str) -> dict[str | None, int]:
    if not alerts_table_exists(conn):
        return {}
    rows = conn.execute(
        "SELECT site_id, count(*) FROM alerts WHERE tenant_id = %s AND state <> 'resolved'"
        " GROUP BY site_id",
        (tenant,),
    ).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def _tenant(principal: Principal) -> str:
    if principal.tenant_id is None or principal.role not in (Role.BRAND, Role.DISTRIBUTOR):
        raise PermissionError(f"a {principal.role} principal has no console")
    return principal.tenant_id


def channel_sites(
    conn: Conn, principal: Principal, *, stale_after: timedelta, site: str | None = None
) -> list[SiteSummary]:
    """The sites the principal sees (a distributor: its own), with their status."""
    tenant = _tenant(principal)
    with conn.cursor(row_factory=dict_row) as cur:
        sites = cur.execute(
            "SELECT id, name, region, latitude, longitude, distributor_id FROM sites"
            " WHERE tenant_id = %(tenant)s"
            " AND (%(dist)s::text IS NULL OR distributor_id = %(dist)s)"
            " AND (%(site)s::text IS NULL OR id = %(site)s) ORDER BY name, id",
            {"tenant": tenant, "dist": principal.distributor_id, "site": site},
        ).fetchall()
        devices = cur.execute(
            "SELECT site_id, status, last_seen_at, now() AS now FROM devices"
            " WHERE tenant_id = %(tenant)s AND (%(site)s::text IS NULL OR site_id = %(site)s)",
            {"tenant": tenant, "site": site},
        ).fetchall()
    states: dict[str, list[str]] = {}
    for d in devices:
        state = queries.online_state(d["status"], d["last_seen_at"], d["now"], stale_after)
        states.setdefault(d["site_id"], []).append(state)
    alerts = _open_alerts_by_site(conn, tenant)
    return [
        SiteSummary(
            id=s["id"],
            name=s["name"],
            region=s["region"],
            latitude=s["latitude"],
            longitude=s["longitude"],
            distributor_id=s["distributor_id"],
            status=site_status(states.get(s["id"], []), alerts.get(s["id"], 0)),
            devices=len([x for x in states.get(s["id"], []) if x != "retired"]),
            open_alerts=alerts.get(s["id"], 0),
        )
        for s in sites
    ]


def _products(conn: Conn, tenant: str, gtins: Sequence[str]) -> dict[str, ProductProfile]:
    if not gtins:
        return {}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT gtin, name, temp_min_c, temp_max_c, humidity_min_pct, humidity_max_pct"
            " FROM products WHERE tenant_id = %s AND gtin = ANY(%s) ORDER BY gtin",
            (tenant, list(gtins)),
        ).fetchall()
    return {r["gtin"]: ProductProfile(**r) for r in rows}


def profile_band(
    profiles: Sequence[ProductProfile], metric: str
) -> tuple[float | None, float | None]:
    """The range every stocked product tolerates: the highest minimum, the lowest maximum.

    ``(None, None)`` when no product has a profile for the metric. An empty intersection
    (products that cannot share a room) comes back as ``low > high``; the page says so.
    """
    if metric == "temperature_c":
        lows = [p.temp_min_c for p in profiles if p.temp_min_c is not None]
        highs = [p.temp_max_c for p in profiles if p.temp_max_c is not None]
    else:
        lows = [p.humidity_min_pct for p in profiles if p.humidity_min_pct is not None]
        highs = [p.humidity_max_pct for p in profiles if p.humidity_max_pct is not None]
    return (max(lows) if lows else None, min(highs) if highs else None)


def _series(
    conn: Conn, tenant: str, site: str, metric: str, plan: queries.SeriesPlan
) -> Series | None:
    return queries.series(conn, tenant, site, metric, plan, device=None, sensor=None)


def site_detail(
    conn: Conn,
    principal: Principal,
    site: str,
    *,
    start: datetime,
    end: datetime,
    stale_after: timedelta,
    available_rollups: frozenset[str],
) -> SiteDetail | None:
    """Everything the site page shows; ``None`` when the principal cannot see the site."""
    found = channel_sites(conn, principal, stale_after=stale_after, site=site)
    if not found:
        return None
    tenant = _tenant(principal)
    devices = queries.list_devices(conn, tenant, site=site, stale_after=stale_after)
    stock = queries.current_stock(conn, tenant, site=site, gtin=None)
    stock.sort(key=lambda s: s.gtin)
    plan = queries.plan_series(start, end, None, available_rollups)
    alerts = (
        list_alerts(conn, principal, states=("open", "acknowledged"), site=site)
        if alerts_table_exists(conn)
        else []
    )
    return SiteDetail(
        site=found[0],
        devices=devices,
        stock=stock,
        products=_products(conn, tenant, [s.gtin for s in stock]),
        temperature=_series(conn, tenant, site, "temperature_c", plan),
        humidity=_series(conn, tenant, site, "humidity_pct", plan),
        alerts=alerts,
    )


def list_alerts(
    conn: Conn,
    principal: Principal,
    *,
    states: Sequence[str],
    site: str | None = None,
    kind: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Alerts of the principal's tenant through the alerts store (RLS narrows a
    distributor to its sites); an unknown kind matches nothing."""
    from cloud.alerts import store
    from cloud.alerts.model import AlertKind, AlertState

    if kind is not None and kind not in {k.value for k in AlertKind}:
        return []
    return store.list_alerts(
        conn,
        _tenant(principal),
        states=[AlertState(s) for s in states],
        kind=None if kind is None else AlertKind(kind),
        site_id=site,
        limit=limit,
    )
