"""Names for identifiers: pages show a site's or distributor's name where custody events
name it by an EPCIS location or party (``urn:epc:id:sgln:…``, a PGLN, a Digital Link), or
by its id; the identifier stays on hover. Read through the page's scoped connection."""

from __future__ import annotations

from typing import Any

import psycopg

__all__ = ["channel_names"]


def channel_names(conn: psycopg.Connection[Any], tenant: str) -> dict[str, str]:
    """Site and distributor names by id, EPCIS location and EPCIS party."""
    rows = conn.execute(
        "SELECT id, name FROM sites WHERE tenant_id = %(t)s"
        " UNION ALL SELECT id, name FROM distributors WHERE tenant_id = %(t)s"
        " UNION ALL SELECT l.location, s.name FROM epcis_locations l"
        "  JOIN sites s ON (s.tenant_id, s.id) = (l.tenant_id, l.site_id)"
        "  WHERE l.tenant_id = %(t)s"
        " UNION ALL SELECT p.party, d.name FROM epcis_parties p"
        "  JOIN distributors d ON (d.tenant_id, d.id) = (p.tenant_id, p.distributor_id)"
        "  WHERE p.tenant_id = %(t)s",
        {"t": tenant},
    ).fetchall()
    return {str(k): str(v) for k, v in rows}
