"""``/v1/tenants/{tenant}/stock/positions``: per site and product, ledger-implied stock
(custody) beside sensed stock (counts) and their difference (:mod:`cloud.channel.positions`).
Under row-level security: a distributor sees its own sites."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from cloud.api.channel_support import NO_NUL
from cloud.api.deps import ScopedConn, tenant_principal
from cloud.channel.positions import stock_positions

__all__ = ["PositionOut", "router"]

router = APIRouter(
    prefix="/v1/tenants/{tenant}/stock/positions",
    tags=["stock"],
    dependencies=[Depends(tenant_principal)],
)


class PositionOut(BaseModel):
    site_id: str
    gtin: str
    implied: int = Field(description="what custody (the ledger) says is there")
    implied_at: datetime | None
    sensed: int | None = Field(description="the latest counts summed; null: not counted here")
    sensed_at: datetime | None
    difference: int | None = Field(description="sensed - implied; negative: missing units")


@router.get("", summary="Ledger-implied beside sensed stock per site and product")
def positions(
    tenant: str,
    conn: ScopedConn,
    site: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
) -> list[PositionOut]:
    return [
        PositionOut(
            site_id=p.site_id, gtin=p.gtin, implied=p.implied, implied_at=p.implied_at,
            sensed=p.sensed, sensed_at=p.sensed_at, difference=p.difference,
        )
        for p in stock_positions(conn, tenant, site=site)
    ]
