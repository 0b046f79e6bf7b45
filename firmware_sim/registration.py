"""Register a whole simulated fleet in one round of set-based SQL (10,000 devices in ~1 s).

``cloud.registry.register_device`` is the one-device path (three statements in a
transaction per device); a fleet of thousands goes through ``unnest`` arrays instead,
with the same idempotent upserts and the same identifier and key checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from firmware_sim.loadgen import LoadDevice
from wire import format_public_key
from wire.topics import check_segment

__all__ = ["register_bulk"]


def register_bulk(conn: Any, devices: Sequence[LoadDevice], *, region: str = "load-test") -> int:
    """Upsert tenants, sites, devices and keys for ``devices``; ``conn`` is psycopg's.

    Idempotent like ``register_device``; a device already registered to another
    tenant or site is left where it is (its key is still added).
    """
    ids, tenants, sites, keys = [], [], [], []
    for d in devices:
        for value, what in ((d.device_id, "device"), (d.tenant, "tenant"), (d.site, "site")):
            check_segment(value, what)
        ids.append(d.device_id)
        tenants.append(d.tenant)
        sites.append(d.site)
        keys.append(format_public_key(d.key))
    with conn.transaction():
        conn.execute(
            "INSERT INTO tenants (id, name) SELECT DISTINCT t, t FROM unnest(%s::text[]) t"
            " ON CONFLICT (id) DO NOTHING",
            (tenants,),
        )
        conn.execute(
            "INSERT INTO sites (tenant_id, id, name, region)"
            " SELECT DISTINCT t, s, s, %s FROM unnest(%s::text[], %s::text[]) AS x(t, s)"
            " ON CONFLICT (tenant_id, id) DO NOTHING",
            (region, tenants, sites),
        )
        conn.execute(
            "INSERT INTO devices (id, tenant_id, site_id)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])"
            " ON CONFLICT (id) DO NOTHING",
            (ids, tenants, sites),
        )
        conn.execute(
            "INSERT INTO device_keys (device_id, public_key)"
            " SELECT * FROM unnest(%s::text[], %s::text[])"
            " ON CONFLICT (device_id, public_key) DO UPDATE SET retired_at = NULL",
            (ids, keys),
        )
    return len(ids)
