"""The alerts table: conditions in, alerts out; the acknowledge/resolve workflow.

:func:`sync` reconciles one kind's conditions with its unresolved alerts, in one
transaction. Opening is ``INSERT ... ON CONFLICT DO NOTHING`` against the partial unique
index ``alerts_one_unresolved``, so two evaluators racing still make one alert, and only
the one whose insert won reports it. An alert resolves itself once its condition has
been absent for the kind's delay (``clear_since``); a condition whose episode an earlier
alert already covered (same key, overlapping in time, e.g. resolved by a person while it
lasted) does not open another.

Times: ``condition_since``, ``last_seen_at`` and ``clear_since`` are data time (the
evaluation's ``now`` and the readings' clocks); ``opened_at``, ``acknowledged_at`` and
``resolved_at`` are when the system or a person acted (the database clock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from cloud.alerts.errors import AlertNotFound, AlertStateError
from cloud.alerts.model import AlertKind, AlertState, Condition

__all__ = ["SyncResult", "acknowledge", "get_alert", "list_alerts", "resolve", "sync"]

Conn = psycopg.Connection[Any]
_SEP = "\x1f"


@dataclass(slots=True)
class SyncResult:
    opened: list[int] = field(default_factory=list)
    updated: int = 0
    resolved: list[int] = field(default_factory=list)


def _ref(tenant_id: str, key: str) -> str:
    return f"{tenant_id}{_SEP}{key}"


def _covered(conn: Conn, c: Condition, now: datetime) -> bool:
    row = conn.execute(
        "SELECT 1 FROM alerts WHERE tenant_id = %s AND kind = %s AND dedupe_key = %s"
        " AND state = 'resolved' AND condition_since <= %s"
        " AND coalesce(clear_since, resolved_at) >= %s LIMIT 1",
        (c.tenant_id, c.kind.value, c.key, c.cleared_at or now, c.since),
    ).fetchone()
    return row is not None


def _apply(conn: Conn, c: Condition, now: datetime, result: SyncResult) -> None:
    seen = c.cleared_at or now
    updated = conn.execute(
        "UPDATE alerts SET severity = %s, summary = %s, details = %s, evidence = %s,"
        " site_id = coalesce(%s, site_id), last_seen_at = greatest(last_seen_at, %s),"
        " clear_since = %s"
        " WHERE tenant_id = %s AND kind = %s AND dedupe_key = %s AND state <> 'resolved'",
        (
            c.severity.value, c.summary, Jsonb(c.details), Jsonb(c.evidence), c.site_id,
            seen, c.cleared_at, c.tenant_id, c.kind.value, c.key,
        ),
    ).rowcount  # fmt: skip
    if updated:
        result.updated += 1
        return
    if _covered(conn, c, now):
        return
    row = conn.execute(
        "INSERT INTO alerts (tenant_id, site_id, kind, dedupe_key, severity, summary, details,"
        " evidence, condition_since, last_seen_at, clear_since)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, kind, dedupe_key) WHERE state <> 'resolved' DO NOTHING"
        " RETURNING id",
        (
            c.tenant_id, c.site_id, c.kind.value, c.key, c.severity.value, c.summary,
            Jsonb(c.details), Jsonb(c.evidence), c.since, seen, c.cleared_at,
        ),
    ).fetchone()  # fmt: skip
    if row is not None:
        result.opened.append(row[0])


def sync(
    conn: Conn,
    kind: AlertKind,
    conditions: Sequence[Condition],
    *,
    now: datetime,
    resolve_after: timedelta | None,
) -> SyncResult:
    """Reconcile every tenant's unresolved ``kind`` alerts with ``conditions`` (all of them:
    a key not among them is absent now)."""
    if any(c.kind is not kind for c in conditions):
        raise ValueError(f"sync({kind}) got conditions of another kind")
    result = SyncResult()
    with conn.transaction():
        for c in conditions:
            _apply(conn, c, now, result)
        conn.execute(
            "UPDATE alerts SET clear_since = %s WHERE kind = %s AND state <> 'resolved'"
            " AND clear_since IS NULL AND tenant_id || %s || dedupe_key <> ALL(%s)",
            (now, kind.value, _SEP, [_ref(c.tenant_id, c.key) for c in conditions]),
        )
        if resolve_after is not None:
            rows = conn.execute(
                "UPDATE alerts SET state = 'resolved', resolved_at = now(), resolved_by = 'system',"
                " resolution = 'auto' WHERE kind = %s AND state <> 'resolved'"
                " AND clear_since IS NOT NULL AND clear_since <= %s RETURNING id",
                (kind.value, now - resolve_after),
            ).fetchall()
            result.resolved = [r[0] for r in rows]
    return result


_COLUMNS = (
    "id, tenant_id, site_id, kind, dedupe_key, severity, state, summary, details, evidence,"
    " condition_since, last_seen_at, clear_since, opened_at, acknowledged_at, acknowledged_by,"
    " resolved_at, resolved_by, resolution"
)


def get_alert(conn: Conn, tenant_id: str, alert_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE tenant_id = %s AND id = %s",  # noqa: S608 (constant columns)
            (tenant_id, alert_id),
        ).fetchone()
    if row is None:
        raise AlertNotFound(f"no alert {alert_id} in tenant {tenant_id}")
    return row


def list_alerts(
    conn: Conn,
    tenant_id: str,
    *,
    states: Sequence[AlertState] = (),
    kind: AlertKind | None = None,
    site_id: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Newest first. Under row-level security the caller's scope applies as well."""
    where = ["tenant_id = %(tenant)s"]
    if states:
        where.append("state = ANY(%(states)s)")
    if kind is not None:
        where.append("kind = %(kind)s")
    if site_id is not None:
        where.append("site_id = %(site)s")
    if before_id is not None:
        where.append("id < %(before)s")
    params = {
        "tenant": tenant_id,
        "states": [s.value for s in states],
        "kind": None if kind is None else kind.value,
        "site": site_id,
        "before": before_id,
        "limit": limit,
    }
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE {' AND '.join(where)}"  # noqa: S608 (constant columns)
            " ORDER BY id DESC LIMIT %(limit)s",
            params,
        ).fetchall()


def _transition(
    conn: Conn, tenant_id: str, alert_id: int, sql: str, params: tuple[Any, ...], action: str
) -> dict[str, Any]:
    row = conn.execute(sql, params).fetchone()
    if row is None:
        current = get_alert(conn, tenant_id, alert_id)  # raises AlertNotFound
        raise AlertStateError(f"cannot {action} alert {alert_id}: it is {current['state']}")
    return get_alert(conn, tenant_id, alert_id)


def acknowledge(
    conn: Conn, tenant_id: str, alert_id: int, *, by: str, at: datetime | None = None
) -> dict[str, Any]:
    """open -> acknowledged, recording who and when."""
    return _transition(
        conn,
        tenant_id,
        alert_id,
        "UPDATE alerts SET state = 'acknowledged', acknowledged_at = coalesce(%s, now()),"
        " acknowledged_by = %s WHERE tenant_id = %s AND id = %s AND state = 'open' RETURNING id",
        (at, by, tenant_id, alert_id),
        "acknowledge",
    )


def resolve(
    conn: Conn, tenant_id: str, alert_id: int, *, by: str, at: datetime | None = None
) -> dict[str, Any]:
    """open or acknowledged -> resolved by a person (a condition still present does not
    reopen it: its episode is covered)."""
    return _transition(
        conn,
        tenant_id,
        alert_id,
        "UPDATE alerts SET state = 'resolved', resolved_at = coalesce(%s, now()),"
        " resolved_by = %s, resolution = 'manual'"
        " WHERE tenant_id = %s AND id = %s AND state <> 'resolved' RETURNING id",
        (at, by, tenant_id, alert_id),
        "resolve",
    )
