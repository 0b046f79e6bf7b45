"""`cloud migrate` chooses the storage backend from the catalog, on real servers.

The servers come from the TimescaleDB copy of tests/plugins/timescale.py: its files are
installed, so on a server that does not preload the library ``CREATE EXTENSION
timescaledb`` is FATAL and closes the session (what broke migrate before).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from typer.testing import CliRunner

from channeltrace.cli import app
from channeltrace.services import Postgres, start_postgres
from cloud.errors import MigrationError
from cloud.migrate import apply_migrations, available_migrations

pytestmark = pytest.mark.integration


def cloud_migrate(url: str, *args: str) -> list[str]:
    result = CliRunner().invoke(app, ["cloud", "migrate", "--database-url", url, *args])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_installed_but_not_preloaded_chooses_postgresql_and_says_why(
    make_timescale: Callable[..., Postgres],
) -> None:
    server = make_timescale(preload=False)
    url = server.create_database("ct_plain")
    with psycopg.connect(url, autocommit=True) as conn:
        available = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
    assert available is not None  # the trap is armed: the files are there

    lines = cloud_migrate(url)

    assert lines[0] == (
        f"storage backend: postgresql (timescaledb {available[0]} is installed on the server"
        " but not in shared_preload_libraries)"
    )
    assert len(lines) == 1 + len(available_migrations())
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT backend FROM storage_backend").fetchone() == ("postgresql",)
        installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
        assert installed.fetchone() is None
        kind = conn.execute("SELECT relkind FROM pg_class WHERE relname = 'readings'").fetchone()
        assert kind == ("p",)  # partitioned by day
    assert cloud_migrate(url) == [
        "storage backend: postgresql (chosen when the schema was created)",
        "schema is up to date",
    ]


def test_preloaded_chooses_timescaledb(timescale_url: str) -> None:
    lines = cloud_migrate(timescale_url)

    assert lines[0].startswith("storage backend: timescaledb (timescaledb 2.")
    assert lines[0].endswith(" is available and in shared_preload_libraries)")
    with psycopg.connect(timescale_url, autocommit=True) as conn:
        assert conn.execute("SELECT backend FROM storage_backend").fetchone() == ("timescaledb",)
        hypertables = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1"
        ).fetchall()
        assert hypertables == [("readings",), ("scans",), ("stock_counts",)]
    assert cloud_migrate(timescale_url)[0] == (
        "storage backend: timescaledb (chosen when the schema was created)"
    )


def test_an_operator_can_keep_timescaledb_out(timescale_url: str) -> None:
    lines = cloud_migrate(timescale_url, "--backend", "postgresql")
    assert lines[0] == "storage backend: postgresql (requested with --backend postgresql)"
    with psycopg.connect(timescale_url, autocommit=True) as conn:
        assert conn.execute("SELECT backend FROM storage_backend").fetchone() == ("postgresql",)
        installed = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
        assert installed.fetchone() is None


def test_insisting_on_timescaledb_without_preload_is_refused_in_one_line(
    make_timescale: Callable[..., Postgres],
) -> None:
    url = make_timescale(preload=False).create_database("ct_refused")
    result = CliRunner().invoke(
        app, ["cloud", "migrate", "--database-url", url, "--backend", "timescaledb"]
    )
    assert result.exit_code != 0
    assert "--backend timescaledb refused" in result.output
    assert "shared_preload_libraries" in result.output
    with psycopg.connect(url, autocommit=True) as conn:  # nothing was created
        assert conn.execute("SELECT to_regclass('storage_backend')").fetchone() == (None,)


def test_a_timescaledb_schema_on_a_server_restarted_without_preload_is_refused(
    make_timescale: Callable[..., Postgres],
) -> None:
    preloaded = make_timescale()
    url = preloaded.create_database("ct_ts")
    assert apply_migrations(url).storage.backend == "timescaledb"
    preloaded.stop()
    # The same data directory, started without the library (an operator's config mistake).
    plain = start_postgres(
        preloaded.datadir.parent, port=preloaded.port, bindir=preloaded.bindir, fast=True
    )
    try:
        with pytest.raises(MigrationError, match="add timescaledb to shared_preload_libraries"):
            apply_migrations(url)
    finally:
        plain.stop()


def test_migration_0002_refuses_to_run_without_a_chosen_backend(database_url: str) -> None:
    """Run by hand (not through cloud migrate), 0002 stops instead of guessing."""
    foundation, storage = available_migrations()[:2]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(foundation.sql.encode())
        with pytest.raises(psycopg.errors.RaiseException, match="chosen by channeltrace cloud"):
            conn.execute(storage.sql.encode())
