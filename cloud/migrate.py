"""Apply the versioned SQL migrations in ``cloud/migrations`` exactly once each.

Idempotent and safe to run from several processes at once: an advisory lock
serialises concurrent runs, and each migration commits with its version row.

The storage backend (plain PostgreSQL or TimescaleDB) is decided here, from catalog facts,
before any migration runs (:mod:`cloud.storage.selection`), and handed to the migrations
as the transaction-local setting ``channeltrace.storage_backend``: migration 0002 records
it in ``storage_backend`` and builds that backend's tables. Nothing tries
``CREATE EXTENSION`` to find out (on a server that has TimescaleDB's files but does not
preload it, that is a FATAL error that ends the session).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from cloud.errors import MigrationError
from cloud.storage.selection import BackendChoice, BackendRequest, choose_backend, read_catalog

__all__ = ["Migration", "MigrationResult", "apply_migrations", "available_migrations", "migrate"]

_logger = logging.getLogger(__name__)
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x43_54_4D_49  # "CTMI": a fixed advisory lock id for migrations
BACKEND_SETTING = "channeltrace.storage_backend"  # read by migration 0002


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True, slots=True)
class MigrationResult:
    applied: tuple[Migration, ...]  # by this call, in order
    storage: BackendChoice  # the database's storage backend and why


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


def migrate(database_url: str, *, backend: BackendRequest = "auto") -> list[Migration]:
    """Bring the schema up to date; returns the migrations applied by this call."""
    return list(apply_migrations(database_url, backend=backend).applied)


def apply_migrations(database_url: str, *, backend: BackendRequest = "auto") -> MigrationResult:
    """Bring the schema up to date; says what was applied and which storage backend is used.

    ``backend`` is ``auto`` (TimescaleDB when the server can run it, else plain PostgreSQL)
    or the backend the operator insists on; it only matters for a database whose schema is
    being created (the choice is recorded once). :class:`MigrationError` explains a refusal.
    """
    applied: list[Migration] = []
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                # First, before any DDL: TimescaleDB's event triggers load its library, which
                # is FATAL on a server that does not preload it.
                choice = choose_backend(read_catalog(conn), backend)
                _logger.info("%s", choice.describe())
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
                        conn.execute(
                            "SELECT set_config(%s, %s, true)", (BACKEND_SETTING, choice.backend)
                        )
                        conn.execute(migration.sql.encode("utf-8"))
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (migration.version, migration.name),
                        )
                    applied.append(migration)
            finally:
                if not (conn.closed or conn.broken):
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    except psycopg.Error as exc:
        raise MigrationError(f"migration failed: {exc}") from exc
    return MigrationResult(tuple(applied), choice)
