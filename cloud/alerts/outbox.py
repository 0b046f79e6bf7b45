"""Webhook notifications: the outbox and its delivery.

:func:`enqueue` turns alert events (opened, acknowledged, resolved) into one outbox row
per matching subscription; the row is unique per ``(alert, event, subscription)``, so
running it again, or from two processes, never makes a second notification. It reads the
events from the alerts table itself, so it does not matter who changed the alert (the
evaluator, or a person through the API).

:func:`deliver_due` sends due rows one at a time, each in its own transaction holding the
row (``FOR UPDATE SKIP LOCKED``: concurrent deliverers never send the same row), and
records every attempt. A 2xx marks it delivered; anything else schedules a retry with
exponential back-off, until ``max_attempts`` marks it failed. A crash between the POST
and the commit sends it again with the same ``Idempotency-Key``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from cloud.alerts.egress import refused_destination
from cloud.alerts.signing import EVENT_HEADER, backoff, signed_headers

__all__ = [
    "ENQUEUE_LOOK_BACK",
    "DeliveryPolicy",
    "DeliveryStats",
    "deliver",
    "deliver_due",
    "enqueue",
]

_logger = logging.getLogger(__name__)
Conn = psycopg.Connection[Any]

_ENQUEUE = """
WITH events AS (
    SELECT a.*, 'opened' AS event, a.opened_at AS at
    FROM alerts a WHERE a.opened_at >= %(since)s
    UNION ALL
    SELECT a.*, 'acknowledged', a.acknowledged_at
    FROM alerts a WHERE a.acknowledged_at >= %(since)s
    UNION ALL
    SELECT a.*, 'resolved', a.resolved_at
    FROM alerts a WHERE a.resolved_at >= %(since)s
)
INSERT INTO alert_notifications (tenant_id, alert_id, event, subscription_id, payload)
SELECT ev.tenant_id, ev.id, ev.event, s.id,
       jsonb_build_object('event', 'alert.' || ev.event,
                          'alert', to_jsonb(ev) - 'event' - 'at' - 'clear_since')
FROM events ev
JOIN webhook_subscriptions s
  ON s.tenant_id = ev.tenant_id AND s.active AND s.created_at <= ev.at
WHERE (cardinality(s.kinds) = 0 OR ev.kind = ANY (s.kinds))
  AND array_position(ARRAY['info', 'warning', 'critical'], ev.severity)
      >= array_position(ARRAY['info', 'warning', 'critical'], s.min_severity)
  AND (s.distributor_id IS NULL
       OR ev.site_id IN (SELECT id FROM sites
                         WHERE tenant_id = ev.tenant_id AND distributor_id = s.distributor_id))
ORDER BY ev.id, ev.at
ON CONFLICT (alert_id, event, subscription_id) DO NOTHING
"""


# Events older than this are not (re)considered by the enqueue sweep.
ENQUEUE_LOOK_BACK = timedelta(days=1)


def enqueue(conn: Conn, *, since: datetime) -> int:
    """Outbox rows for alert events at or after ``since``; returns how many were new."""
    return conn.execute(_ENQUEUE, {"since": since}).rowcount


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    timeout_s: float = 5.0
    max_attempts: int = 8
    backoff_base: timedelta = timedelta(seconds=10)
    backoff_max: timedelta = timedelta(hours=1)
    # Private, loopback and link-local destinations (refused by default: cloud.alerts.egress).
    allow_private: bool = False


@dataclass(slots=True)
class DeliveryStats:
    delivered: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def attempts(self) -> int:
        return self.delivered + self.retried + self.failed


_CLAIM = """
SELECT n.id, n.tenant_id, n.event, n.payload, n.idempotency_key, n.attempts,
       s.url, s.secret, s.active
FROM alert_notifications n JOIN webhook_subscriptions s ON s.id = n.subscription_id
WHERE n.status = 'pending' AND n.next_attempt_at <= %s
ORDER BY n.next_attempt_at, n.id
LIMIT 1
FOR UPDATE OF n SKIP LOCKED
"""


def _post(
    client: httpx.Client, url: str, secret: str, event: str, key: str, body: bytes, timeout: float
) -> tuple[int | None, str | None]:
    headers = {
        "Content-Type": "application/json",
        **signed_headers(secret, key, body, int(time.time())),
        EVENT_HEADER: f"alert.{event}",
    }
    try:
        # Streamed: only the first KiB of an error body is read, whatever the receiver sends.
        with client.stream("POST", url, content=body, headers=headers, timeout=timeout) as r:
            if r.is_success:
                return r.status_code, None
            head = b""
            for chunk in r.iter_bytes():
                head += chunk
                if len(head) >= 1024:
                    break
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    text = head[:200].decode("utf-8", "replace")
    return r.status_code, f"HTTP {r.status_code}: {text}"


def _deliver_one(
    conn: Conn, client: httpx.Client, policy: DeliveryPolicy, now: datetime, stats: DeliveryStats
) -> bool:
    with conn.transaction():
        row = conn.execute(_CLAIM, (now,)).fetchone()
        if row is None:
            return False
        nid, tenant, event, payload, key, attempts, url, secret, active = row
        attempt = attempts + 1
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        started = time.perf_counter()
        refused = None if policy.allow_private else refused_destination(url)
        status: int | None
        error: str | None
        if not active:
            status, error = None, "subscription deleted"
        elif refused is not None:
            status, error = None, f"refused: {refused}"
        else:
            status, error = _post(client, url, secret, event, str(key), body, policy.timeout_s)
        elapsed_ms = (time.perf_counter() - started) * 1000
        conn.execute(
            "INSERT INTO alert_notification_attempts (notification_id, attempt, tenant_id,"
            " attempted_at, status_code, error, duration_ms) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (nid, attempt, tenant, now, status, error, elapsed_ms),
        )
        if error is None:
            conn.execute(
                "UPDATE alert_notifications SET status = 'delivered', attempts = %s,"
                " delivered_at = %s, last_error = NULL WHERE id = %s",
                (attempt, now, nid),
            )
            stats.delivered += 1
        elif attempt >= policy.max_attempts or not active:
            conn.execute(
                "UPDATE alert_notifications SET status = 'failed', attempts = %s, last_error = %s"
                " WHERE id = %s",
                (attempt, error, nid),
            )
            stats.failed += 1
            _logger.warning("webhook notification %d failed for good: %s", nid, error)
        else:
            delay = backoff(attempt, base=policy.backoff_base, cap=policy.backoff_max)
            conn.execute(
                "UPDATE alert_notifications SET attempts = %s, last_error = %s,"
                " next_attempt_at = %s WHERE id = %s",
                (attempt, error, now + delay, nid),
            )
            stats.retried += 1
            _logger.info("webhook notification %d attempt %d: %s", nid, attempt, error)
    return True


def deliver_due(
    conn: Conn,
    client: httpx.Client,
    policy: DeliveryPolicy,
    *,
    now: datetime | None = None,
    limit: int = 100,
) -> DeliveryStats:
    """Send up to ``limit`` due notifications (due at ``now``, default the current time)."""
    now = now or datetime.now(UTC)
    stats = DeliveryStats()
    for _ in range(limit):
        if not _deliver_one(conn, client, policy, now, stats):
            break
    return stats


def deliver(
    conn: Conn, client: httpx.Client, policy: DeliveryPolicy, *, limit: int = 100
) -> DeliveryStats:
    """What the ``alerts.deliver`` job does: enqueue recent events (including those made
    through the API: acknowledgements, manual resolutions), then send what is due."""
    enqueue(conn, since=datetime.now(UTC) - ENQUEUE_LOOK_BACK)
    return deliver_due(conn, client, policy, limit=limit)
