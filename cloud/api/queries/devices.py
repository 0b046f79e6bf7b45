"""Devices of a tenant with their online state, and one device's delivery completeness."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cloud.api.errors import BadRequest, NotFound
from cloud.api.queries.sites import get_site, require_tenant
from cloud.api.schemas import Completeness, Device, Gap, OnlineState

__all__ = ["MAX_COMPLETENESS_RANGE", "completeness", "get_device", "list_devices", "online_state"]

MAX_COMPLETENESS_RANGE = timedelta(days=31)


def online_state(
    status: str, last_seen_at: datetime | None, now: datetime, stale_after: timedelta
) -> OnlineState:
    """What a dashboard should show for a device (see :class:`cloud.api.schemas.Device`)."""
    if status == "retired":
        return "retired"
    if last_seen_at is None:
        return "never_seen"
    if status == "offline":
        return "offline"
    return "online" if now - last_seen_at <= stale_after else "stale"


def list_devices(
    conn: psycopg.Connection[Any],
    tenant: str,
    *,
    site: str | None,
    stale_after: timedelta,
    device: str | None = None,
) -> list[Device]:
    require_tenant(conn, tenant)
    if site is not None:
        get_site(conn, tenant, site)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT id, tenant_id, site_id, status, last_seen_at, last_state, now() AS now"
            " FROM devices WHERE tenant_id = %(tenant)s"
            " AND (%(site)s::text IS NULL OR site_id = %(site)s)"
            " AND (%(device)s::text IS NULL OR id = %(device)s) ORDER BY id",
            {"tenant": tenant, "site": site, "device": device},
        ).fetchall()
    devices = []
    for r in rows:
        seen: datetime | None = r["last_seen_at"]
        now: datetime = r.pop("now")
        devices.append(
            Device(
                **r,
                online_state=online_state(r["status"], seen, now, stale_after),
                seconds_since_seen=(now - seen).total_seconds() if seen else None,
            )
        )
    return devices


def get_device(
    conn: psycopg.Connection[Any], tenant: str, device: str, *, stale_after: timedelta
) -> Device:
    found = list_devices(conn, tenant, site=None, stale_after=stale_after, device=device)
    if not found:
        raise NotFound(f"device {device!r} of tenant {tenant!r} does not exist")
    return found[0]


def completeness(
    conn: psycopg.Connection[Any], tenant: str, device: str, start: datetime, end: datetime
) -> Completeness:
    """Sequence gaps of one device among messages received in ``[start, end)``.

    Sequence numbers are per device across all kinds, so any hole is a message that never
    arrived (or that the edge evicted under its disk budget; its health reports those).
    """
    span = end - start
    if span <= timedelta(0) or span > MAX_COMPLETENESS_RANGE:
        raise BadRequest(
            f"range must be positive and at most {MAX_COMPLETENESS_RANGE.days} days; got {span}"
        )
    row = conn.execute(
        "SELECT 1 FROM devices WHERE tenant_id = %s AND id = %s", (tenant, device)
    ).fetchone()
    if row is None:
        raise NotFound(f"device {device!r} of tenant {tenant!r} does not exist")
    params = {"device": device, "start": start, "end": end}
    summary = conn.execute(
        "SELECT count(*), min(seq), max(seq), count(*) FILTER (WHERE skew_flagged),"
        " coalesce(sum(duplicates), 0) FROM ingest_log WHERE device_id = %(device)s"
        " AND received_at >= %(start)s AND received_at < %(end)s",
        params,
    ).fetchone()
    assert summary is not None  # an aggregate always returns a row
    messages, first, last, skewed, duplicates = summary
    with conn.cursor(row_factory=dict_row) as cur:
        gaps = cur.execute(
            "SELECT prev_seq AS after_seq, seq AS next_seq, seq - prev_seq - 1 AS missing,"
            " prev_received AS after_received_at, received_at AS next_received_at FROM ("
            "  SELECT seq, received_at, lag(seq) OVER w AS prev_seq,"
            "  lag(received_at) OVER w AS prev_received FROM ingest_log"
            "  WHERE device_id = %(device)s AND received_at >= %(start)s"
            "  AND received_at < %(end)s WINDOW w AS (ORDER BY seq)) s"
            " WHERE seq - prev_seq > 1 ORDER BY seq",
            params,
        ).fetchall()
    missing = sum(int(g["missing"]) for g in gaps)
    return Completeness(
        device_id=device, start=start, end=end, messages=messages, first_seq=first,
        last_seq=last, missing=missing,
        ratio=messages / (messages + missing) if messages else None,
        skew_flagged=skewed, duplicates=int(duplicates),
        gaps=[Gap.model_validate(g) for g in gaps],
    )  # fmt: skip
