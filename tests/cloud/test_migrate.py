"""Schema migrations against a real PostgreSQL: once each, safe to run concurrently."""

from __future__ import annotations

import threading

import psycopg
import pytest

from cloud.errors import MigrationError
from cloud.migrate import Migration, available_migrations, migrate

pytestmark = pytest.mark.integration

EXPECTED_TABLES = {
    "schema_migrations",
    "distributors",
    "products",
    "ingest_gaps",
    "tenants",
    "sites",
    "devices",
    "device_keys",
    "readings",
    "stock_counts",
    "scans",
    "custody_inbox",
    "ingest_log",
    "dead_letters",
}


def tables(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {str(r[0]) for r in rows}


def versions(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")
        return [(int(r[0]), str(r[1])) for r in rows]


def test_available_migrations_are_ordered_and_unique() -> None:
    found = available_migrations()
    versions = [m.version for m in found]
    assert versions == sorted(set(versions))
    assert found[0].name == "foundation"
    assert all(m.sql.strip() for m in found)


def test_migrate_applies_each_migration_once(database_url: str) -> None:
    first = migrate(database_url)
    assert (first[0].version, first[0].name) == (1, "foundation")
    assert first == available_migrations()
    assert tables(database_url) >= EXPECTED_TABLES
    assert versions(database_url) == [(m.version, m.name) for m in first]

    assert migrate(database_url) == []
    assert versions(database_url) == [(m.version, m.name) for m in first]


def test_concurrent_migrations_apply_once(database_url: str) -> None:
    barrier = threading.Barrier(2)
    results: list[list[Migration]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(migrate(database_url))
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(len(r) for r in results) == [0, len(available_migrations())]
    assert tables(database_url) >= EXPECTED_TABLES
    assert len(versions(database_url)) == len(available_migrations())


def test_unreachable_database_is_a_migration_error(database_url: str) -> None:
    # Same server, a database that does not exist.
    bad = database_url.rsplit("/", 1)[0] + "/ct_no_such_database"
    with pytest.raises(MigrationError, match="migration failed"):
        migrate(bad)


def test_failed_migration_leaves_no_version_row(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = 1")
    # 0001 now runs again and fails on its first CREATE TABLE; nothing is half-recorded.
    with pytest.raises(MigrationError, match="already exists"):
        migrate(database_url)
    assert 1 not in dict(versions(database_url))
