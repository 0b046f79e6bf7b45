"""``/v1/tenants/{tenant}/epcis/locations`` and ``/epcis/parties``: which EPCIS locations
(SGLN URNs or Digital Links with /414/) are which of the tenant's sites, and which parties
(PGLN URNs or /417/ links) are which of its distributors. Custody meets readings through
the first (cold chain, stock), authorised regions through the second (diversion).

Keys are written in URLs as query parameters (``?location=``): SGLNs and Digital Links
carry ``:`` and ``/``. ``POST`` creates or replaces a mapping (idempotent), ``DELETE``
removes one; both are the brand's and logged. Under row-level security a distributor reads
the mappings of its own sites and itself."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
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
from cloud.channel.records import Kind
from cloud.channel.store import delete_mapping, get_record, list_records, save_record

__all__ = ["LocationIn", "MappingOut", "PartyIn", "router"]

router = APIRouter(
    prefix="/v1/tenants/{tenant}/epcis",
    tags=["channel"],
    dependencies=[Depends(tenant_principal)],
)
_Key = Annotated[str, Field(min_length=1, max_length=512, pattern=NO_NUL)]
KeyQuery = Annotated[str, Query(min_length=1, max_length=512, pattern=NO_NUL)]


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    location: _Key = Field(examples=["urn:epc:id:sgln:9506000.00020.0"])
    site_id: Annotated[str, Field(max_length=64, pattern=NO_NUL)]


class PartyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    party: _Key = Field(examples=["urn:epc:id:pgln:9506000.00001"])
    distributor_id: Annotated[str, Field(max_length=64, pattern=NO_NUL)]


class MappingOut(BaseModel):
    key: str = Field(description="the location or party")
    target: str = Field(description="the site or distributor id")
    created_at: datetime
    updated_at: datetime


def _out(kind: Kind, row: dict[str, Any]) -> MappingOut:
    key, target = (
        (row["location"], row["site_id"]) if kind is Kind.LOCATION
        else (row["party"], row["distributor_id"])
    )  # fmt: skip
    return MappingOut(
        key=key, target=target, created_at=row["created_at"], updated_at=row["updated_at"]
    )


def _put(
    kind: Kind, tenant: str, body: BaseModel, conn: Any, principal: Any, geocoder: Any,
    response: Response,
) -> MappingOut:  # fmt: skip
    brand_only(principal)
    record = record_from_body(kind, body, geocoder)
    with channel_errors():
        change = save_record(conn, tenant, record, actor_of(principal))
    response.status_code = 201 if change.action == "create" else 200
    row = get_record(conn, tenant, kind, change.key)
    assert row is not None
    return _out(kind, row)


def _delete(kind: Kind, tenant: str, key: str, conn: Any, principal: Any) -> None:
    brand_only(principal)
    with channel_errors():
        delete_mapping(conn, tenant, kind, key, actor_of(principal))


@router.get("/locations", summary="EPCIS locations mapped to sites")
def list_locations(tenant: str, conn: ScopedConn) -> list[MappingOut]:
    return [_out(Kind.LOCATION, r) for r in list_records(conn, tenant, Kind.LOCATION)]


@router.post(
    "/locations",
    summary="Map an EPCIS location to a site (create or replace)",
    responses={201: {"description": "Created"}, 403: {}, 422: {}},
)
def put_location(
    tenant: str, body: LocationIn, conn: ScopedConn, principal: TenantPrincipal, geocoder: Geo,
    response: Response,
) -> MappingOut:  # fmt: skip
    return _put(Kind.LOCATION, tenant, body, conn, principal, geocoder, response)


@router.delete(
    "/locations", status_code=204, summary="Remove a location mapping", responses={404: {}}
)
def delete_location(
    tenant: str, location: KeyQuery, conn: ScopedConn, principal: TenantPrincipal
) -> None:
    _delete(Kind.LOCATION, tenant, location, conn, principal)


@router.get("/parties", summary="EPCIS parties mapped to distributors")
def list_parties(tenant: str, conn: ScopedConn) -> list[MappingOut]:
    return [_out(Kind.PARTY, r) for r in list_records(conn, tenant, Kind.PARTY)]


@router.post(
    "/parties",
    summary="Map an EPCIS party to a distributor (create or replace)",
    responses={201: {"description": "Created"}, 403: {}, 422: {}},
)
def put_party(
    tenant: str, body: PartyIn, conn: ScopedConn, principal: TenantPrincipal, geocoder: Geo,
    response: Response,
) -> MappingOut:  # fmt: skip
    return _put(Kind.PARTY, tenant, body, conn, principal, geocoder, response)


@router.delete("/parties", status_code=204, summary="Remove a party mapping", responses={404: {}})
def delete_party(
    tenant: str, party: KeyQuery, conn: ScopedConn, principal: TenantPrincipal
) -> None:
    _delete(Kind.PARTY, tenant, party, conn, principal)
