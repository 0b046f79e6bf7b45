"""A real TimescaleDB for the tests, and the storage tests run on both backends.

``scripts/bootstrap.sh`` installs the TimescaleDB build from ``../shared/timescaledb/``
(CI has it; a user's clone does not) into a relocated copy of Debian's PostgreSQL 15 at
``.cache/timescaledb-pg15/`` (never into /usr: with TimescaleDB's files installed,
``CREATE EXTENSION`` on any server that does not preload it is FATAL). The fixtures start
servers from that copy:

- ``timescale_server`` (session): preloads TimescaleDB (telemetry off) with its background
  workers off, so nothing runs behind a test's back: tests run policies with
  ``CALL run_job(id)`` (on PostgreSQL 15.20 background jobs fail anyway; see
  docs/operations.md, "TimescaleDB jobs");
- ``timescale_url``: a fresh database on it, dropped after the test;
- ``make_timescale(preload=..., background_jobs=...)``: private servers from the same copy,
  e.g. with the files installed but the library not preloaded.

Outcomes when the server cannot run: no ``../shared/timescaledb/`` skips (a user's clone);
the build present but not installed or not starting fails when ``CI=true`` and skips with
what to run otherwise.

Both backends: ``database_url`` of the tests under :data:`BOTH_BACKENDS` (and of tests
marked ``both_backends``) is parametrized ``[postgresql]`` / ``[timescaledb]`` (only
``[postgresql]`` on a machine without the build, so a user's clone does not list hundreds
of skips). A test about one backend is marked ``storage_backend("postgresql")`` (or
``"timescaledb"``) and skips on the other.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from channeltrace.services import Postgres, ServiceError, start_postgres
from tests.plugins.services import missing_service_outcome, service_dir

__all__ = [
    "BOTH_BACKENDS",
    "PREFIX",
    "TESTED_POSTGRES_MAJOR",
    "TESTED_TIMESCALEDB",
    "make_timescale",
    "timescale_bindir",
    "timescale_server",
    "timescale_url",
]

ROOT = Path(__file__).resolve().parents[2]
SHARED_BUILD = ROOT.parent / "shared" / "timescaledb"
PREFIX = ROOT / ".cache" / "timescaledb-pg15"
_BINDIR = PREFIX / "usr" / "lib" / "postgresql" / "15" / "bin"
_LIBRARY = PREFIX / "usr" / "lib" / "postgresql" / "15" / "lib" / "timescaledb.so"

# Test directories whose database tests run on plain PostgreSQL and on TimescaleDB.
BOTH_BACKENDS = (
    "tests/cloud/storage",
    "tests/cloud/ingest",
    "tests/cloud/api",
    "tests/cloud/alerts",
)
BACKENDS = ("postgresql", "timescaledb")
# The TimescaleDB minor and PostgreSQL major of the build the tests run; deploy/compose.yml
# pins the same (tests/deploy/test_compose.py), the server is checked in test_timescale.py.
TESTED_TIMESCALEDB = "2.28"
TESTED_POSTGRES_MAJOR = 15

PRELOAD = {"shared_preload_libraries": "timescaledb", "timescaledb.telemetry_level": "off"}
# Private servers with background jobs: room for the launcher, one scheduler per database
# and the jobs themselves.
_WITH_JOBS = {"max_worker_processes": "32", "timescaledb.max_background_workers": "24"}
_WITHOUT_JOBS = {"timescaledb.max_background_workers": "0"}


def _unusable(reason: str) -> NoReturn:
    if missing_service_outcome(os.environ) == "fail":
        why = f"{reason} (CI=true and {SHARED_BUILD} is present: this must run)"
        pytest.fail(why, pytrace=False)
    pytest.skip(reason)


def timescale_bindir() -> Path:
    """The server binaries of the TimescaleDB copy, or skip/fail saying why."""
    if not SHARED_BUILD.is_dir():
        pytest.skip(
            f"no TimescaleDB build ({SHARED_BUILD} absent, as in a user's clone):"
            " the TimescaleDB tests run in CI"
        )
    if not (_BINDIR / "postgres").is_file() or not _LIBRARY.is_file():
        _unusable(
            f"TimescaleDB is not installed at {PREFIX}: run scripts/bootstrap.sh"
            " (as root, to upgrade postgresql-15 to 15.20+ first)"
        )
    return _BINDIR


def _start(workdir: Path, settings: dict[str, str]) -> Postgres:
    try:
        return start_postgres(workdir, fast=True, bindir=timescale_bindir(), settings=settings)
    except ServiceError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        _unusable(f"the TimescaleDB server from {PREFIX} did not start: {exc}")


@pytest.fixture(scope="session")
def timescale_server() -> Iterator[Postgres]:
    """PostgreSQL 15 preloading TimescaleDB, background jobs off (do not stop it)."""
    workdir = service_dir("ct-ts-")
    server = _start(workdir, {**PRELOAD, **_WITHOUT_JOBS})
    with server:
        yield server
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def timescale_url(timescale_server: Postgres) -> Iterator[str]:
    """URL of a fresh, empty database on the TimescaleDB server, dropped after the test."""
    name = f"ct_test_{uuid.uuid4().hex[:12]}"
    yield timescale_server.create_database(name)
    timescale_server.drop_database(name)


@pytest.fixture
def make_timescale() -> Iterator[Callable[..., Postgres]]:
    """Start private servers from the TimescaleDB copy; stopped after the test.

    ``preload=False`` leaves the library out of shared_preload_libraries (the files are
    installed: ``CREATE EXTENSION`` would be FATAL); ``background_jobs=True`` lets
    TimescaleDB's job scheduler run.
    """
    started: list[tuple[Postgres, Path]] = []

    def make(*, preload: bool = True, background_jobs: bool = False) -> Postgres:
        settings = {}
        if preload:
            settings = {**PRELOAD, **(_WITH_JOBS if background_jobs else _WITHOUT_JOBS)}
        workdir = service_dir("ct-ts-")
        server = _start(workdir, settings)
        started.append((server, workdir))
        return server

    yield make
    for server, workdir in reversed(started):
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------ both backends


def _runs_on_both(metafunc: pytest.Metafunc) -> bool:
    if metafunc.definition.get_closest_marker("both_backends") is not None:
        return True
    path = Path(str(metafunc.definition.path)).resolve()
    try:
        relative = path.relative_to(ROOT).as_posix()
    except ValueError:
        return False
    return relative.startswith(tuple(f"{d}/" for d in BOTH_BACKENDS))


def _timescale_expected() -> bool:
    """Whether this machine is meant to run TimescaleDB: CI (the build beside the
    repository) or a developer who installed the copy. A user's clone is not, and its
    storage tests then run once, on plain PostgreSQL, instead of skipping by the hundred."""
    return SHARED_BUILD.is_dir() or _LIBRARY.is_file()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" not in metafunc.fixturenames or not _runs_on_both(metafunc):
        return
    backends = BACKENDS if _timescale_expected() else BACKENDS[:1]
    metafunc.parametrize("database_url", backends, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("storage_backend")
        if marker is None:
            continue
        wanted = marker.args[0] if marker.args else None
        if wanted not in BACKENDS:
            raise pytest.UsageError(
                f"{item.nodeid}: storage_backend(...) expects one of {BACKENDS}, got {wanted!r}"
            )
        callspec = getattr(item, "callspec", None)
        running = callspec.params.get("database_url") if callspec is not None else None
        if running is not None and running != wanted:
            item.add_marker(pytest.mark.skip(reason=f"about {wanted} storage, not {running}"))
