"""``/v1/tenants/{tenant}/alerts`` and ``/webhooks``: the alert inbox, its workflow, and
webhook subscriptions (docs/alerts.md). Row-level security scopes every query: a
distributor sees and acts on its sites' alerts only, and manages its own subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from pydantic import BaseModel, Field

from cloud.alerts import (
    AlertKind,
    AlertNotFound,
    AlertState,
    AlertStateError,
    Severity,
    WebhookError,
    acknowledge,
    create_subscription,
    delete_subscription,
    get_alert,
    list_alerts,
    list_deliveries,
    list_subscriptions,
    resolve,
)
from cloud.api.deps import ScopedConn, TenantPrincipal, tenant_principal
from cloud.api.errors import BadRequest, Forbidden, NotFound
from cloud.auth.principal import Principal, Role

__all__ = [
    "Alert",
    "Delivery",
    "DeliveryAttempt",
    "Webhook",
    "WebhookCreate",
    "WebhookCreated",
    "router",
]

_MAX_ID = 2**63 - 1
AlertId = Annotated[int, Path(ge=1, le=_MAX_ID)]
WebhookId = Annotated[int, Path(ge=1, le=_MAX_ID)]
_NO_NUL = r"^[^\x00]*$"

router = APIRouter(
    prefix="/v1/tenants/{tenant}", tags=["alerts"], dependencies=[Depends(tenant_principal)]
)


class Alert(BaseModel):
    id: int
    tenant_id: str
    site_id: str | None
    kind: AlertKind
    dedupe_key: str
    severity: Severity
    state: AlertState
    summary: str
    details: dict[str, Any]
    evidence: list[Any]
    condition_since: datetime
    last_seen_at: datetime
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None


class WebhookCreate(BaseModel):
    url: str = Field(
        max_length=2048, pattern=_NO_NUL, examples=["https://hooks.example.com/channeltrace"]
    )
    kinds: list[AlertKind] = Field(default_factory=list, description="empty: every kind")
    min_severity: Severity = Severity.INFO
    distributor_id: str | None = Field(
        default=None,
        max_length=200,
        pattern=_NO_NUL,
        description="only that distributor's sites (forced for a distributor)",
    )


class Webhook(BaseModel):
    id: int
    tenant_id: str
    distributor_id: str | None
    url: str
    kinds: list[str]
    min_severity: Severity
    active: bool
    created_at: datetime
    created_by: str | None


class WebhookCreated(Webhook):
    secret: str = Field(description="HMAC-SHA256 signing secret; shown only once")


class DeliveryAttempt(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class Delivery(BaseModel):
    id: int
    alert_id: int
    event: str
    idempotency_key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[DeliveryAttempt]


def _staff(principal: Principal) -> Principal:
    if principal.role not in (Role.BRAND, Role.DISTRIBUTOR):
        raise Forbidden(f"a {principal.role} principal cannot use alerts")
    return principal


def _alert(row: dict[str, Any]) -> Alert:
    return Alert.model_validate(row)


@router.get("/alerts", summary="The alert inbox, newest first")
def list_tenant_alerts(
    tenant: str,
    conn: ScopedConn,
    principal: TenantPrincipal,
    state: Annotated[list[AlertState] | None, Query()] = None,
    kind: AlertKind | None = None,
    site: Annotated[str | None, Query(max_length=200, pattern=_NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[
        int | None, Query(ge=1, le=_MAX_ID, description="page: ids below this")
    ] = None,
) -> list[Alert]:
    _staff(principal)
    rows = list_alerts(
        conn, tenant, states=state or (), kind=kind, site_id=site, limit=limit, before_id=before
    )
    return [_alert(r) for r in rows]


@router.get("/alerts/{alert_id}", summary="One alert", responses={404: {}})
def get_tenant_alert(
    tenant: str, alert_id: AlertId, conn: ScopedConn, principal: TenantPrincipal
) -> Alert:
    _staff(principal)
    try:
        return _alert(get_alert(conn, tenant, alert_id))
    except AlertNotFound as exc:
        raise NotFound(str(exc)) from None


def _transition(action: Any, tenant: str, alert_id: int, conn: Any, principal: Principal) -> Alert:
    _staff(principal)
    try:
        return _alert(action(conn, tenant, alert_id, by=principal.subject))
    except AlertNotFound as exc:
        raise NotFound(str(exc)) from None
    except AlertStateError as exc:
        raise HTTPException(409, str(exc)) from None


@router.post(
    "/alerts/{alert_id}/acknowledge",
    summary="Acknowledge an open alert (records who and when)",
    responses={404: {}, 409: {"description": "Not open"}},
)
def acknowledge_alert(
    tenant: str, alert_id: AlertId, conn: ScopedConn, principal: TenantPrincipal
) -> Alert:
    return _transition(acknowledge, tenant, alert_id, conn, principal)


@router.post(
    "/alerts/{alert_id}/resolve",
    summary="Resolve an open or acknowledged alert (records who and when)",
    responses={404: {}, 409: {"description": "Already resolved"}},
)
def resolve_alert(
    tenant: str, alert_id: AlertId, conn: ScopedConn, principal: TenantPrincipal
) -> Alert:
    return _transition(resolve, tenant, alert_id, conn, principal)


@router.get("/webhooks", summary="Active webhook subscriptions (without secrets)")
def list_webhooks(tenant: str, conn: ScopedConn, principal: TenantPrincipal) -> list[Webhook]:
    _staff(principal)
    return [Webhook.model_validate(r) for r in list_subscriptions(conn, tenant)]


@router.post("/webhooks", status_code=201, summary="Subscribe a URL to alert events")
def create_webhook(
    tenant: str, body: WebhookCreate, conn: ScopedConn, principal: TenantPrincipal
) -> WebhookCreated:
    _staff(principal)
    distributor = body.distributor_id
    if principal.role is Role.DISTRIBUTOR:
        if distributor not in (None, principal.distributor_id):
            raise Forbidden("a distributor subscribes to its own sites only")
        distributor = principal.distributor_id
    try:
        row = create_subscription(
            conn,
            tenant,
            body.url,
            kinds=body.kinds,
            min_severity=body.min_severity,
            distributor_id=distributor,
            created_by=principal.subject,
        )
    except WebhookError as exc:
        raise BadRequest(str(exc)) from None
    return WebhookCreated.model_validate(row)


@router.delete(
    "/webhooks/{webhook_id}", status_code=204, summary="Unsubscribe", responses={404: {}}
)
def delete_webhook(
    tenant: str, webhook_id: WebhookId, conn: ScopedConn, principal: TenantPrincipal
) -> None:
    _staff(principal)
    try:
        delete_subscription(conn, tenant, webhook_id)
    except AlertNotFound as exc:
        raise NotFound(str(exc)) from None


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    summary="A subscription's latest notifications with every attempt",
    responses={404: {}},
)
def webhook_deliveries(
    tenant: str,
    webhook_id: WebhookId,
    conn: ScopedConn,
    principal: TenantPrincipal,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[Delivery]:
    _staff(principal)
    try:
        rows = list_deliveries(conn, tenant, webhook_id, limit=limit)
    except AlertNotFound as exc:
        raise NotFound(str(exc)) from None
    return [Delivery.model_validate(r) for r in rows]
