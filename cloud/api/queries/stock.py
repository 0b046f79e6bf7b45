"""Sensed stock: the latest count per site, product and location."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from cloud.api.queries.sites import get_site, require_tenant
from cloud.api.schemas import StockAtLocation, StockLevel

__all__ = ["current_stock"]


def current_stock(
    conn: psycopg.Connection[Any], tenant: str, *, site: str | None, gtin: str | None
) -> list[StockLevel]:
    """The latest count per (site, product, location), summed per (site, product)."""
    require_tenant(conn, tenant)
    if site is not None:
        get_site(conn, tenant, site)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT DISTINCT ON (site_id, gtin, location) site_id, gtin, location, quantity,"
            " time, method FROM stock_counts WHERE tenant_id = %(tenant)s"
            " AND (%(site)s::text IS NULL OR site_id = %(site)s)"
            " AND (%(gtin)s::text IS NULL OR gtin = %(gtin)s)"
            " ORDER BY site_id, gtin, location, time DESC, received_at DESC",
            {"tenant": tenant, "site": site, "gtin": gtin},
        ).fetchall()
    grouped: dict[tuple[str, str], list[StockAtLocation]] = {}
    for r in rows:
        grouped.setdefault((r["site_id"], r["gtin"]), []).append(
            StockAtLocation(
                location=r["location"],
                quantity=r["quantity"],
                time=r["time"],
                method=r["method"],
            )
        )
    return [
        StockLevel(
            tenant_id=tenant,
            site_id=site_id,
            gtin=product,
            quantity=sum(loc.quantity for loc in locations),
            as_of=max(loc.time for loc in locations),
            locations=locations,
        )
        for (site_id, product), locations in grouped.items()
    ]
