"""The newest readings per sensor of a site."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from cloud.api.errors import BadRequest
from cloud.api.queries.sites import get_site
from cloud.api.schemas import LatestReading

__all__ = ["MAX_LATEST_LOOKBACK", "latest_readings"]

MAX_LATEST_LOOKBACK = timedelta(days=31)


def latest_readings(
    conn: psycopg.Connection[Any],
    tenant: str,
    site: str,
    *,
    device: str | None,
    metric: str | None,
    lookback: timedelta,
) -> list[LatestReading]:
    """The newest reading per (device, sensor, metric) within ``lookback`` of now."""
    if not timedelta(0) < lookback <= MAX_LATEST_LOOKBACK:
        raise BadRequest(f"lookback must be within (0, {MAX_LATEST_LOOKBACK}]; got {lookback}")
    get_site(conn, tenant, site)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT d.id AS device_id, r.sensor, r.metric, r.time, r.received_at, r.value,"
            " r.fault FROM devices d CROSS JOIN LATERAL ("
            "  SELECT DISTINCT ON (sensor, metric) sensor, metric, time, received_at, value,"
            "  fault FROM readings WHERE device_id = d.id AND time > now() - %(lookback)s"
            "  AND (%(metric)s::text IS NULL OR metric = %(metric)s)"
            "  ORDER BY sensor, metric, time DESC) r"
            " WHERE d.tenant_id = %(tenant)s AND d.site_id = %(site)s"
            " AND (%(device)s::text IS NULL OR d.id = %(device)s)"
            " ORDER BY d.id, r.sensor, r.metric",
            {"tenant": tenant, "site": site, "device": device, "metric": metric,
             "lookback": lookback},
        ).fetchall()  # fmt: skip
    return [LatestReading.model_validate(r) for r in rows]
