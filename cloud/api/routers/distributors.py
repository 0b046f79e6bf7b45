"""``/v1/tenants/{tenant}/distributors``: the brand's distributors, their chain (brand →
big → small distributor) and authorised sales regions (GB/T 2260 province or city codes).

Reads run under row-level security: a distributor sees its own record only. Writes are the
brand's (403 for a distributor; the database refuses them too, migration 0012) and each is
logged with before/after (``/channel/changes``)."""

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
from cloud.channel.geocode import Geocoder
from cloud.channel.records import Kind
from cloud.channel.store import SaveMode, get_record, list_records, save_record

__all__ = ["DistributorIn", "DistributorOut", "RegionName", "router"]

router = APIRouter(
    prefix="/v1/tenants/{tenant}/distributors",
    tags=["channel"],
    dependencies=[Depends(tenant_principal)],
)
DistributorId = Annotated[str, Path(max_length=64, pattern=NO_NUL)]
_Text = Annotated[str, Field(max_length=500, pattern=NO_NUL)]


class DistributorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: _Text | None = Field(default=None, description="required by POST; PUT takes the path's")
    name: _Text
    parent_id: _Text | None = Field(
        default=None, description="the distributor it buys from; none: buys from the brand"
    )
    regions: list[Annotated[str, Field(max_length=16, pattern=NO_NUL)]] = Field(
        default_factory=list,
        max_length=500,
        description="authorised sales regions: GB/T 2260 province (440000) or city (440300) "
        "codes; ISO 3166-2 province codes (CN-GD) are accepted and stored as GB/T 2260",
        examples=[["310000", "320500"]],
    )
    contact_name: _Text | None = None
    contact_phone: _Text | None = None
    contact_email: _Text | None = None


class RegionName(BaseModel):
    code: str
    name: str | None


class DistributorOut(BaseModel):
    id: str
    name: str
    parent_id: str | None
    regions: list[RegionName]
    contact_name: str | None
    contact_phone: str | None
    contact_email: str | None
    created_at: datetime
    updated_at: datetime


def _out(row: dict[str, Any], geocoder: Geocoder) -> DistributorOut:
    regions = []
    for code in row["regions"]:
        info = geocoder.region(code)
        regions.append(RegionName(code=code, name=None if info is None else info.name))
    return DistributorOut.model_validate({**row, "regions": regions})


@router.get("", summary="The distributors the caller may see")
def list_distributors(tenant: str, conn: ScopedConn, geocoder: Geo) -> list[DistributorOut]:
    return [_out(r, geocoder) for r in list_records(conn, tenant, Kind.DISTRIBUTOR)]


@router.get("/{distributor}", summary="One distributor", responses={404: {}})
def get_distributor(
    tenant: str, distributor: DistributorId, conn: ScopedConn, geocoder: Geo
) -> DistributorOut:
    row = get_record(conn, tenant, Kind.DISTRIBUTOR, distributor)
    if row is None:
        raise NotFound(f"no distributor {distributor!r} in {tenant}")
    return _out(row, geocoder)


@router.post(
    "",
    status_code=201,
    summary="Create a distributor",
    responses={403: {}, 409: {"description": "The id exists"}, 422: {}},
)
def create_distributor(
    tenant: str, body: DistributorIn, conn: ScopedConn, principal: TenantPrincipal, geocoder: Geo
) -> DistributorOut:
    brand_only(principal)
    record = record_from_body(Kind.DISTRIBUTOR, body, geocoder)
    with channel_errors():
        change = save_record(conn, tenant, record, actor_of(principal), mode=SaveMode.CREATE)
    return get_distributor(tenant, change.key, conn, geocoder)


@router.put(
    "/{distributor}",
    summary="Create or replace a distributor (idempotent)",
    responses={201: {"description": "Created"}, 403: {}, 422: {}},
)
def put_distributor(
    tenant: str,
    distributor: DistributorId,
    body: DistributorIn,
    conn: ScopedConn,
    principal: TenantPrincipal,
    geocoder: Geo,
    response: Response,
) -> DistributorOut:
    brand_only(principal)
    record = record_from_body(Kind.DISTRIBUTOR, body, geocoder, id=distributor)
    with channel_errors():
        change = save_record(conn, tenant, record, actor_of(principal))
    if change.action == "create":
        response.status_code = 201
    return get_distributor(tenant, distributor, conn, geocoder)
