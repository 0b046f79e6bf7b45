"""``channeltrace sim fleet`` against real Mosquitto + ingest + PostgreSQL, in both modes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from channeltrace.services import Mosquitto
from tests.integration._edge import count, ingest_worker
from tests.integration.processes import Background, channeltrace, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def broker_url(make_mosquitto: Callable[..., Mosquitto]) -> str:
    return make_mosquitto().url


@pytest.fixture
def ingest(broker_url: str, database_url: str, tmp_path: Path) -> Iterator[Background]:
    worker = ingest_worker(broker_url, database_url, tmp_path)
    yield worker
    worker.stop()


@pytest.mark.parametrize("mode", ["light", "agents"])
def test_fleet_delivers_climate_stock_and_custody(
    mode: str, ingest: Background, broker_url: str, database_url: str, tmp_path: Path
) -> None:
    result = channeltrace(
        [
            "sim",
            "fleet",
            "--mode",
            mode,
            "--warehouses",
            "3",
            "--interval",
            "0.1",
            "--scans-per-min",
            "300",
            "--duration",
            "4",
            "--mqtt-url",
            broker_url,
            "--database-url",
            database_url,
            "--dir",
            str(tmp_path / "fleet"),
        ]
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["fleet"] == "stopped"
    wait_for(
        lambda: (
            count(database_url, "SELECT count(DISTINCT device_id) FROM readings") == 3
            and count(database_url, "SELECT count(*) FROM scans") > 0
            and count(database_url, "SELECT count(*) FROM custody_inbox") > 0
        ),
        30,
        ingest.output,
    )
    assert count(database_url, "SELECT count(*) FROM dead_letters") == 0
    if mode == "light":
        assert count(database_url, "SELECT count(*) FROM readings") == summary["readings"]
    else:
        assert all(agent["exit"] == 0 for agent in summary["agents"])
