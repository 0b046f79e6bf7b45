"""Real-service fixtures: Mosquitto and PostgreSQL, started by the tests themselves.

Session-scoped servers are shared by every test: never stop or kill them (use the
``make_mosquitto`` / ``make_postgres`` factories for a private server to restart or crash).
A missing binary skips locally and fails when ``CI=true``: CI must never go green by
skipping the integration tests.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, NoReturn

import pytest

from channeltrace.services import (
    Mosquitto,
    Postgres,
    ServiceUnavailable,
    start_mosquitto,
    start_postgres,
)

__all__ = [
    "background_processes_stopped",
    "database_url",
    "make_mosquitto",
    "make_postgres",
    "missing_service_outcome",
    "mosquitto",
    "mosquitto_url",
    "postgres",
    "service_dir",
]


def missing_service_outcome(env: Mapping[str, str]) -> Literal["skip", "fail"]:
    """What a test does when a service's binary is missing: fail in CI, skip elsewhere."""
    return "fail" if env.get("CI", "").strip().lower() in {"true", "1", "yes"} else "skip"


def _service_missing(reason: str) -> NoReturn:
    if missing_service_outcome(os.environ) == "fail":
        pytest.fail(f"{reason} (CI=true: a missing service fails, it is never skipped)", False)
    pytest.skip(reason)


def service_dir(prefix: str) -> Path:
    """A new work directory for a server (mode 0755)."""
    # Not tmp_path_factory: its /tmp/pytest-of-root is 0700, and PostgreSQL and Mosquitto
    # drop root privileges to their own users, who must be able to enter the directory.
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


@pytest.fixture(autouse=True)
def background_processes_stopped() -> Iterator[None]:
    """A test that failed before stopping its ``channeltrace`` subprocesses does not leave
    them (and their pipes) to the tests after it."""
    yield
    processes = sys.modules.get("tests.integration.processes")
    if processes is not None:
        processes.stop_leftovers()


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    """A broker on a free loopback port for the whole session (do not stop it)."""
    workdir = service_dir("ct-mq-")
    try:
        broker = start_mosquitto(workdir)
    except ServiceUnavailable as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        _service_missing(str(exc))
    with broker:
        yield broker
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def mosquitto_url(mosquitto: Mosquitto) -> str:
    """``mqtt://127.0.0.1:PORT`` of the session broker."""
    return mosquitto.url


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server for the whole session, fsync off (do not stop or kill it)."""
    workdir = service_dir("ct-pg-")
    try:
        server = start_postgres(workdir, fast=True)
    except ServiceUnavailable as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        _service_missing(str(exc))
    with server:
        yield server
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a fresh, empty database on a session server, dropped after the test.

    Plain PostgreSQL (``postgres``) unless the test is parametrized ``[timescaledb]``
    (tests/plugins/timescale.py runs the storage, ingest, API and alert tests on both).
    """
    backend = getattr(request, "param", "postgresql")
    fixture = "timescale_server" if backend == "timescaledb" else "postgres"
    server: Postgres = request.getfixturevalue(fixture)
    name = f"ct_test_{uuid.uuid4().hex[:12]}"
    url = server.create_database(name)
    yield url
    server.drop_database(name)


def _factory(
    start: Callable[..., Mosquitto | Postgres], prefix: str
) -> Iterator[Callable[..., Any]]:
    started: list[tuple[Mosquitto | Postgres, Path]] = []

    def make(**options: Any) -> Mosquitto | Postgres:
        workdir = service_dir(prefix)
        try:
            service = start(workdir, **options)
        except ServiceUnavailable as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            _service_missing(str(exc))
        started.append((service, workdir))
        return service

    yield make
    for service, workdir in reversed(started):
        service.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def make_mosquitto() -> Iterator[Callable[..., Mosquitto]]:
    """Start private brokers (``make_mosquitto(persistence=True)``); stopped after the test."""
    yield from _factory(start_mosquitto, "ct-mq-")


@pytest.fixture
def make_postgres() -> Iterator[Callable[..., Postgres]]:
    """Start private PostgreSQL servers (fsync on unless ``fast=True``) to restart or crash."""
    yield from _factory(start_postgres, "ct-pg-")
