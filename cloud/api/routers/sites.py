"""``/v1/tenants/{tenant}/sites``: warehouses of a tenant, read by brand and distributors
(a distributor sees the sites it operates), created and updated by the brand (each change
logged with before/after: ``/channel/changes``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from cloud.api import queries
from cloud.api.channel_support import NO_NUL, Geo, actor_of, brand_only, channel_errors
from cloud.api.channel_support import record_from_body as _record
from cloud.api.deps import ScopedConn, TenantPrincipal, tenant_principal
from cloud.api.schemas import Site
from cloud.channel.records import Kind
from cloud.channel.store import SaveMode, save_record

__all__ = ["SiteIn", "router"]

router = APIRouter(
    prefix="/v1/tenants/{tenant}/sites", tags=["sites"], dependencies=[Depends(tenant_principal)]
)
SiteId = Annotated[str, Path(max_length=64, pattern=NO_NUL)]
_Text = Annotated[str, Field(max_length=500, pattern=NO_NUL)]


class SiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: _Text | None = Field(default=None, description="required by POST; PUT takes the path's")
    name: _Text
    address: _Text | None = None
    latitude: float | None = Field(default=None, description="WGS-84 degrees north")
    longitude: float | None = Field(default=None, description="WGS-84 degrees east")
    region: _Text | None = Field(
        default=None,
        description="GB/T 2260 province or city code; derived from the coordinates when "
        "omitted, refused when they disagree",
    )
    distributor_id: _Text | None = Field(
        default=None, description="the distributor operating the site; none: the brand's own"
    )


@router.get("", summary="List the tenant's sites")
def list_sites(tenant: str, conn: ScopedConn) -> list[Site]:
    return queries.list_sites(conn, tenant)


@router.get("/{site}", summary="One site", responses={404: {"description": "Unknown site"}})
def get_site(tenant: str, site: str, conn: ScopedConn) -> Site:
    return queries.get_site(conn, tenant, site)


@router.post(
    "",
    status_code=201,
    summary="Create a site",
    responses={403: {}, 409: {"description": "The id exists"}, 422: {}},
)
def create_site(
    tenant: str, body: SiteIn, conn: ScopedConn, principal: TenantPrincipal, geocoder: Geo
) -> Site:
    brand_only(principal)
    record = _record(Kind.SITE, body, geocoder)
    with channel_errors():
        change = save_record(conn, tenant, record, actor_of(principal), mode=SaveMode.CREATE)
    return queries.get_site(conn, tenant, change.key)


@router.put(
    "/{site}",
    summary="Create or replace a site (idempotent)",
    responses={201: {"description": "Created"}, 403: {}, 422: {}},
)
def put_site(
    tenant: str,
    site: SiteId,
    body: SiteIn,
    conn: ScopedConn,
    principal: TenantPrincipal,
    geocoder: Geo,
    response: Response,
) -> Site:
    brand_only(principal)
    record = _record(Kind.SITE, body, geocoder, id=site)
    with channel_errors():
        change = save_record(conn, tenant, record, actor_of(principal))
    if change.action == "create":
        response.status_code = 201
    return queries.get_site(conn, tenant, site)
