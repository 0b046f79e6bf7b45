"""Day partitions on plain PostgreSQL: created ahead of time, dropped after retention.

Every partitioned relation (``storage_policies.partitioned``) has a DEFAULT partition, so
an insert is never refused, whatever the device clock says. The partition of a day is
``<relation>_pYYYYMMDD`` (UTC days), created by the SQL function
``ct_ensure_day_partition`` from migration 0002, which also moves that day's rows out of
the DEFAULT partition.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from cloud.errors import StorageError

__all__ = [
    "DAYS_AHEAD",
    "DAYS_BEHIND",
    "Policy",
    "apply_retention",
    "ensure_partitions",
    "partition_days",
    "policies",
]

_logger = logging.getLogger(__name__)

DAYS_AHEAD = 7
DAYS_BEHIND = 1


@dataclass(frozen=True, slots=True)
class Policy:
    relation: str
    time_column: str
    partitioned: bool
    retain_for: timedelta | None


def policies(conn: psycopg.Connection[Any]) -> list[Policy]:
    rows = conn.execute(
        "SELECT relation, time_column, partitioned, retain_for FROM storage_policies"
        " ORDER BY relation"
    ).fetchall()
    return [Policy(str(r[0]), str(r[1]), bool(r[2]), r[3]) for r in rows]


def _today(now: datetime | None) -> date:
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        raise StorageError(f"expected an aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def partition_days(conn: psycopg.Connection[Any], relation: str) -> dict[str, date]:
    """Existing day partitions of ``relation``: name -> UTC day."""
    rows = conn.execute(
        "SELECT c.relname, ct_partition_day(%(parent)s, c.relname::text)"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %(parent)s::regclass",
        {"parent": relation},
    ).fetchall()
    return {str(r[0]): r[1] for r in rows if r[1] is not None}


def ensure_partitions(
    conn: psycopg.Connection[Any],
    now: datetime | None = None,
    *,
    days_ahead: int = DAYS_AHEAD,
    days_behind: int = DAYS_BEHIND,
) -> int:
    """Create the day partitions from ``days_behind`` ago to ``days_ahead`` on, plus those
    for days the DEFAULT partition holds rows of (within retention); returns how many."""
    if days_ahead < 0 or days_behind < 0:
        raise StorageError(
            f"expected days_ahead, days_behind >= 0, got {days_ahead}, {days_behind}"
        )
    today = _today(now)
    created = 0
    for policy in (p for p in policies(conn) if p.partitioned):
        wanted = {today + timedelta(days=d) for d in range(-days_behind, days_ahead + 1)}
        wanted |= _days_in_default(conn, policy, today, days_ahead)
        for day in sorted(wanted):
            with conn.transaction():
                row = conn.execute(
                    "SELECT ct_ensure_day_partition(%s, %s)", (policy.relation, day)
                ).fetchone()
            if row is not None and row[0]:
                created += 1
                _logger.info("created partition %s_p%s", policy.relation, day.strftime("%Y%m%d"))
    return created


def _days_in_default(
    conn: psycopg.Connection[Any], policy: Policy, today: date, days_ahead: int
) -> set[date]:
    """Days with rows stranded in the DEFAULT partition that deserve their own partition."""
    oldest = today - policy.retain_for if policy.retain_for is not None else date(1970, 1, 1)
    query = sql.SQL(
        "SELECT DISTINCT ({col} AT TIME ZONE 'UTC')::date FROM {default}"
        " WHERE {col} >= %s AND {col} < %s"
    ).format(
        col=sql.Identifier(policy.time_column),
        default=sql.Identifier(f"{policy.relation}_default"),
    )
    lo = _midnight(oldest)
    hi = _midnight(today + timedelta(days=days_ahead + 1))
    return {r[0] for r in conn.execute(query, (lo, hi)).fetchall()}


def apply_retention(conn: psycopg.Connection[Any], now: datetime | None = None) -> int:
    """Drop whole day partitions older than each relation's ``retain_for``, and delete
    older rows from DEFAULT partitions and unpartitioned tables; returns partitions dropped."""
    moment = now or datetime.now(UTC)
    _today(moment)  # refuses naive datetimes
    dropped = 0
    for policy in policies(conn):
        if policy.retain_for is None:
            continue
        cutoff = moment - policy.retain_for
        col = sql.Identifier(policy.time_column)
        with conn.transaction():
            if policy.partitioned:
                for name, day in sorted(partition_days(conn, policy.relation).items()):
                    if (
                        datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
                        <= cutoff
                    ):
                        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
                        dropped += 1
                        _logger.info("retention: dropped %s (before %s)", name, cutoff)
                target = sql.Identifier(f"{policy.relation}_default")
            else:
                target = sql.Identifier(policy.relation)
            cur = conn.execute(
                sql.SQL("DELETE FROM {} WHERE {} < %s").format(target, col), (cutoff,)
            )
            if cur.rowcount:
                _logger.info("retention: deleted %d rows of %s", cur.rowcount, policy.relation)
    return dropped
