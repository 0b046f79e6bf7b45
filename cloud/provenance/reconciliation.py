"""Stock reconciliation: what the ledger says a site holds against what its sensors count.

*Ledger-implied* stock per (site, GTIN) is received − shipped − sold, from custody events:
serialised units whose custody is ``at_site`` there (``units``, which already applies
pallets and cases to their contents), plus class-level quantities (``quantityList`` in
each, ``uom`` absent) received at, shipped from or sold at the site, excluding events
retracted by an error declaration. *Sensed* stock is the latest count per shelf/location
(``stock_counts``) summed per (site, GTIN); a GTIN a monitored site does not report counts
as zero there, and sites with no stock sensing are not compared.

A discrepancy's age is how long it has persisted: the reconciliation job
(:func:`record_discrepancies`) keeps ``stock_discrepancies`` with ``first_seen_at`` and
closes rows that no longer differ. Discrepancies not yet seen by the job are as old as
the newest evidence on either side.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

__all__ = ["Discrepancy", "reconcile", "record_discrepancies"]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]

_SQL = """
WITH located AS (
    SELECT l.tenant_id, l.site_id, u.gtin, count(*)::bigint AS n, max(u.last_event_time) AS t
    FROM units u JOIN epcis_locations l ON (l.tenant_id, l.location) = (u.tenant_id, u.site)
    WHERE u.status = 'at_site' AND u.gtin IS NOT NULL
    GROUP BY 1, 2, 3
), flows AS (
    SELECT l.tenant_id, l.site_id,
           substring(q->>'epc_class' FROM '/01/([0-9]{14})') AS gtin,
           sum(CASE WHEN c.biz_step IN ('receiving', 'arriving', 'accepting') THEN 1 ELSE -1 END
               * (q->>'quantity')::numeric)::bigint AS n,
           max(c.event_time) AS t
    FROM custody_events c
    CROSS JOIN LATERAL jsonb_array_elements(c.quantities) q
    JOIN epcis_locations l
      ON (l.tenant_id, l.location) = (c.tenant_id, coalesce(c.biz_location, c.read_point))
    WHERE NOT c.error_declared
      AND c.biz_step IN ('receiving', 'arriving', 'accepting', 'shipping', 'departing',
                         'retail_selling', 'dispensing')
      AND q->>'uom' IS NULL AND q->>'quantity' IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM custody_events e
                      WHERE (e.tenant_id, e.event_id) = (c.tenant_id, c.event_id)
                        AND e.error_declared)
    GROUP BY 1, 2, 3
), implied AS (
    SELECT tenant_id, site_id, gtin, sum(n)::bigint AS n, max(t) AS t
    FROM (SELECT * FROM located UNION ALL SELECT * FROM flows) x
    WHERE gtin IS NOT NULL GROUP BY 1, 2, 3
), latest AS (
    SELECT DISTINCT ON (tenant_id, site_id, gtin, location) tenant_id, site_id, gtin,
           quantity, time
    FROM stock_counts
    ORDER BY tenant_id, site_id, gtin, location, time DESC, received_at DESC
), sensed AS (
    SELECT tenant_id, site_id, gtin, sum(quantity)::bigint AS n, max(time) AS t
    FROM latest GROUP BY 1, 2, 3
), monitored AS (
    SELECT DISTINCT tenant_id, site_id FROM sensed
)
SELECT coalesce(i.tenant_id, s.tenant_id), coalesce(i.site_id, s.site_id),
       coalesce(i.gtin, s.gtin), coalesce(i.n, 0), coalesce(s.n, 0),
       greatest(i.t, s.t), d.first_seen_at
FROM implied i
FULL JOIN sensed s USING (tenant_id, site_id, gtin)
JOIN monitored m ON (m.tenant_id, m.site_id)
    = (coalesce(i.tenant_id, s.tenant_id), coalesce(i.site_id, s.site_id))
LEFT JOIN stock_discrepancies d
    ON (d.tenant_id, d.site_id, d.gtin)
     = (coalesce(i.tenant_id, s.tenant_id), coalesce(i.site_id, s.site_id),
        coalesce(i.gtin, s.gtin))
   AND d.resolved_at IS NULL
WHERE coalesce(i.n, 0) <> coalesce(s.n, 0)
  AND (%(tenant)s::text IS NULL OR coalesce(i.tenant_id, s.tenant_id) = %(tenant)s)
  AND (%(site)s::text IS NULL OR coalesce(i.site_id, s.site_id) = %(site)s)
ORDER BY abs(coalesce(s.n, 0) - coalesce(i.n, 0)) DESC, 1, 2, 3
"""


@dataclass(frozen=True, slots=True)
class Discrepancy:
    tenant_id: str
    site_id: str
    gtin: str
    implied: int
    sensed: int
    since: datetime  # first seen by the job, else the newest evidence
    age_seconds: float

    @property
    def difference(self) -> int:
        """Sensed minus implied: negative means units the ledger says should be there are
        missing (shrinkage, unrecorded shipments or sales); positive means unrecorded receipts."""
        return self.sensed - self.implied


def reconcile(
    conn: Conn,
    *,
    tenant: str | None = None,
    site: str | None = None,
    now: datetime | None = None,
) -> list[Discrepancy]:
    """Current discrepancies, largest first."""
    now = now or datetime.now(UTC)
    rows = conn.execute(_SQL, {"tenant": tenant, "site": site}).fetchall()
    out: list[Discrepancy] = []
    for tenant_id, site_id, gtin, implied, sensed, evidence, first_seen in rows:
        since = first_seen or evidence or now
        out.append(
            Discrepancy(
                tenant_id,
                site_id,
                gtin,
                int(implied),
                int(sensed),
                since,
                max(0.0, (now - since).total_seconds()),
            )
        )
    return out


def record_discrepancies(conn: Conn, *, now: datetime | None = None) -> tuple[int, int]:
    """Open or refresh a row per current discrepancy, close the others; (open, closed)."""
    now = now or datetime.now(UTC)
    with conn.transaction():
        conn.execute("LOCK TABLE stock_discrepancies IN SHARE ROW EXCLUSIVE MODE")
        current = reconcile(conn, now=now)
        with conn.cursor() as cur:
            for d in current:
                cur.execute(
                    "INSERT INTO stock_discrepancies (tenant_id, site_id, gtin, first_seen_at,"
                    " last_seen_at, implied, sensed) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (tenant_id, site_id, gtin) WHERE resolved_at IS NULL"
                    " DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at,"
                    " implied = EXCLUDED.implied, sensed = EXCLUDED.sensed",
                    (d.tenant_id, d.site_id, d.gtin, now, now, d.implied, d.sensed),
                )
            keys = [(d.tenant_id, d.site_id, d.gtin) for d in current]
            cur.execute(
                "UPDATE stock_discrepancies SET resolved_at = %s WHERE resolved_at IS NULL"
                " AND (tenant_id, site_id, gtin) NOT IN"
                " (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]))",
                (now, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
            )
            closed = cur.rowcount
    if current or closed:
        _logger.info("reconciliation: %d open discrepancies, %d closed", len(current), closed)
    return len(current), closed
