"""Cold-chain exposure of a stored unit: its custody intervals joined with site readings.

Custody intervals name EPCIS locations; ``epcis_locations`` maps them to our sites, whose
``temperature_c`` readings are averaged per time bucket over all the site's probes (so two
probes do not alternate in a sample-and-hold series). The bucket grows with the period
(at most 20,000 buckets per interval: 1 minute for stays up to two weeks) and the
profile's ``max_gap`` is at least two buckets, so long custody stays cheap to summarise.
The storage profile comes from the ``products`` table; without one there is nothing to be
outside of, and no exposure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg

from cloud.provenance.coldchain import Exposure, Reading, StorageProfile, exposure
from cloud.provenance.custody import CustodyInterval
from cloud.provenance.errors import ColdChainError

__all__ = [
    "CONSUMER_BUCKETS",
    "METRIC",
    "interval_exposures",
    "intervals_of",
    "storage_profile",
    "unit_exposure",
]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]
METRIC = "temperature_c"
_MAX_BUCKETS = 20_000
_MIN_BUCKET = timedelta(minutes=1)
#: Buckets per interval for the consumer page (7 min resolution over a month's stay).
CONSUMER_BUCKETS = 6_000


def intervals_of(rows: Sequence[Mapping[str, Any]]) -> list[CustodyInterval]:
    """Custody intervals from the ``units.intervals`` JSON."""
    return [
        CustodyInterval(
            r["site"],
            datetime.fromisoformat(r["start"]),
            None if r["end"] is None else datetime.fromisoformat(r["end"]),
        )
        for r in rows
    ]


def storage_profile(conn: Conn, tenant: str | None, gtin: str | None) -> StorageProfile | None:
    if tenant is None or gtin is None:
        return None
    row = conn.execute(
        "SELECT temp_min_c, temp_max_c FROM products WHERE tenant_id = %s AND gtin = %s",
        (tenant, gtin),
    ).fetchone()
    if row is None or row[0] is None or row[1] is None or not row[0] < row[1]:
        return None
    return StorageProfile(float(row[0]), float(row[1]))


def _bucket(intervals: Sequence[CustodyInterval], until: datetime, max_buckets: int) -> timedelta:
    longest = max(((i.end or until) - i.start for i in intervals), default=timedelta(0))
    return max(_MIN_BUCKET, longest / max_buckets)


def _readings(
    conn: Conn, tenant: str, location: str, start: datetime, end: datetime, bucket: timedelta
) -> list[Reading]:
    rows = conn.execute(
        "SELECT date_bin(%(bucket)s, r.time, TIMESTAMPTZ '2000-01-01') AS b, avg(r.value)"
        " FROM epcis_locations l JOIN readings r"
        "   ON (r.tenant_id, r.site_id) = (l.tenant_id, l.site_id)"
        " WHERE l.tenant_id = %(tenant)s AND l.location = %(location)s"
        "   AND r.metric = %(metric)s"
        "   AND r.value IS NOT NULL AND r.fault IS NULL"
        "   AND r.time >= %(start)s AND r.time < %(end)s"
        " GROUP BY b ORDER BY b",
        {
            "bucket": bucket,
            "tenant": tenant,
            "location": location,
            "metric": METRIC,
            "start": start,
            "end": end,
        },
    ).fetchall()
    return [Reading(r[0], float(r[1])) for r in rows]


def unit_exposure(
    conn: Conn,
    tenant: str,
    intervals: Sequence[CustodyInterval],
    profile: StorageProfile,
    *,
    until: datetime,
    max_buckets: int = _MAX_BUCKETS,
) -> Exposure | None:
    """Exposure over ``intervals`` of a ``tenant``'s unit (``None`` when there are none).

    Excursions are resolved to one bucket (``longest interval / max_buckets``, at least a
    minute): the audit API uses the default, the consumer page a coarser summary.
    """
    if not intervals:
        return None
    bucket = _bucket(intervals, until, max_buckets)
    profile = StorageProfile(
        profile.min_celsius, profile.max_celsius, max(profile.max_gap, 2 * bucket)
    )
    series: dict[str, list[Reading]] = {}
    for interval in intervals:
        if interval.site is None:
            continue
        end = interval.end or until
        found = _readings(
            conn, tenant, interval.site, interval.start - profile.max_gap, end, bucket
        )
        series.setdefault(interval.site, []).extend(found)
    for readings in series.values():
        readings.sort(key=lambda r: r.time)
    try:
        return exposure(intervals, series, profile, until=until)
    except ColdChainError as exc:
        _logger.warning("cold-chain exposure unavailable: %s", exc)
        return None


#: ``(tenant, site, start, end, bucket, profile) -> exposure``: units that stayed together
#: (a pallet's) share their stays; a passport refresh computes each stay once.
ExposureMemo = dict[tuple[Any, ...], Exposure | None]


def interval_exposures(
    conn: Conn,
    tenant: str,
    intervals: Sequence[CustodyInterval],
    profile: StorageProfile,
    *,
    until: datetime,
    max_buckets: int = _MAX_BUCKETS,
    memo: ExposureMemo | None = None,
) -> list[Exposure | None]:
    """The exposure of each interval (``None`` in transit: no site readings), each from its
    site's readings read once, at the bucket :func:`unit_exposure` would use."""
    if not intervals:
        return []
    bucket = _bucket(intervals, until, max_buckets)
    profile = StorageProfile(
        profile.min_celsius, profile.max_celsius, max(profile.max_gap, 2 * bucket)
    )
    memo = {} if memo is None else memo
    out: list[Exposure | None] = []
    for interval in intervals:
        if interval.site is None:
            out.append(None)
            continue
        end = interval.end or until
        key = (tenant, interval.site, interval.start, end, bucket, profile)
        if key not in memo:
            readings = _readings(
                conn, tenant, interval.site, interval.start - profile.max_gap, end, bucket
            )
            try:
                memo[key] = exposure([interval], {interval.site: readings}, profile, until=until)
            except ColdChainError as exc:
                _logger.warning("cold-chain exposure unavailable: %s", exc)
                memo[key] = None
        out.append(memo[key])
    return out
