"""``/v1/tenants/{tenant}/products``: the brand's catalogue — GTIN, names in English and
Chinese, storage profile (temperature and humidity range). Brand and distributors read it;
the brand writes it (each change logged with before/after: ``/channel/changes``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from cloud.api.channel_support import (
    NO_NUL,
    Geo,
    actor_of,
    brand_only,
    channel_errors,
    record_from_body,
)
from cloud.api.deps import ScopedConn, TenantPrincipal, tenant_principal
from cloud.api.errors import NotFound
from cloud.channel.records import Kind
from cloud.channel.store import SaveMode, get_record, list_records, save_record

__all__ = ["ProductIn", "ProductOut", "router"]

router = APIRouter(
    prefix="/v1/tenants/{tenant}/products",
    tags=["channel"],
    dependencies=[Depends(tenant_principal)],
)
GtinPath = Annotated[str, Path(pattern=r"^[0-9]{14}$", description="GTIN-14")]
_Text = Annotated[str, Field(max_length=500, pattern=NO_NUL)]


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gtin: Annotated[str, Field(max_length=20, pattern=NO_NUL)] | None = Field(
        default=None,
        description="GTIN-8/12/13/14 (stored as GTIN-14); required by POST, PUT takes the path's",
    )
    name_en: _Text | None = None
    name_zh: _Text | None = None
    temp_min_c: float | None = None
    temp_max_c: float | None = None
    humidity_min_pct: float | None = None
    humidity_max_pct: float | None = None


class ProductOut(BaseModel):
    gtin: str
    name: str = Field(description="What pages show: the English name, else the Chinese one")
    name_en: str | None
    name_zh: str | None
    temp_min_c: float | None
    temp_max_c: float | None
    humidity_min_pct: float | None
    humidity_max_pct: float | None
    created_at: datetime
    updated_at: datetime


def _out(row: dict[str, Any]) -> ProductOut:
    return ProductOut.model_validate(
        {**row, "name": row["name_en"] or row["name_zh"] or row["gtin"]}
    )


@router.get("", summary="The tenant's products")
def list_products(tenant: str, conn: ScopedConn) -> list[ProductOut]:
    return [_out(r) for r in list_records(conn, tenant, Kind.PRODUCT)]


@router.get("/{gtin}", summary="One product", responses={404: {}})
def get_product(tenant: str, gtin: GtinPath, conn: ScopedConn) -> ProductOut:
    row = get_record(conn, tenant, Kind.PRODUCT, gtin)
    if row is None:
        raise NotFound(f"no product {gtin} in {tenant}")
    return _out(row)


@router.post(
    "",
    status_code=201,
    summary="Create a product",
    responses={403: {}, 409: {"description": "The GTIN exists"}, 422: {}},
)
def create_product(
    tenant: str, body: ProductIn, conn: ScopedConn, principal: TenantPrincipal, geocoder: Geo
) -> ProductOut:
    brand_only(principal)
    record = record_from_body(Kind.PRODUCT, body, geocoder)
    with channel_errors():
        change = save_record(conn, tenant, record, actor_of(principal), mode=SaveMode.CREATE)
    return get_product(tenant, change.key, conn)


@router.put(
    "/{gtin}",
    summary="Create or replace a product (idempotent)",
    responses={201: {"description": "Created"}, 403: {}, 422: {}},
)
def put_product(
    tenant: str,
    gtin: GtinPath,
    body: ProductIn,
    conn: ScopedConn,
    principal: TenantPrincipal,
    geocoder: Geo,
    response: Response,
) -> ProductOut:
    brand_only(principal)
    record = record_from_body(Kind.PRODUCT, body, geocoder, gtin=gtin)
    with channel_errors():
        change = save_record(conn, tenant, record, actor_of(principal))
    if change.action == "create":
        response.status_code = 201
    return get_product(tenant, change.key, conn)
