"""``/v1/tenants/{tenant}/sites``: warehouses of a tenant."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api import queries
from cloud.api.deps import Conn
from cloud.api.schemas import Site

__all__ = ["router"]

router = APIRouter(prefix="/v1/tenants/{tenant}/sites", tags=["sites"])


@router.get("", summary="List the tenant's sites")
def list_sites(tenant: str, conn: Conn) -> list[Site]:
    return queries.list_sites(conn, tenant)


@router.get("/{site}", summary="One site", responses={404: {"description": "Unknown site"}})
def get_site(tenant: str, site: str, conn: Conn) -> Site:
    return queries.get_site(conn, tenant, site)
