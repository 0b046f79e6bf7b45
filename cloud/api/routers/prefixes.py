"""``/v1/tenants/{tenant}/prefixes``: the GS1 company prefixes a brand owns.

A brand captures events only about EPCs under these prefixes, issues codes only for GTINs
under them, and only its keys verify codes of them (docs/provenance.md "Ownership"). Only
the brand manages them (a distributor gets 403); no two tenants' prefixes overlap (409);
a prefix with issued codes or units under it cannot be removed (409). Every query runs as
``ct_app`` under row-level security; the overlap check sees every tenant's prefixes in the
database (a trigger), and tells nothing about whose they are.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from cloud.api.deps import ScopedConn, TenantPrincipal, tenant_principal
from cloud.api.errors import BadRequest, Conflict, Forbidden, NotFound
from cloud.auth.principal import Principal, Role
from cloud.channel.changes import Actor
from cloud.provenance.errors import PrefixConflictError, PrefixInUseError, PrefixNotFoundError
from cloud.provenance.prefixes import CompanyPrefix, add_prefix, list_prefixes, remove_prefix
from wire.errors import IdentifierError

__all__ = ["Prefix", "PrefixCreate", "router"]

_logger = logging.getLogger(__name__)

_PATTERN = r"^[0-9]{6,12}$"
PrefixPath = Annotated[str, Path(pattern=_PATTERN, description="A GS1 company prefix")]

router = APIRouter(
    prefix="/v1/tenants/{tenant}/prefixes",
    tags=["prefixes"],
    dependencies=[Depends(tenant_principal)],
)


class PrefixCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(
        pattern=_PATTERN,
        examples=["9506000"],
        description="6 to 12 digits, as GS1 assigned it (a U.P.C. prefix with its leading 0)",
    )


class Prefix(BaseModel):
    prefix: str
    tenant_id: str
    created_at: datetime
    created_by: str


def _brand(principal: Principal) -> Principal:
    if principal.role is not Role.BRAND:
        raise Forbidden("only the brand manages its GS1 company prefixes")
    return principal


def _out(p: CompanyPrefix) -> Prefix:
    return Prefix(
        prefix=p.prefix, tenant_id=p.tenant_id, created_at=p.created_at, created_by=p.created_by
    )


@router.get(
    "",
    summary="The brand's GS1 company prefixes",
    responses={403: {"description": "Not a brand principal"}},
)
def list_tenant_prefixes(tenant: str, conn: ScopedConn, principal: TenantPrincipal) -> list[Prefix]:
    _brand(principal)
    return [_out(p) for p in list_prefixes(conn, tenant)]


@router.post(
    "",
    summary="Register a GS1 company prefix",
    status_code=201,
    response_model=Prefix,
    responses={
        200: {"description": "Already registered to this brand", "model": Prefix},
        403: {"description": "Not a brand principal"},
        409: {"description": "Overlaps a prefix already registered (by this or another tenant)"},
        422: {"description": "Not a GS1 company prefix (6-12 digits, not a restricted range)"},
    },
)
def create_prefix(
    tenant: str, body: PrefixCreate, conn: ScopedConn, principal: TenantPrincipal
) -> JSONResponse:
    _brand(principal)
    try:
        prefix, created = add_prefix(
            conn, tenant, body.prefix, actor=Actor(principal.subject, "api")
        )
    except IdentifierError as exc:
        raise BadRequest(str(exc)) from None
    except PrefixConflictError as exc:
        raise Conflict(str(exc)) from None
    return JSONResponse(_out(prefix).model_dump(mode="json"), status_code=201 if created else 200)


@router.delete(
    "/{prefix}",
    summary="Remove a GS1 company prefix",
    status_code=204,
    responses={
        403: {"description": "Not a brand principal"},
        404: {"description": "Not a prefix of this brand"},
        409: {"description": "Issued codes or units with custody are under it"},
    },
)
def delete_prefix(
    tenant: str, prefix: PrefixPath, conn: ScopedConn, principal: TenantPrincipal
) -> Response:
    _brand(principal)
    try:
        remove_prefix(conn, tenant, prefix, actor=Actor(principal.subject, "api"))
    except PrefixNotFoundError as exc:
        raise NotFound(str(exc)) from None
    except PrefixInUseError as exc:
        raise Conflict(str(exc)) from None
    return Response(status_code=204)
