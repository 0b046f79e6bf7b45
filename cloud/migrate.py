"""Apply the versioned SQL migrations in ``cloud/migrations`` exactly once each.

Idempotent and safe to run from several processes at once: an advisory lock
serialises concurrent runs, and each migration commits with its version row.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from cloud.errors import MigrationError

__all__ = ["Migration", "available_migrations", "migrate"]

_logger = logging.getLogger(__name__)
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x43_54_4D_49  # "CTMI": a fixed advisory lock id for migrations


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files("cloud.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number: {versions}")
    return found


def migrate(database_url: str) -> list[Migration]:
    """Bring the schema up to date; returns the migrations applied by this call."""
    applied: list[Migration] = []
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
                for migration in available_migrations():
                    if migration.version in done:
                        continue
                    _logger.info("applying migration %04d_%s", migration.version, migration.name)
                    with conn.transaction():
                        conn.execute(migration.sql.encode("utf-8"))
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (migration.version, migration.name),
                        )
                    applied.append(migration)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    except psycopg.Error as exc:
        raise MigrationError(f"migration failed: {exc}") from exc
    return applied
