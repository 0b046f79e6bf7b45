"""``/v1/tenants/{tenant}/devices``: gateways, their online state and completeness."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cloud.api import queries
from cloud.api.deps import ScopedConn, SettingsDep, tenant_principal
from cloud.api.schemas import Completeness, Device

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/tenants/{tenant}/devices",
    tags=["devices"],
    dependencies=[Depends(tenant_principal)],
)


@router.get("", summary="List devices with their online state")
def list_devices(
    tenant: str,
    conn: ScopedConn,
    settings: SettingsDep,
    site: Annotated[str | None, Query(description="Only devices of this site.")] = None,
) -> list[Device]:
    stale = timedelta(seconds=settings.device_stale_after_seconds)
    return queries.list_devices(conn, tenant, site=site, stale_after=stale)


@router.get("/{device}", summary="One device", responses={404: {"description": "Unknown device"}})
def get_device(tenant: str, device: str, conn: ScopedConn, settings: SettingsDep) -> Device:
    stale = timedelta(seconds=settings.device_stale_after_seconds)
    return queries.get_device(conn, tenant, device, stale_after=stale)


@router.get(
    "/{device}/completeness",
    summary="Sequence gaps of a device's messages received in a time range",
    responses={404: {"description": "Unknown device"}, 422: {"description": "Bad range"}},
)
def get_completeness(
    tenant: str,
    device: str,
    conn: ScopedConn,
    start: Annotated[datetime, Query(description="Inclusive, by receive time, with timezone.")],
    end: Annotated[datetime, Query(description="Exclusive; at most 31 days after start.")],
) -> Completeness:
    return queries.completeness(conn, tenant, device, start, end)
