"""EPCIS 2.0 capture, query and export; the brand owner's audit API.

| route | answer |
|---|---|
| ``POST /epcis/capture`` | 202: event ids, ledger indexes (200: all known); 400: invalid EPCIS
  (problem+json with ``errors``); 403: an EPC or location not the caller's; 409: a reused
  eventID; 413: too many events |
| ``GET /epcis/events?epc=`` | events about an EPC (any form), with ledger indexes and proof links |
| ``GET /epcis/export`` | an EPCISDocument (valid EPCIS 2.0) |
| ``GET /audit/timeline?epc=`` | custody timeline of a unit, case or pallet, and its custody now |
| ``GET /audit/exposure?epc=`` | cold-chain exposure of a unit against its product's profile |
| ``GET /audit/scans?tenant=`` | scan map: points with verdicts, and clone/diversion clusters |
| ``GET /audit/reconciliation`` | ledger-implied vs sensed stock discrepancies, size and age |
| ``GET/PUT /audit/brands/{tenant}/thresholds`` | the brand's verdict thresholds |

Every route needs a principal (docs/security.md). Reads run as ``ct_app`` under row-level
security (a distributor sees the units that are or were at its sites and the events at its
sites); a ``tenant`` parameter other than the caller's is a 404. Capture runs as the owner
(it appends to the shared ledger) with the caller's tenant, under the ownership rule
(:mod:`cloud.provenance.ownership`): a brand captures only EPCs under its company prefixes,
a distributor only units shipped to it or at its sites and only events located at its
sites; anything else is a 403 naming the first offending EPC or location, and nothing is
stored.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from cloud.api.deps import Conn, CurrentPrincipal, ScopedConn
from cloud.api.errors import (
    BadRequest,
    CaptureForbidden,
    CaptureLimitExceeded,
    EventConflict,
    Forbidden,
    InvalidEpcis,
    NotFound,
)
from cloud.auth.principal import Principal, Role
from cloud.provenance.audit import (
    bundle_url,
    custody_timeline,
    export_events,
    scan_clusters,
    scan_points,
)
from cloud.provenance.brands import ThresholdSettings, brand_thresholds, set_thresholds
from cloud.provenance.capture import Capturer, capture_document
from cloud.provenance.errors import (
    EpcisValidationError,
    EventConflictError,
    OwnershipError,
    VerdictInputError,
)
from cloud.provenance.exposure import intervals_of, storage_profile, unit_exposure
from cloud.provenance.reconciliation import reconcile
from cloud.provenance.scanlog import jsonable
from cloud.provenance.store import ancestors_of, events_for_epcs, unit_row
from wire.epc import canonical_epc
from wire.errors import IdentifierError

__all__ = ["router"]

_logger = logging.getLogger(__name__)

router = APIRouter(tags=["provenance"])

MAX_CAPTURE_EVENTS = 10_000
MAX_LISTED_ERRORS = 100  # a hostile document must not get a response larger than itself
_EPCIS_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}
Epc = Annotated[str, Query(min_length=1, max_length=512, description="EPC: URN or Digital Link")]


def _own_tenant(principal: Principal, tenant: str | None) -> str:
    """The caller's tenant; a different one asked for is reported as unknown (404)."""
    assert principal.tenant_id is not None  # authenticated principals always have one
    if tenant is not None and tenant != principal.tenant_id:
        raise NotFound(f"no tenant {tenant!r}")
    return principal.tenant_id


def _capturer(principal: Principal, tenant: str) -> Capturer:
    if principal.role is Role.BRAND:
        return Capturer(tenant)
    if principal.role is Role.DISTRIBUTOR and principal.distributor_id is not None:
        return Capturer(tenant, principal.distributor_id)
    raise Forbidden(f"a {principal.role} principal cannot capture EPCIS events")


def _epc(value: str) -> str:
    try:
        return canonical_epc(value)
    except IdentifierError as exc:
        raise BadRequest(f"not a valid EPC: {exc}") from None


@router.post(
    "/epcis/capture",
    summary="Capture an EPCIS 2.0 document",
    status_code=202,
    responses={
        400: {"description": "Not valid EPCIS 2.0: `errors` lists each violation"},
        403: {
            "description": "An EPC the caller does not own (another brand's prefix, a unit "
            "not shipped to this distributor) or a location not of its sites: `epc` or "
            "`location` names the first one; nothing is stored"
        },
        409: {"description": "An eventID already captured with other content"},
        413: {"description": "More than 10,000 events, or a body over the limit"},
    },
)
def capture(
    conn: Conn,
    principal: CurrentPrincipal,
    document: Annotated[dict[str, Any], Body(description="An EPCISDocument (JSON-LD)")],
    tenant: Annotated[str | None, Query(max_length=64)] = None,
) -> JSONResponse:
    events = document.get("epcisBody", {})
    count = len(events.get("eventList", [])) if isinstance(events, dict) else 0
    if count > MAX_CAPTURE_EVENTS:
        raise CaptureLimitExceeded(
            f"at most {MAX_CAPTURE_EVENTS} events per capture; got {count}",
            headers={**_EPCIS_HEADERS, "GS1-EPCIS-Capture-Limit": str(MAX_CAPTURE_EVENTS)},
        )
    capturer = _capturer(principal, _own_tenant(principal, tenant))
    try:
        result = capture_document(conn, document, capturer=capturer)
    except OwnershipError as exc:
        raise CaptureForbidden(
            str(exc), headers=_EPCIS_HEADERS, extensions={exc.kind: exc.identifier}
        ) from None
    except EpcisValidationError as exc:
        errors = [{"pointer": p, "detail": m} for p, m in exc.errors[:MAX_LISTED_ERRORS]]
        raise InvalidEpcis(
            str(exc), headers=_EPCIS_HEADERS, extensions={"errors": errors}
        ) from None
    except EventConflictError as exc:
        raise EventConflict(
            str(exc), headers=_EPCIS_HEADERS, extensions={"event_ids": list(exc.event_ids)}
        ) from None
    body = {
        "captured": len(result.events),
        "new": result.new,
        "events": [
            {
                "event_id": e.event_id,
                "ledger_index": e.ledger_index,
                "duplicate": e.duplicate,
                "proof_url": bundle_url(e.ledger_index),
            }
            for e in result.events
        ],
    }
    return JSONResponse(body, status_code=202 if result.new else 200, headers=_EPCIS_HEADERS)


@router.get("/epcis/events", summary="Events about an EPC")
def events_by_epc(
    conn: ScopedConn,
    principal: CurrentPrincipal,
    epc: Epc,
    containers: Annotated[
        bool, Query(description="Also events about containers it was ever packed in")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
) -> dict[str, Any]:
    key = _epc(epc)
    tenant = _own_tenant(principal, None)
    epcs = ancestors_of(conn, tenant, {key}) if containers else {key}
    stored = events_for_epcs(conn, tenant, epcs, limit=limit)
    return {
        "epc": key,
        "events": [
            {
                "ledger_index": s.ledger_idx,
                "event_id": s.event.event_id,
                "event_time": s.event.event_time.isoformat(),
                "proof_url": bundle_url(s.ledger_idx),
                "event": s.event.document,
            }
            for s in stored
        ],
    }


@router.get("/epcis/export", summary="Export events as an EPCISDocument")
def export(
    conn: ScopedConn,
    principal: CurrentPrincipal,
    epc: Annotated[str | None, Query(max_length=512)] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1_000,
) -> JSONResponse:
    document = export_events(
        conn,
        epc=None if epc is None else _epc(epc),
        tenant=_own_tenant(principal, tenant),
        since=since,
        until=until,
        limit=limit,
    )
    return JSONResponse(document, media_type="application/ld+json", headers=_EPCIS_HEADERS)


@router.get("/audit/timeline", summary="Custody timeline of an EPC")
def timeline(conn: ScopedConn, principal: CurrentPrincipal, epc: Epc) -> dict[str, Any]:
    key = _epc(epc)
    tenant = _own_tenant(principal, None)
    row = unit_row(conn, tenant, key)
    if row is None:
        raise NotFound(f"no custody events for {key}")
    return {
        "epc": key,
        "custody": jsonable({k: v for k, v in row.items() if k != "updated_at"}),
        "timeline": [
            {**jsonable(e), "proof_url": e.proof_url}
            for e in custody_timeline(conn, tenant, key)
        ],
    }


@router.get("/audit/exposure", summary="Cold-chain exposure of a unit")
def exposure(conn: ScopedConn, principal: CurrentPrincipal, epc: Epc) -> dict[str, Any]:
    key = _epc(epc)
    tenant = _own_tenant(principal, None)
    row = unit_row(conn, tenant, key)
    if row is None:
        raise NotFound(f"no custody events for {key}")
    profile = storage_profile(conn, row["tenant_id"], row["gtin"])
    if profile is None:
        raise NotFound(f"no storage profile for product {row['gtin']} of {row['tenant_id']}")
    intervals = intervals_of(row["intervals"])
    result = unit_exposure(conn, tenant, intervals, profile, until=datetime.now(UTC))
    return {
        "epc": key,
        "profile": jsonable(profile),
        "exposure": None
        if result is None
        else {
            **jsonable(result),
            "coverage": result.coverage,
            "minutes_outside": result.minutes_outside,
        },
    }


@router.get("/audit/scans", summary="Scan map: points with verdicts, suspicious clusters")
def scans(
    conn: ScopedConn,
    principal: CurrentPrincipal,
    tenant: Annotated[str, Query(max_length=64)],
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 5_000,
) -> dict[str, Any]:
    tenant = _own_tenant(principal, tenant)
    until = until or datetime.now(UTC)
    since = since or until - timedelta(days=30)
    if since >= until:
        raise BadRequest("since must be before until")
    points = [
        {"time": p.pop("scanned_at").isoformat(), **p}
        for p in scan_points(conn, tenant, since, until, limit)
    ]
    clusters = [jsonable(c) for c in scan_clusters(conn, tenant, since, until)]
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "points": points,
        "clusters": clusters,
    }


@router.get("/audit/reconciliation", summary="Ledger-implied vs sensed stock")
def reconciliation(
    conn: ScopedConn,
    principal: CurrentPrincipal,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    return [
        {**jsonable(d), "difference": d.difference}
        for d in reconcile(conn, tenant=_own_tenant(principal, tenant), site=site)
    ]


@router.get("/audit/brands/{tenant}/thresholds", summary="A brand's verdict thresholds")
def get_thresholds(conn: ScopedConn, principal: CurrentPrincipal, tenant: str) -> dict[str, Any]:
    _own_tenant(principal, tenant)
    limits: dict[str, Any] = jsonable(brand_thresholds(conn, tenant))
    return limits


@router.put(
    "/audit/brands/{tenant}/thresholds",
    summary="Set a brand's verdict thresholds",
    responses={403: {"description": "Not a brand principal"}},
)
def put_thresholds(
    conn: ScopedConn, principal: CurrentPrincipal, tenant: str, body: ThresholdSettings
) -> dict[str, Any]:
    _own_tenant(principal, tenant)
    if principal.role is not Role.BRAND:
        raise Forbidden("only the brand sets its verdict thresholds")
    exists = conn.execute("SELECT 1 FROM tenants WHERE id = %s", (tenant,)).fetchone()
    if exists is None:
        raise NotFound(f"no tenant {tenant!r}")
    try:
        limits = set_thresholds(conn, tenant, body.model_dump(exclude_defaults=True))
    except VerdictInputError as exc:
        raise BadRequest(str(exc)) from None
    stored: dict[str, Any] = jsonable(limits)
    return stored
