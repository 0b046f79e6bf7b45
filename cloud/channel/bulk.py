"""Many tenants and sites at once, set-based (a simulated fleet of 10,000 warehouses, a
migration from another system): only what does not exist yet is created, and each
creation is logged in the change log by the same statement. Existing records are never
changed here; :func:`cloud.channel.store.save_record` and the importer update them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from cloud.channel.changes import Actor
from cloud.channel.errors import FieldProblem, InvalidRecord
from cloud.channel.records import Site
from wire import WireError
from wire.topics import check_segment

__all__ = ["ensure_sites", "ensure_tenants"]

Conn = psycopg.Connection[Any]


def _check(value: str, what: str) -> None:
    try:
        check_segment(value, what)
    except WireError as exc:
        raise InvalidRecord(what, [FieldProblem("id", "an id usable in MQTT topics",
                                                str(exc))]) from None  # fmt: skip


def ensure_tenants(conn: Conn, tenants: Sequence[tuple[str, str]], actor: Actor) -> int:
    """Create the ``(id, name)`` tenants that do not exist; returns how many were created."""
    for ident, _ in tenants:
        _check(ident, "tenant")
    unique = dict(tenants)
    row = conn.execute(
        "WITH new AS (INSERT INTO tenants (id, name) SELECT * FROM unnest(%s::text[], %s::text[])"
        " ON CONFLICT (id) DO NOTHING RETURNING id, name),"
        " logged AS (INSERT INTO channel_changes (tenant_id, actor, via, entity, key, action,"
        " after) SELECT id, %s, %s, 'tenant', id, 'create', jsonb_build_object('id', id,"
        " 'name', name) FROM new RETURNING 1) SELECT count(*) FROM logged",
        (list(unique), list(unique.values()), actor.subject, actor.via),
    ).fetchone()
    return int(row[0]) if row else 0


def ensure_sites(conn: Conn, sites: Sequence[tuple[str, Site]], actor: Actor) -> int:
    """Create the ``(tenant, site)`` sites that do not exist; returns how many were created.

    The records are taken as they are (already checked: :func:`parse_record` or built in
    code); their ids must be usable in MQTT topics, like every site's."""
    for tenant, site in sites:
        _check(tenant, "tenant")
        _check(site.id, "site")
    unique = {(t, s.id): s for t, s in sites}
    columns: list[list[Any]] = [[] for _ in range(8)]
    for (tenant, _), s in unique.items():
        for i, value in enumerate((tenant, s.id, s.name, s.address, s.latitude, s.longitude,
                                   s.region, s.distributor_id)):  # fmt: skip
            columns[i].append(value)
    row = conn.execute(
        "WITH new AS (INSERT INTO sites (tenant_id, id, name, address, latitude, longitude,"
        " region, distributor_id) SELECT * FROM unnest(%s::text[], %s::text[], %s::text[],"
        " %s::text[], %s::float8[], %s::float8[], %s::text[], %s::text[])"
        " ON CONFLICT (tenant_id, id) DO NOTHING RETURNING *),"
        " logged AS (INSERT INTO channel_changes (tenant_id, actor, via, entity, key, action,"
        " after) SELECT tenant_id, %s, %s, 'site', id, 'create', jsonb_build_object('id', id,"
        " 'name', name, 'address', address, 'latitude', latitude, 'longitude', longitude,"
        " 'region', region, 'distributor_id', distributor_id) FROM new RETURNING 1)"
        " SELECT count(*) FROM logged",
        (*columns, actor.subject, actor.via),
    ).fetchone()
    return int(row[0]) if row else 0
