"""SQL reads feeding the rule cores: each function returns one rule's conditions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import psycopg

from cloud.alerts.model import Condition
from cloud.alerts.rules import coldchain, devices, ledger, scans, stock, storage
from cloud.settings import AlertSection
from cloud.storage.job_health import read_jobs

__all__ = [
    "SiteLimits",
    "anchoring",
    "device_offline",
    "excursions",
    "fake_reports",
    "ledger_audit",
    "sequence_gaps",
    "site_limits",
    "stock_levels",
    "storage_jobs",
    "suspicions",
]

Conn = psycopg.Connection[Any]

_HELD = """
WITH counted AS (
    SELECT DISTINCT ON (tenant_id, site_id, gtin, device_id, location)
           tenant_id, site_id, gtin, quantity
    FROM stock_counts WHERE time >= %(since)s
    ORDER BY tenant_id, site_id, gtin, device_id, location, time DESC
), held AS (
    SELECT tenant_id, site_id, gtin FROM counted GROUP BY 1, 2, 3 HAVING sum(quantity) > 0
    UNION
    SELECT l.tenant_id, l.site_id, u.gtin
    FROM units u JOIN epcis_locations l ON (l.tenant_id, l.location) = (u.tenant_id, u.site)
    WHERE u.status = 'at_site' AND u.gtin IS NOT NULL
)
SELECT h.tenant_id, h.site_id, p.gtin, p.temp_min_c, p.temp_max_c,
       p.humidity_min_pct, p.humidity_max_pct
FROM held h JOIN products p ON p.tenant_id = h.tenant_id AND p.gtin = h.gtin
ORDER BY 1, 2, 3
"""


@dataclass(frozen=True, slots=True)
class SiteLimits:
    tenant_id: str
    site_id: str
    metric: str
    limits: coldchain.Limits | None  # None: held products need incompatible conditions
    gtins: tuple[str, ...]


def site_limits(conn: Conn, *, since: datetime) -> list[SiteLimits]:
    """Per site and metric, the tightest storage range of the products the site holds."""
    profiles: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for tenant, site, gtin, tmin, tmax, hmin, hmax in conn.execute(_HELD, {"since": since}):
        profiles[(tenant, site)].append((gtin, tmin, tmax, hmin, hmax))
    out = []
    for (tenant, site), rows in profiles.items():
        gtins = tuple(r[0] for r in rows)
        for metric, lo, hi in (("temperature_c", 1, 2), ("humidity_pct", 3, 4)):
            ranges = [(r[lo], r[hi]) for r in rows if r[lo] is not None or r[hi] is not None]
            if ranges:
                out.append(SiteLimits(tenant, site, metric, coldchain.tightest(ranges), gtins))
    return out


def excursions(conn: Conn, settings: AlertSection, *, now: datetime) -> list[Condition]:
    """Cold-chain excursion conditions, one per site and metric at most."""
    out = []
    since = now - settings.alerts_excursion_look_back
    for site in site_limits(conn, since=now - settings.alerts_held_look_back):
        if site.limits is None or site.limits.empty:
            continue
        hysteresis = (
            settings.alerts_excursion_hysteresis_c
            if site.metric == "temperature_c"
            else settings.alerts_excursion_hysteresis_pct
        )
        streams: dict[str, list[coldchain.Sample]] = defaultdict(list)
        for device, sensor, t, value in conn.execute(
            "SELECT device_id, sensor, time, value FROM readings"
            " WHERE tenant_id = %s AND site_id = %s AND metric = %s AND time >= %s"
            " AND time <= %s AND value IS NOT NULL ORDER BY device_id, sensor, time",
            (site.tenant_id, site.site_id, site.metric, since, now),
        ):
            streams[f"{device}/{sensor}"].append(coldchain.Sample(t, value))
        found = {
            name: coldchain.excursions(
                samples,
                site.limits,
                hysteresis=hysteresis,
                min_duration=settings.alerts_excursion_min_duration,
                merge_within=settings.alerts_excursion_merge_within,
            )
            for name, samples in streams.items()
        }
        joined = coldchain.merge(
            [e for es in found.values() for e in es], settings.alerts_excursion_merge_within
        )
        if not joined:
            continue
        latest = joined[-1]
        involved = [n for n, es in found.items() if any(e.start >= latest.start for e in es)]
        condition = coldchain.excursion_condition(
            site.tenant_id,
            site.site_id,
            site.metric,
            latest,
            critical_after=settings.alerts_excursion_critical_after,
            streams=involved,
        )
        out.append(replace(condition, details={**condition.details, "gtins": list(site.gtins)}))
    return out


def stock_levels(
    conn: Conn, settings: AlertSection, *, now: datetime
) -> tuple[list[Condition], list[Condition]]:
    """(low-stock, stock-out forecast) conditions per site and product."""
    thresholds = {
        (t, g, s): q
        for t, g, s, q in conn.execute(
            "SELECT tenant_id, gtin, site_id, low_quantity FROM alert_stock_thresholds"
        )
    }
    series: dict[tuple[str, str, str], list[stock.Count]] = defaultdict(list)
    for tenant, site, gtin, t, point, qty in conn.execute(
        "SELECT tenant_id, site_id, gtin, time, device_id || '/' || coalesce(location, ''),"
        " quantity FROM stock_counts WHERE time >= %s AND time <= %s"
        " ORDER BY tenant_id, site_id, gtin, time",
        (now - settings.alerts_stock_look_back, now),
    ):
        series[(tenant, site, gtin)].append(stock.Count(t, point, qty))
    low: list[Condition] = []
    forecasts: list[Condition] = []
    for (tenant, site, gtin), counts in series.items():
        points = stock.totals(counts)
        at, quantity = points[-1]
        default = thresholds.get((tenant, gtin, ""), settings.alerts_low_stock_default)
        threshold = thresholds.get((tenant, gtin, site), default)
        # The episode starts at the first point of the latest run at or below the threshold.
        start = at
        for t, q in reversed(points):
            if q > threshold:
                break
            start = t
        c = stock.low_stock_condition(tenant, site, gtin, start, quantity, threshold)
        if c is not None:
            low.append(c)
            continue
        trend = stock.forecast(points, min_points=settings.alerts_stockout_min_points)
        if trend is not None:
            # since: the count that made the forecast (a later one re-forecasts; a stable
            # start keeps a resolved alert from reopening until new counts say so again).
            f = stock.stockout_condition(
                tenant, site, gtin, trend,
                now=now, horizon=settings.alerts_stockout_horizon, since=at,
            )  # fmt: skip
            if f is not None:
                forecasts.append(f)
    return low, forecasts


def device_offline(conn: Conn, settings: AlertSection, *, now: datetime) -> list[Condition]:
    out = []
    for row in conn.execute(
        "SELECT tenant_id, site_id, id, status, last_seen_at FROM devices"
        " WHERE status IN ('online', 'offline') ORDER BY id"
    ):
        c = devices.offline_condition(
            devices.DeviceRow(*row), now=now, timeout=settings.alerts_heartbeat_timeout
        )
        if c is not None:
            out.append(c)
    return out


def sequence_gaps(conn: Conn, settings: AlertSection, *, now: datetime) -> list[Condition]:
    # The seq an online session reserved for its last will (announced in its birth) is
    # published only when the session ends: missing until then, not lost.
    rows = conn.execute(
        "SELECT d.tenant_id, d.site_id, g.device_id, g.from_seq, g.to_seq, g.lost_seqs,"
        " g.detected_at FROM ingest_gaps g JOIN devices d ON d.id = g.device_id"
        " WHERE g.backfilled_at IS NULL AND g.lost_seqs > 0"
        " AND NOT (d.status = 'online' AND g.from_seq = d.will_seq AND g.to_seq = d.will_seq)"
    ).fetchall()
    return devices.gap_conditions(
        (devices.GapRow(*r) for r in rows), now=now, grace=settings.alerts_gap_grace
    )


def suspicions(conn: Conn, settings: AlertSection, *, now: datetime) -> list[Condition]:
    rows = conn.execute(
        "SELECT DISTINCT ON (cs.id) cs.tenant_id, cs.scanned_at, cs.gtin, cs.lot, cs.serial,"
        " cs.verdict, cs.reason, cs.region, l.site_id, cs.evidence"
        " FROM consumer_scans cs"
        " LEFT JOIN units u"
        "  ON (u.tenant_id, u.gtin, u.serial) = (cs.tenant_id, cs.gtin, cs.serial)"
        " LEFT JOIN epcis_locations l ON l.location = coalesce(u.site, u.shipped_to_location)"
        "  AND l.tenant_id = cs.tenant_id"
        " WHERE cs.verdict IN ('suspected_diversion', 'suspected_clone')"
        " AND cs.confirmed"  # a suspicion one scanner alone could cause opens no alert
        " AND cs.scanned_at >= %s AND cs.tenant_id IS NOT NULL AND cs.gtin IS NOT NULL"
        " AND cs.serial IS NOT NULL ORDER BY cs.id",
        (now - settings.alerts_scan_look_back,),
    ).fetchall()
    return scans.suspicion_conditions(
        scans.SuspectScan(
            tenant_id=r[0], scanned_at=r[1], gtin=r[2], lot=r[3], serial=r[4], verdict=r[5],
            reason=r[6], region=r[7], site_id=r[8], evidence=r[9] or [],
        )
        for r in rows
    )  # fmt: skip


def fake_reports(conn: Conn, settings: AlertSection, *, now: datetime) -> list[Condition]:
    """Shoppers' reports of suspected fakes within the scan look-back (docs/alerts.md)."""
    rows = conn.execute(
        "SELECT tenant_id, reported_at, gtin, lot, serial, verdict, reason, seller, note,"
        " region FROM fake_reports WHERE reported_at >= %s ORDER BY id",
        (now - settings.alerts_scan_look_back,),
    ).fetchall()
    return scans.report_conditions(scans.FakeReport(*r) for r in rows)


def _tenants(conn: Conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT id FROM tenants ORDER BY id")]


def ledger_audit(conn: Conn) -> list[Condition]:
    row = conn.execute(
        "SELECT ran_at, entries, findings, ok FROM ledger_audit_runs ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None or row[3]:
        return []
    since = conn.execute(
        "SELECT min(ran_at) FROM ledger_audit_runs WHERE id > coalesce("
        "(SELECT max(id) FROM ledger_audit_runs WHERE ok), 0)"
    ).fetchone()
    assert since is not None
    run = ledger.AuditRun(ran_at=row[0], entries=row[1], findings=row[2], failing_since=since[0])
    return ledger.audit_conditions(run, _tenants(conn))


def anchoring(
    conn: Conn, settings: AlertSection, *, now: datetime, anchor_interval: timedelta
) -> list[Condition]:
    anchored = conn.execute(
        "SELECT coalesce(max(size), 0) FROM ledger_anchors WHERE status = 'confirmed'"
    ).fetchone()
    assert anchored is not None
    oldest = conn.execute(
        "SELECT size, created_at FROM ledger_checkpoints WHERE size > %s ORDER BY size LIMIT 1",
        (anchored[0],),
    ).fetchone()
    pending = conn.execute(
        "SELECT size, created_at FROM ledger_anchors WHERE status = 'pending'"
        " ORDER BY created_at LIMIT 1"
    ).fetchone()
    state = ledger.AnchorState(
        anchored_size=anchored[0],
        oldest_unanchored=None if oldest is None else (oldest[0], oldest[1]),
        pending=None if pending is None else (pending[0], pending[1]),
    )
    return ledger.anchoring_conditions(
        state,
        _tenants(conn),
        now=now,
        anchor_interval=anchor_interval,
        missed_intervals=settings.alerts_anchor_missed_intervals,
        pending_after=settings.alerts_pending_anchor_after,
    )


def storage_jobs(conn: Conn, *, now: datetime) -> list[Condition]:
    """TimescaleDB jobs that keep failing (none on plain PostgreSQL)."""
    jobs = read_jobs(conn)
    return storage.storage_job_conditions(jobs, _tenants(conn), now=now) if jobs else []
