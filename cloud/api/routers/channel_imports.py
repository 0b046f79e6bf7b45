"""``/v1/tenants/{tenant}/channel/imports``: bulk import of channel master data from a CSV
or XLSX file (docs/channel-setup.md).

``POST`` takes the file as the request body (``Content-Type: text/csv`` or the XLSX media
type; any other type is read by its content), keeps it, checks every row and either applies
all of them or none: the answer lists every problem with sheet, row, column, what was
expected and what was got. ``?dry_run=true`` only checks (nothing is written) and the kept
file can be applied later with ``POST .../{id}/apply``. Importing the same file again
changes and logs nothing. Brand only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from cloud.api.channel_support import NO_NUL, Geo, actor_of, brand_only, channel_errors
from cloud.api.deps import ScopedConn, TenantPrincipal, tenant_principal
from cloud.api.errors import NotFound
from cloud.channel.importer import apply_stored, import_file, list_imports, load_import
from cloud.channel.records import Kind
from cloud.channel.sheets import XLSX_MEDIA_TYPE

__all__ = ["ImportOut", "ImportReportOut", "RowProblemOut", "router"]

router = APIRouter(
    prefix="/v1/tenants/{tenant}/channel/imports",
    tags=["channel"],
    dependencies=[Depends(tenant_principal)],
)
ImportId = Annotated[int, Path(ge=1, le=2**63 - 1)]
_BODY = {
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
    },
}


class RowProblemOut(BaseModel):
    sheet: str
    row: int = Field(description="as the spreadsheet numbers it: the header is row 1")
    column: str
    expected: str
    got: str


class ImportReportOut(BaseModel):
    import_id: int | None
    dry_run: bool
    applied: bool = Field(description="false: nothing was written")
    rows: int
    problem_count: int
    problems: list[RowProblemOut] = Field(description="the first 1,000")
    created: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]


class ImportOut(BaseModel):
    id: int
    filename: str
    media_type: str
    kind: str | None
    size: int
    created_by: str
    created_at: datetime
    applied_by: str | None
    applied_at: datetime | None
    report: dict[str, Any]


@router.post(
    "",
    summary="Import distributors, sites, products and mappings from CSV or XLSX",
    openapi_extra={"requestBody": _BODY},
    responses={
        200: {"description": "Checked (and applied unless dry_run): see applied and problems"},
        403: {},
        413: {"description": "A file over CT_API_MAX_IMPORT_BYTES"},
        422: {"description": "Not a readable CSV or XLSX file"},
    },
)
def import_channel(
    tenant: str,
    content: Annotated[bytes, Body(media_type="text/csv", include_in_schema=False)],
    request: Request,
    conn: ScopedConn,
    principal: TenantPrincipal,
    geocoder: Geo,
    dry_run: bool = False,
    kind: Annotated[
        Kind | None, Query(description="what every row is; default: from the file")
    ] = None,
    filename: Annotated[str, Query(max_length=255, pattern=NO_NUL)] = "upload",
) -> ImportReportOut:
    brand_only(principal)
    media_type = request.headers.get("content-type", "application/octet-stream")
    with channel_errors():
        report = import_file(
            conn, tenant, filename, media_type, content, actor_of(principal), geocoder,
            dry_run=dry_run, kind=kind,
        )  # fmt: skip
    return ImportReportOut.model_validate(report.as_dict())


@router.get("", summary="Files imported or checked, newest first")
def list_channel_imports(
    tenant: str,
    conn: ScopedConn,
    principal: TenantPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ImportOut]:
    brand_only(principal)
    return [ImportOut.model_validate(i, from_attributes=True) for i in
            list_imports(conn, tenant, limit=limit)]  # fmt: skip


@router.get("/{import_id}", summary="One import and its report", responses={404: {}})
def get_channel_import(
    tenant: str, import_id: ImportId, conn: ScopedConn, principal: TenantPrincipal
) -> ImportOut:
    brand_only(principal)
    found = load_import(conn, tenant, import_id)
    if found is None:
        raise NotFound(f"no import {import_id} in {tenant}")
    return ImportOut.model_validate(found, from_attributes=True)


@router.post(
    "/{import_id}/apply",
    summary="Apply a checked file (checked again against the data as it is now)",
    responses={404: {}, 409: {"description": "Applied already"}},
)
def apply_channel_import(
    tenant: str, import_id: ImportId, conn: ScopedConn, principal: TenantPrincipal, geocoder: Geo
) -> ImportReportOut:
    brand_only(principal)
    with channel_errors():
        report = apply_stored(conn, tenant, import_id, actor_of(principal), geocoder)
    return ImportReportOut.model_validate(report.as_dict())
