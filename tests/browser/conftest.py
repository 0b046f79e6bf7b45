"""Real headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright, and the
API app served by uvicorn on a free loopback port against the test's PostgreSQL.

``playwright install`` cannot download here, so the browser is the system's. One browser
per session, a fresh context (cookies, viewport) per test. Closing the browser and
stopping Playwright's driver lets the driver reap Chromium's processes; the fixture then
checks (by an environment marker every browser process inherits) that none is left.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from cloud.app import create_app
from cloud.settings import Settings
from tests.plugins.services import missing_service_outcome

CHROMIUM = Path(os.environ.get("CT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing(reason: str) -> None:
    if missing_service_outcome(os.environ) == "fail":
        pytest.fail(f"{reason} (CI=true: a missing browser fails, it is never skipped)", False)
    pytest.skip(reason)


_PR_SET_CHILD_SUBREAPER = 36


def _subreaper(on: bool) -> bool:
    """Adopt orphaned descendants (Chromium's crashpad and zygote double-fork away from the
    driver), so that they can be reaped here: the container's PID 1 does not reap."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _reap_adopted_browsers() -> list[int]:
    """Reap our exited children that are Chromium processes (never other children)."""
    reaped = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)
            comm = fields[0].split("(", 1)[1]
            state, ppid = fields[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        if state == "Z" and int(ppid) == os.getpid() and comm.startswith(("chrom", "chrome")):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(int(entry.name), 0)
                reaped.append(int(entry.name))
    return reaped


def _browser_pids(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


# Package scope, not session: Playwright's sync API keeps an asyncio loop marked running on
# the main thread while it is started, and later tests call asyncio.run().
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} not found: apt-get install -y chromium (scripts/bootstrap.sh)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install -e .[dev]")
    # An environment variable every process of this browser inherits names them in /proc.
    marker = f"CT_BROWSER_TEST={uuid.uuid4().hex}"
    adopting = _subreaper(True)
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            env={**os.environ, marker.split("=", maxsplit=1)[0]: marker.split("=")[1]},
        )
    except Exception:
        playwright.stop()
        _subreaper(False)
        raise
    try:
        yield chromium
    finally:
        chromium.close()
        playwright.stop()
        deadline = time.monotonic() + 10
        while _browser_pids(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        if adopting:
            time.sleep(0.2)  # let the last orphans exit
            _reap_adopted_browsers()
            _subreaper(False)
        left = _browser_pids(marker)
        assert not left, f"Chromium processes left running: {left}"


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(database_url) -> base URL``: the app under uvicorn on 127.0.0.1."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(database_url: str) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = create_app(Settings(database_url=database_url))
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        servers.append((server, thread))
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start within 15 s")
            time.sleep(0.05)
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(15)
