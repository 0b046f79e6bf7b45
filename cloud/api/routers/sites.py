"""``/v1/tenants/{tenant}/sites``: warehouses of a tenant."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from cloud.api import queries
from cloud.api.deps import ScopedConn, tenant_principal
from cloud.api.schemas import Site

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/tenants/{tenant}/sites", tags=["sites"], dependencies=[Depends(tenant_principal)]
)


@router.get("", summary="List the tenant's sites")
def list_sites(tenant: str, conn: ScopedConn) -> list[Site]:
    return queries.list_sites(conn, tenant)


@router.get("/{site}", summary="One site", responses={404: {"description": "Unknown site"}})
def get_site(tenant: str, site: str, conn: ScopedConn) -> Site:
    return queries.get_site(conn, tenant, site)
