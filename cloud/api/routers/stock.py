"""``/v1/tenants/{tenant}/stock``: current stock per site and product."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cloud.api import queries
from cloud.api.deps import ScopedConn, tenant_principal
from cloud.api.schemas import StockLevel

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/tenants/{tenant}/stock", tags=["stock"], dependencies=[Depends(tenant_principal)]
)


@router.get(
    "",
    summary="Current stock per site and product",
    description="The latest count at each location, summed per (site, GTIN).",
    responses={404: {"description": "Unknown tenant or site"}},
)
def current_stock(
    tenant: str,
    conn: ScopedConn,
    site: str | None = None,
    gtin: Annotated[str | None, Query(pattern=r"^[0-9]{14}$")] = None,
) -> list[StockLevel]:
    return queries.current_stock(conn, tenant, site=site, gtin=gtin)
