"""Webhook subscriptions of a tenant (or of one distributor's sites): create, list, delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from cloud.alerts.errors import AlertNotFound, WebhookError
from cloud.alerts.model import AlertKind, Severity
from cloud.alerts.signing import new_secret

__all__ = [
    "create_subscription",
    "delete_subscription",
    "list_deliveries",
    "list_subscriptions",
    "validate_url",
]

Conn = psycopg.Connection[Any]
_COLUMNS = "id, tenant_id, distributor_id, url, kinds, min_severity, active, created_at, created_by"


def validate_url(url: str) -> str:
    """An absolute http(s) URL with a host, else :class:`WebhookError`."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise WebhookError(f"invalid webhook URL {url!r}: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise WebhookError(f"expected an http(s) URL with a host, got {url!r}")
    return str(parsed)


def create_subscription(
    conn: Conn,
    tenant_id: str,
    url: str,
    *,
    kinds: Sequence[AlertKind] = (),
    min_severity: Severity = Severity.INFO,
    distributor_id: str | None = None,
    created_by: str | None = None,
    secret: str | None = None,
) -> dict[str, Any]:
    """A new active subscription; the returned row includes the signing ``secret`` (shown
    once: listing never returns it)."""
    secret = secret or new_secret()
    if len(secret) < 16:
        raise WebhookError("a webhook secret needs at least 16 characters")
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "INSERT INTO webhook_subscriptions (tenant_id, distributor_id, url, secret, kinds,"  # noqa: S608 (constant columns)
            " min_severity, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            f" RETURNING {_COLUMNS}",
            (
                tenant_id, distributor_id, validate_url(url), secret,
                [k.value for k in kinds], min_severity.value, created_by,
            ),
        ).fetchone()  # fmt: skip
    assert row is not None
    return {**row, "secret": secret}


def list_subscriptions(conn: Conn, tenant_id: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM webhook_subscriptions WHERE tenant_id = %s AND active"  # noqa: S608 (constant columns)
            " ORDER BY id",
            (tenant_id,),
        ).fetchall()


def delete_subscription(conn: Conn, tenant_id: str, subscription_id: int) -> None:
    """Deactivate it (its delivery history stays); pending notifications to it fail."""
    done = conn.execute(
        "UPDATE webhook_subscriptions SET active = false"
        " WHERE tenant_id = %s AND id = %s AND active",
        (tenant_id, subscription_id),
    ).rowcount
    if not done:
        raise AlertNotFound(f"no webhook subscription {subscription_id} in tenant {tenant_id}")


def list_deliveries(
    conn: Conn, tenant_id: str, subscription_id: int, *, limit: int = 50
) -> list[dict[str, Any]]:
    """The subscription's latest notifications, each with its attempts (newest first)."""
    with conn.cursor(row_factory=dict_row) as cur:
        found = cur.execute(
            "SELECT 1 FROM webhook_subscriptions WHERE tenant_id = %s AND id = %s",
            (tenant_id, subscription_id),
        ).fetchone()
        if found is None:
            raise AlertNotFound(f"no webhook subscription {subscription_id} in tenant {tenant_id}")
        return cur.execute(
            "SELECT n.id, n.alert_id, n.event, n.idempotency_key::text AS idempotency_key,"
            " n.status, n.attempts, n.next_attempt_at, n.last_error, n.created_at,"
            " n.delivered_at, coalesce((SELECT jsonb_agg(jsonb_build_object("
            "   'attempt', a.attempt, 'at', a.attempted_at, 'status_code', a.status_code,"
            "   'error', a.error, 'duration_ms', a.duration_ms) ORDER BY a.attempt)"
            "  FROM alert_notification_attempts a WHERE a.notification_id = n.id), '[]')"
            " AS attempt_log"
            " FROM alert_notifications n WHERE n.tenant_id = %s AND n.subscription_id = %s"
            " ORDER BY n.id DESC LIMIT %s",
            (tenant_id, subscription_id, limit),
        ).fetchall()
