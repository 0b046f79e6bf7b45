"""``/v1/tenants/{tenant}/channel/changes``: every change of the brand's channel master data
— who, when, through what (api, console, cli, import, operator), and the record before and
after — newest first. Brand only (the log is append-only, in the database too)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from cloud.api.channel_support import NO_NUL, brand_only
from cloud.api.deps import ScopedConn, TenantPrincipal, tenant_principal
from cloud.channel.changes import list_changes

__all__ = ["ChangeOut", "router"]

router = APIRouter(
    prefix="/v1/tenants/{tenant}/channel/changes",
    tags=["channel"],
    dependencies=[Depends(tenant_principal)],
)
Entity = Literal["tenant", "distributor", "site", "product", "location", "party", "prefix",
                 "user"]  # fmt: skip


class ChangeOut(BaseModel):
    id: int
    at: datetime
    actor: str
    via: str
    entity: str
    key: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    import_id: int | None


@router.get("", summary="Changes of channel master data, newest first")
def channel_changes(
    tenant: str,
    conn: ScopedConn,
    principal: TenantPrincipal,
    entity: Entity | None = None,
    key: Annotated[str | None, Query(max_length=512, pattern=NO_NUL)] = None,
    import_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="page: ids below")] = None,
) -> list[ChangeOut]:
    brand_only(principal)
    entries = list_changes(conn, tenant, entity=entity, key=key, import_id=import_id,
                           limit=limit, before_id=before)  # fmt: skip
    return [ChangeOut.model_validate(e, from_attributes=True) for e in entries]
