"""Chaos for two minutes (bench/chaos.py runs ten): 20 real agents behind TCP proxies, two
ingest workers, Mosquitto 2.0.11 with persistence and PostgreSQL (fsync on), with every
kind of fault injected at random times (channeltrace/chaos.py): broker kill -9, broker
restarted without its persistence file, ingest kill -9, PostgreSQL fast restart, agent
kill -9 and restart, an agent's network cut for 30 s, the broker restarted while every
ingest worker is down. At the end every reading taken is stored exactly once and every
sequence number an agent allocated is stored or reported."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from channeltrace.chaos import FAULTS, ChaosConfig, run_chaos
from channeltrace.services import Mosquitto, Postgres

pytestmark = pytest.mark.integration


def test_two_minutes_of_faults_lose_and_duplicate_nothing(
    make_mosquitto: Callable[..., Mosquitto],
    make_postgres: Callable[..., Postgres],
    tmp_path: Path,
) -> None:
    broker = make_mosquitto(persistence=True)
    pg = make_postgres()  # fsync on: a restart must not lose a commit the ingest receipted
    database_url = pg.create_database("chaos")
    lines: list[str] = []
    report = run_chaos(
        broker, pg, database_url, tmp_path / "chaos", ChaosConfig(duration_s=120, seed=13),
        say=lines.append,
    )  # fmt: skip
    figures = report.as_dict()
    print(json.dumps(figures))  # shown with -s; the assertions below say what failed
    log = "\n".join(lines)
    assert all(report.faults[kind] >= 1 for kind in FAULTS), log
    assert report.readings_taken > 10_000, figures
    assert report.evicted_readings == 0, figures
    assert report.readings_stored == report.readings_taken, figures
    assert report.duplicate_rows == 0, figures
    assert report.pending_after == 0, figures  # every outbox emptied by receipts
    assert report.seqs_missing == 0, figures  # every allocated seq stored or reported
    assert report.seqs_stored + report.seqs_evicted + report.seqs_not_held == (
        report.seqs_allocated
    )
    assert report.gaps_open_lost == 0, figures  # every gap recorded was backfilled
    assert report.dead_letters == {}, figures
    assert report.ok
