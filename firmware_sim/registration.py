"""Register a whole simulated fleet in one round of set-based SQL (10,000 devices in ~1 s).

``cloud.registry.register_device`` is the one-device path (three statements in a
transaction per device); a fleet of thousands goes through ``unnest`` arrays instead,
with the same idempotent upserts and the same identifier and key checks. The fleet's
tenants and sites are channel master data: they are created through the channel's bulk
interface (:mod:`cloud.channel.bulk`), which logs each creation; devices and their keys
are the registry's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from firmware_sim.loadgen import LoadDevice
from wire import format_public_key
from wire.topics import check_segment

__all__ = ["register_bulk"]


def register_bulk(conn: Any, devices: Sequence[LoadDevice], *, region: str | None = None) -> int:
    """Upsert tenants, sites, devices and keys for ``devices``; ``conn`` is psycopg's.

    Idempotent like ``register_device``; a device already registered to another
    tenant or site is left where it is (its key is still added). ``region`` (a GB/T 2260
    code) is given to the sites this creates.
    """
    from cloud.channel.bulk import ensure_sites, ensure_tenants
    from cloud.channel.changes import Actor
    from cloud.channel.records import Site

    ids, tenants, sites, keys = [], [], [], []
    for d in devices:
        for value, what in ((d.device_id, "device"), (d.tenant, "tenant"), (d.site, "site")):
            check_segment(value, what)
        ids.append(d.device_id)
        tenants.append(d.tenant)
        sites.append(d.site)
        keys.append(format_public_key(d.key))
    actor = Actor("sim:fleet", "operator")
    with conn.transaction():
        ensure_tenants(conn, [(t, t) for t in dict.fromkeys(tenants)], actor)
        pairs = dict.fromkeys(zip(tenants, sites, strict=True))
        ensure_sites(conn, [(t, Site(s, s, region=region)) for t, s in pairs], actor)
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
