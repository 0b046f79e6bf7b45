"""Per-device sequence gaps from ``ingest_log``: the basis of completeness reports.

Every accepted message has an ``ingest_log`` row keyed by (device, seq), and a device's seqs
increase by one per message (docs/protocol.md §5), so a missing seq is a message that has
not arrived. ``detect_gaps`` keeps ``ingest_gaps`` up to date incrementally:

* it only looks at devices whose highest seq passed their cursor, or whose open gaps
  received some of their seqs (a late delivery from an outbox backlog);
* for those it recomputes, with ``lag()`` over seqs, the gaps after the cursor and inside
  each open gap; an open gap that is no longer missing as recorded is closed
  (``backfilled_at``), and what is still missing of it becomes a new, smaller gap;
* seqs the device reported as evicted (``health.evicted_seqs`` in heartbeats, remembered in
  ``evicted_seqs``) are counted per gap in ``ingest_gaps.evicted_seqs``, so an eviction by
  the outbox under its disk budget is not reported as a loss (``lost_seqs``).

The first seq seen of a device starts its history: nothing before it is a gap.
Works unchanged on both storage backends.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

__all__ = ["detect_gaps"]

_logger = logging.getLogger(__name__)
_LOCK_KEY = 0x43_54_47_50  # "CTGP"

_REMEMBER_EVICTED = """
INSERT INTO evicted_seqs (device_id, seq)
SELECT d.id, e.seq::bigint
FROM devices d,
     jsonb_array_elements_text(
         CASE WHEN jsonb_typeof(d.last_state -> 'health' -> 'evicted_seqs') = 'array'
              THEN d.last_state -> 'health' -> 'evicted_seqs' ELSE '[]'::jsonb END) AS e(seq)
WHERE e.seq ~ '^[0-9]{1,18}$'
ON CONFLICT DO NOTHING
"""

# Devices whose seqs moved past their cursor or into one of their open gaps.
_AFFECTED = """
CREATE TEMP TABLE ct_gap_ranges ON COMMIT DROP AS
WITH heads AS (
    SELECT d.id AS device_id, c.checked_to,
           (SELECT max(l.seq) FROM ingest_log l WHERE l.device_id = d.id) AS head
    FROM devices d LEFT JOIN ingest_gap_cursors c ON c.device_id = d.id
), grown AS (
    SELECT device_id, coalesce(checked_to, 0) AS lo, NULL::bigint AS hi, head
    FROM heads WHERE head > coalesce(checked_to, 0)
), filled AS (
    SELECT g.device_id, g.from_seq - 1 AS lo, g.to_seq + 1 AS hi
    FROM ingest_gaps g
    WHERE g.backfilled_at IS NULL AND EXISTS (
        SELECT 1 FROM ingest_log l
        WHERE l.device_id = g.device_id AND l.seq BETWEEN g.from_seq AND g.to_seq)
)
SELECT device_id, lo, hi, head FROM grown
UNION ALL
SELECT device_id, lo, hi, NULL FROM filled
"""

# Missing ranges inside each analysed range, one lag() window per range.
_MISSING = """
CREATE TEMP TABLE ct_gap_found ON COMMIT DROP AS
SELECT device_id, prev + 1 AS from_seq, seq - 1 AS to_seq
FROM (
    SELECT r.device_id, l.seq,
           lag(l.seq) OVER (PARTITION BY r.device_id, r.lo ORDER BY l.seq) AS prev
    FROM ct_gap_ranges r
    JOIN ingest_log l ON l.device_id = r.device_id AND l.seq >= r.lo
                     AND (r.hi IS NULL OR l.seq <= r.hi)
) s
WHERE seq - prev > 1
"""

_CLOSE_FILLED = """
UPDATE ingest_gaps g SET backfilled_at = now()
FROM ct_gap_ranges r
WHERE r.hi IS NOT NULL AND g.device_id = r.device_id AND g.from_seq = r.lo + 1
  AND g.to_seq = r.hi - 1 AND g.backfilled_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM ct_gap_found f WHERE f.device_id = g.device_id
                  AND f.from_seq = g.from_seq AND f.to_seq = g.to_seq)
"""

_INSERT_FOUND = """
INSERT INTO ingest_gaps (device_id, from_seq, to_seq)
SELECT device_id, from_seq, to_seq FROM ct_gap_found
ON CONFLICT (device_id, from_seq, to_seq) DO NOTHING
"""

_ADVANCE_CURSORS = """
INSERT INTO ingest_gap_cursors (device_id, checked_to)
SELECT device_id, head FROM ct_gap_ranges WHERE head IS NOT NULL
ON CONFLICT (device_id) DO UPDATE SET checked_to = excluded.checked_to
"""

_COUNT_EVICTED = """
UPDATE ingest_gaps g SET evicted_seqs = e.n
FROM (
    SELECT g2.device_id, g2.from_seq, g2.to_seq, count(e.seq) AS n
    FROM ingest_gaps g2
    LEFT JOIN evicted_seqs e ON e.device_id = g2.device_id
                            AND e.seq BETWEEN g2.from_seq AND g2.to_seq
    WHERE g2.backfilled_at IS NULL
    GROUP BY 1, 2, 3
) e
WHERE g.device_id = e.device_id AND g.from_seq = e.from_seq AND g.to_seq = e.to_seq
  AND g.evicted_seqs <> e.n
"""


def detect_gaps(conn: psycopg.Connection[Any]) -> int:
    """Update ``ingest_gaps`` from ``ingest_log``; returns the number of new gaps."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(_REMEMBER_EVICTED)
        conn.execute(_AFFECTED)
        conn.execute(_MISSING)
        closed = conn.execute(_CLOSE_FILLED).rowcount
        found = conn.execute(_INSERT_FOUND).rowcount
        conn.execute(_ADVANCE_CURSORS)
        conn.execute(_COUNT_EVICTED)
    if found or closed:
        _logger.info("gaps: %d new, %d backfilled", found, closed)
    return found
