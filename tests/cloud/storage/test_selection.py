"""Choosing the storage backend from catalog facts (pure; the servers are in
test_backend_choice.py)."""

from __future__ import annotations

import pytest

from cloud.errors import MigrationError
from cloud.storage.backend import BackendName
from cloud.storage.selection import CatalogFacts, choose_backend, parse_preload


def facts(
    available: str | None = "2.28.3",
    installed: str | None = None,
    preloaded: bool = True,
    recorded: BackendName | None = None,
) -> CatalogFacts:
    return CatalogFacts(available, installed, preloaded, recorded)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("", ()),
        ("timescaledb", ("timescaledb",)),
        ("pg_stat_statements, timescaledb", ("pg_stat_statements", "timescaledb")),
        ('"timescaledb" ,auto_explain', ("timescaledb", "auto_explain")),
        ("$libdir/timescaledb", ("timescaledb",)),
        (" , ", ()),
    ],
)
def test_preload_setting_is_parsed_like_postgresql_lists_it(
    setting: str, expected: tuple[str, ...]
) -> None:
    assert parse_preload(setting) == expected


def test_timescaledb_when_available_and_preloaded() -> None:
    choice = choose_backend(facts())
    assert choice.backend == "timescaledb"
    assert choice.describe() == (
        "storage backend: timescaledb"
        " (timescaledb 2.28.3 is available and in shared_preload_libraries)"
    )
    installed = choose_backend(facts(installed="2.28.3"))
    assert installed.backend == "timescaledb"
    assert "installed in this database" in installed.reason


def test_installed_on_the_server_but_not_preloaded_is_plain_postgresql_with_the_reason() -> None:
    choice = choose_backend(facts(preloaded=False))
    assert choice.backend == "postgresql"
    assert choice.reason == (
        "timescaledb 2.28.3 is installed on the server but not in shared_preload_libraries"
    )


def test_no_extension_is_plain_postgresql() -> None:
    choice = choose_backend(facts(available=None, preloaded=False))
    assert choice.backend == "postgresql"
    assert choice.reason == "the timescaledb extension is not installed on this server"


def test_a_timescaledb_too_old_for_the_schema_is_not_used() -> None:
    choice = choose_backend(facts(available="2.11.2"))
    assert (choice.backend, choice.reason) == (
        "postgresql",
        "timescaledb 2.11.2 is older than 2.13, which the schema needs",
    )


def test_the_recorded_choice_stands() -> None:
    assert choose_backend(facts(recorded="timescaledb")).reason == (
        "chosen when the schema was created"
    )
    plain = choose_backend(facts(recorded="postgresql"))
    assert plain.backend == "postgresql"
    assert "now available too" in plain.reason  # says how to move, does not move
    assert choose_backend(facts(available=None, recorded="postgresql")).reason == (
        "chosen when the schema was created"
    )


def test_a_timescaledb_schema_on_a_server_that_stopped_preloading_is_refused() -> None:
    with pytest.raises(MigrationError, match="add timescaledb to shared_preload_libraries"):
        choose_backend(facts(installed="2.28.3", preloaded=False, recorded="timescaledb"))


def test_an_extension_in_the_database_without_preload_is_refused_before_any_choice() -> None:
    with pytest.raises(MigrationError, match=r"installed in this database .* DROP EXTENSION"):
        choose_backend(facts(installed="2.28.3", preloaded=False))


def test_an_operator_may_insist_on_a_backend() -> None:
    assert choose_backend(facts(), "postgresql").backend == "postgresql"
    assert choose_backend(facts(), "timescaledb").backend == "timescaledb"
    with pytest.raises(MigrationError, match=r"--backend timescaledb refused: .* not in shared"):
        choose_backend(facts(preloaded=False), "timescaledb")
    with pytest.raises(MigrationError, match="already uses postgresql"):
        choose_backend(facts(recorded="postgresql"), "timescaledb")
