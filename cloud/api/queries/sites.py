"""Sites of a tenant, and the tenant check every query starts with."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from cloud.api.errors import NotFound
from cloud.api.schemas import Site

__all__ = ["get_site", "list_sites", "require_tenant"]


def list_sites(conn: psycopg.Connection[Any], tenant: str) -> list[Site]:
    require_tenant(conn, tenant)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT s.tenant_id, s.id, s.name, s.region, s.latitude, s.longitude, s.address,"
            " s.distributor_id, (SELECT count(*) FROM devices d WHERE d.tenant_id = s.tenant_id"
            "  AND d.site_id = s.id AND d.status <> 'retired') AS devices"
            " FROM sites s WHERE s.tenant_id = %s ORDER BY s.id",
            (tenant,),
        ).fetchall()
    return [Site.model_validate(r) for r in rows]


def get_site(conn: psycopg.Connection[Any], tenant: str, site: str) -> Site:
    for found in list_sites(conn, tenant):
        if found.id == site:
            return found
    raise NotFound(f"site {site!r} of tenant {tenant!r} does not exist")


def require_tenant(conn: psycopg.Connection[Any], tenant: str) -> None:
    if conn.execute("SELECT 1 FROM tenants WHERE id = %s", (tenant,)).fetchone() is None:
        raise NotFound(f"tenant {tenant!r} does not exist")
