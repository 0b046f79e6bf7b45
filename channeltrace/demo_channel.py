"""Demo phase: the brand's channel, set up the way a brand does it (docs/channel-setup.md).

The operator creates the tenant and its brand manager; the manager's channel — four
distributors (a big distributor with a small one under it), seven sites, three products,
EPCIS location and party mappings — is imported from the CSV the demo ships
(``channeltrace/data/channel.csv``): a dry run first (no problems, nothing written), then
the import, then the same file again (nothing changes, nothing is logged).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from importlib.resources import files
from typing import Any

from channeltrace.demo_fleet import TENANT

__all__ = ["CHANNEL_CSV", "MANAGER", "load_channel"]

MANAGER = "ana@acme-wines"
CHANNEL_CSV = "channel.csv"
Say = Callable[[str], None]
Section = tuple[str, list[str]]


def channel_file() -> bytes:
    return (files("channeltrace") / "data" / CHANNEL_CSV).read_bytes()


def load_channel(database_url: str, say: Say) -> tuple[Section, str]:
    """Create the tenant and import its channel; returns the section and the manager's
    password (the console phase shows it)."""
    import psycopg

    from cloud.channel.changes import Actor
    from cloud.channel.geocode import default_geocoder
    from cloud.channel.importer import import_file
    from cloud.channel.people import create_tenant

    say("channel: creating the tenant and importing its channel from channel.csv ...")
    password = secrets.token_urlsafe(12)
    geocoder = default_geocoder()
    content = channel_file()
    manager = Actor(f"user:{MANAGER}", "cli")
    with psycopg.connect(database_url, autocommit=True) as conn:
        create_tenant(conn, TENANT, "Acme Wines", MANAGER, password,
                      Actor("demo:operator", "operator"))  # fmt: skip
        reports: list[Any] = [
            import_file(conn, TENANT, CHANNEL_CSV, "text/csv", content, manager, geocoder,
                        dry_run=dry)
            for dry in (True, False, False)
        ]
        regions = conn.execute(
            "SELECT id, region FROM sites WHERE tenant_id = %s ORDER BY id", (TENANT,)
        ).fetchall()
    dry, applied, again = reports
    if not applied.applied:
        raise RuntimeError(f"the demo's channel did not import: {applied.problems[:3]}")
    derived = ", ".join(f"{site} {region}" for site, region in regions)
    lines = [
        f"operator: `channeltrace cloud tenants create {TENANT}` with brand manager {MANAGER}",
        f"{CHANNEL_CSV} dry run: {dry.rows} rows, {dry.problem_count} problems, nothing written",
        f"imported: {_counts(applied.created)}",
        f"imported again: {sum(again.unchanged.values())} unchanged, "
        f"{sum(again.created.values()) + sum(again.updated.values())} changed (idempotent)",
        f"site regions (GB/T 2260, from the coordinates offline): {derived}",
    ]
    return ("Channel master data (docs/channel-setup.md)", lines), password


def _counts(bucket: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in bucket.items())
