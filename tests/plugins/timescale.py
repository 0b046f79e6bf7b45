"""The PGlite+TimescaleDB stand-in, started by the tests on a free loopback port.

``deploy/pglite-timescale/server.mjs`` puts a PostgreSQL wire-protocol front on PGlite
(PostgreSQL 17 in WebAssembly) with TimescaleDB 2.23. It is a compatibility check of our
Timescale SQL, NOT a TimescaleDB server: one backend (use pool size 1), no background
workers (policies run only through ``CALL run_job(id)``), data in memory.

Node or the npm package missing skips locally and fails when ``CI=true`` (run
``scripts/bootstrap.sh``, which runs ``npm ci`` in deploy/pglite-timescale).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from channeltrace.services import free_port
from tests.plugins.services import missing_service_outcome

__all__ = ["TimescaleStandIn", "timescale_url"]

FRONT_DIR = Path(__file__).resolve().parents[2] / "deploy" / "pglite-timescale"
_START_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class TimescaleStandIn:
    url: str
    pid: int
    log_path: Path


def _missing(reason: str) -> None:
    if missing_service_outcome(os.environ) == "fail":
        pytest.fail(f"{reason} (CI=true: a missing service fails, it is never skipped)", False)
    pytest.skip(reason)


def _start(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    node = shutil.which("node")
    if node is None:
        _missing("node not found: apt-get install -y nodejs npm")
    if not (FRONT_DIR / "node_modules" / "@unni-craftsman" / "pglite").is_dir():
        _missing(f"npm packages missing: run `npm ci` in {FRONT_DIR} (scripts/bootstrap.sh)")
    port = free_port()
    log_path = workdir / "pglite.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(node), "server.mjs", "--port", str(port)],
            cwd=FRONT_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while b"listening" not in log_path.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            tail = log_path.read_text(errors="replace")[-2000:]
            pytest.fail(f"the PGlite+TimescaleDB stand-in did not start:\n{tail}", False)
        time.sleep(0.05)
    return proc, f"postgresql://postgres@127.0.0.1:{port}/postgres"


@pytest.fixture
def timescale_stand_in() -> Iterator[TimescaleStandIn]:
    """A fresh stand-in (empty in-memory database) for one test; stopped afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="ct-pglite-"))
    proc, url = _start(workdir)
    try:
        yield TimescaleStandIn(url, proc.pid, workdir / "pglite.log")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def timescale_url(timescale_stand_in: TimescaleStandIn) -> str:
    """``postgresql://`` URL of a fresh stand-in; connect one client at a time."""
    return timescale_stand_in.url
