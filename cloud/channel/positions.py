"""Stock positions: per site and product, what custody says is there (ledger-implied) beside
what the site's sensors count (sensed), and the difference.

The definitions are those of the reconciliation (:mod:`cloud.provenance.reconciliation`,
whose discrepancies tests/cloud/channel check this against): *implied* is serialised units
whose custody is ``at_site`` there plus class-level quantities received − shipped − sold
(error declarations excluded); *sensed* is the latest count per shelf/location summed. The
reconciliation reports only monitored sites that differ; a stock view needs every position,
including a site whose stock nobody counts (``sensed`` None: "not counted", which is not
zero) and a product counted but never received (implied 0).

Reads run under the caller's row-level security (the console and API pass a scoped
connection): a distributor sees the positions of its own sites.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg

__all__ = ["Position", "stock_positions"]

Conn = psycopg.Connection[Any]

_SQL: Final = """
WITH located AS (
    SELECT l.tenant_id, l.site_id, u.gtin, count(*)::bigint AS n, max(u.last_event_time) AS t
    FROM units u JOIN epcis_locations l ON (l.tenant_id, l.location) = (u.tenant_id, u.site)
    WHERE u.status = 'at_site' AND u.gtin IS NOT NULL AND u.tenant_id = %(tenant)s
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
    WHERE c.tenant_id = %(tenant)s AND NOT c.error_declared
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
    SELECT DISTINCT ON (site_id, gtin, location) site_id, gtin, quantity, time
    FROM stock_counts WHERE tenant_id = %(tenant)s
    ORDER BY site_id, gtin, location, time DESC, received_at DESC
), sensed AS (
    SELECT site_id, gtin, sum(quantity)::bigint AS n, max(time) AS t FROM latest GROUP BY 1, 2
), monitored AS (
    SELECT DISTINCT site_id FROM sensed
)
SELECT coalesce(i.site_id, s.site_id) AS site_id, coalesce(i.gtin, s.gtin) AS gtin,
       coalesce(i.n, 0) AS implied, i.t AS implied_at,
       CASE WHEN m.site_id IS NULL THEN NULL ELSE coalesce(s.n, 0) END AS sensed,
       s.t AS sensed_at
FROM implied i
FULL JOIN sensed s ON (s.site_id, s.gtin) = (i.site_id, i.gtin)
LEFT JOIN monitored m ON m.site_id = coalesce(i.site_id, s.site_id)
WHERE (%(site)s::text IS NULL OR coalesce(i.site_id, s.site_id) = %(site)s)
ORDER BY 1, 2
"""


@dataclass(frozen=True, slots=True)
class Position:
    site_id: str
    gtin: str
    implied: int
    implied_at: datetime | None  # the newest custody evidence
    sensed: int | None  # None: the site counts no stock
    sensed_at: datetime | None  # the newest count included

    @property
    def difference(self) -> int | None:
        """Sensed minus implied (negative: units custody says are there are missing)."""
        return None if self.sensed is None else self.sensed - self.implied


def stock_positions(conn: Conn, tenant: str, *, site: str | None = None) -> list[Position]:
    """Every (site, product) with custody or counts, by site and GTIN."""
    rows = conn.execute(_SQL, {"tenant": tenant, "site": site}).fetchall()
    return [
        Position(str(r[0]), str(r[1]), int(r[2]), r[3], None if r[4] is None else int(r[4]), r[5])
        for r in rows
    ]
