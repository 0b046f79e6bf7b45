"""The demo's console section against a real app under uvicorn and real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from channeltrace.demo_api import serve_api
from channeltrace.demo_console import run_console
from tests.cloud.console.world import build_world

pytestmark = pytest.mark.integration


def test_console_section_logs_in_and_reads_the_map(database_url: str, tmp_path: Path) -> None:
    build_world(database_url, tmp_path / "keys")
    said: list[str] = []
    with serve_api(database_url, tenant="acme") as api:
        sections = run_console(database_url, api.base_url, said.append, tenant="acme")
    [(title, lines)] = sections
    assert title.startswith("Console")
    assert lines[0].startswith(f"{api.base_url}/console/")
    assert lines[1] == "channel map: 3 sites (1 offline, 1 ok, 1 unmonitored)"
    assert lines[2] == "alert inbox: none open"
    assert said == ["console: logged in through the login form; map and alert inbox rendered"]
