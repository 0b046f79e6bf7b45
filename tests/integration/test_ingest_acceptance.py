"""Issue 4 acceptance: the ingest on real Mosquitto and PostgreSQL, as real processes.

1. ``kill -9`` of the ingest three times and a PostgreSQL restart during a 200k-reading
   stream: stored rows equal readings sent, no duplicates.
2. Three workers share one stream: each stores part of it, totals exact.
3. Ten thousand hostile payloads: no crash, each dead-lettered with its reason, valid
   traffic unaffected.

The load comes from ``firmware_sim.tools.loadgen``: signed batches over QoS 1.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from channeltrace.services import Mosquitto, Postgres
from cloud.ingest.prepare import MAX_MESSAGE_BYTES
from firmware_sim.tools.loadgen import (
    LoadDevice,
    LoadResult,
    Publisher,
    make_fleet,
    register_fleet,
    run_load,
    telemetry_payload,
)
from tests.integration.processes import Background, channeltrace, wait_for
from wire import seal

pytestmark = pytest.mark.integration


# --------------------------------------------------------------------------- helpers


def _scalar(url: str, sql: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(sql.encode()).fetchone()
    assert row is not None
    return int(row[0] or 0)


def _readings(url: str) -> int:
    return _scalar(url, "SELECT count(*) FROM readings")


def _duplicated_readings(url: str) -> int:
    return _scalar(
        url,
        "SELECT count(*) FROM (SELECT device_id, seq, sensor, metric, time FROM readings"
        " GROUP BY 1, 2, 3, 4, 5 HAVING count(*) > 1) d",
    )


def _setup(url: str, fleet: list[LoadDevice]) -> None:
    channeltrace(["cloud", "migrate", "--database-url", url])
    with psycopg.connect(url) as conn:
        register_fleet(conn, fleet)


class Workers:
    """Ingest workers as real ``channeltrace cloud ingest`` processes."""

    def __init__(self, database_url: str, mqtt_url: str, logs: Path) -> None:
        self._args = ["cloud", "ingest", "--database-url", database_url, "--mqtt-url", mqtt_url]
        self._env = {"CT_INGEST_SHARE_GROUP": f"g{uuid.uuid4().hex[:8]}"}
        self._logs = logs
        self.running: dict[str, Background] = {}
        self.finished: list[Background] = []

    def start(self, client_id: str) -> Background:
        worker = Background(
            [*self._args, "--client-id", client_id], env=self._env,
            log=self._logs / f"{client_id}.log",
        )  # fmt: skip
        worker.wait_for_line("ingest ready")
        self.running[client_id] = worker
        return worker

    def kill(self, client_id: str) -> None:
        worker = self.running.pop(client_id)
        worker.kill()  # SIGKILL: no chance to finish, flush or acknowledge anything
        self.finished.append(worker)

    def stop_all(self) -> dict[str, dict[str, Any]]:
        """SIGTERM every worker; returns the JSON stats line each printed at exit."""
        stats = {}
        for client_id, worker in list(self.running.items()):
            assert worker.stop() == 0, worker.output()
            lines = [line for line in worker.lines if line.startswith('{"ingest"')]
            assert lines, worker.output()
            stats[client_id] = json.loads(lines[-1])
            self.finished.append(self.running.pop(client_id))
        return stats

    def output(self) -> str:
        return "\n".join(w.output() for w in [*self.finished, *self.running.values()])


@pytest.fixture
def workers_for(tmp_path: Path) -> Iterator[Callable[[str, str], Workers]]:
    made: list[Workers] = []

    def make(database_url: str, mqtt_url: str) -> Workers:
        made.append(Workers(database_url, mqtt_url, tmp_path))
        return made[-1]

    yield make
    for workers in made:
        for worker in workers.running.values():
            worker.kill()


def _publish_in_background(
    mqtt_url: str, fleet: list[LoadDevice], **load: Any
) -> tuple[threading.Thread, list[LoadResult]]:
    results: list[LoadResult] = []

    def run() -> None:
        publisher = Publisher(mqtt_url, window=500)
        try:
            results.append(run_load(publisher, fleet, **load))
        finally:
            publisher.close()

    thread = threading.Thread(target=run, name="loadgen", daemon=True)
    thread.start()
    return thread, results


# --------------------------------------------------------------------------- 1. crashes


def test_kill_nine_three_times_and_database_restart_lose_and_duplicate_nothing(
    make_mosquitto: Callable[..., Mosquitto],
    make_postgres: Callable[..., Postgres],
    workers_for: Callable[[str, str], Workers],
) -> None:
    broker = make_mosquitto(persistence=True)
    server = make_postgres()  # fsync on: a crash test must see real durability
    url = server.create_database("ct_crash")
    fleet = make_fleet(40, prefix="crash")
    _setup(url, fleet)
    workers = workers_for(url, broker.url)
    workers.start("ingest-a")

    # 4,000 messages x 50 readings = 200k readings over about 16 s.
    thread, results = _publish_in_background(
        broker.url, fleet, messages=4_000, readings_per_message=50, rate=250
    )
    began = time.monotonic()
    for at in (2.5, 5.0, 7.5):  # kill -9 mid-stream, restart with the same session
        time.sleep(max(0.0, began + at - time.monotonic()))
        workers.kill("ingest-a")
        workers.start("ingest-a")
    time.sleep(max(0.0, began + 10.0 - time.monotonic()))
    server.restart()  # the ingest must hold its batch unacknowledged and resume

    thread.join(timeout=60)
    assert results, "load generator did not finish"
    sent = results[0].readings
    assert sent == 200_000
    wait_for(lambda: _readings(url) >= sent, 60,
             lambda: f"{_readings(url)} of {sent} rows\n{workers.output()}")  # fmt: skip
    stats = workers.stop_all()

    assert _readings(url) == sent
    assert _duplicated_readings(url) == 0
    assert _scalar(url, "SELECT sum(item_count) FROM ingest_log") == sent
    assert _scalar(url, "SELECT count(*) FROM dead_letters") == 0
    assert stats["ingest-a"]["db_retries"] > 0, "the database restart was not noticed"
    assert "Traceback" not in workers.output()


# --------------------------------------------------------------------------- 2. sharing


def test_three_workers_share_one_stream_with_exact_totals(
    make_mosquitto: Callable[..., Mosquitto],
    database_url: str,
    workers_for: Callable[[str, str], Workers],
) -> None:
    broker = make_mosquitto()
    fleet = make_fleet(30, prefix="share")
    _setup(database_url, fleet)
    workers = workers_for(database_url, broker.url)
    for n in range(3):
        workers.start(f"ingest-{n}")

    thread, results = _publish_in_background(
        broker.url, fleet, messages=3_000, readings_per_message=20
    )
    thread.join(timeout=60)
    assert results, "load generator did not finish"
    sent = results[0].readings
    wait_for(lambda: _readings(database_url) >= sent, 60, workers.output)
    stats = workers.stop_all()

    assert set(stats) == {"ingest-0", "ingest-1", "ingest-2"}
    assert all(s["stored"] > 0 and s["rows"] > 0 for s in stats.values()), stats
    assert sum(s["stored"] for s in stats.values()) == 3_000
    assert sum(s["rows"] for s in stats.values()) == sent == _readings(database_url)
    assert sum(s["duplicates"] for s in stats.values()) == 0
    assert _duplicated_readings(database_url) == 0


# --------------------------------------------------------------------------- 3. hostile

HOSTILE_EACH = 1_660  # six kinds x 1,660 + 40 oversized = 10,000 hostile payloads
OVERSIZED = 40


def _hostile_payloads(victim: LoadDevice, stored_seqs: int) -> dict[str, list[bytes]]:
    """Every kind of hostile payload, on the victim device's real topic."""
    rng = random.Random(4)
    topic = victim.telemetry_topic
    now = datetime.now(UTC)
    stranger = Ed25519PrivateKey.generate()
    fresh = iter(range(1_000_000, 2_000_000))  # unused seqs of the victim

    def valid(seq: int, readings: int = 2, at: datetime = now) -> bytes:
        return seal(topic, seq, telemetry_payload(readings, at, seq), victim.key)

    future = now + timedelta(days=2)
    return {
        "random": [os.urandom(rng.randint(0, 400)) for _ in range(HOSTILE_EACH)],
        "truncated": [
            (m := valid(next(fresh)))[: rng.randint(1, len(m) - 1)] for _ in range(HOSTILE_EACH)
        ],
        "oversized": [b"CT" + os.urandom(MAX_MESSAGE_BYTES) for _ in range(OVERSIZED)],
        "wrong_schema": [
            seal(topic, next(fresh), json.dumps(doc).encode(), victim.key)
            for doc in (
                rng.choice([{"v": 1, "type": "telemetry"}, {"v": 2}, [1, 2], {"readings": "x"}])
                for _ in range(HOSTILE_EACH)
            )
        ],
        "bad_signature": [
            seal(topic, next(fresh), telemetry_payload(1, now), stranger)
            for _ in range(HOSTILE_EACH)
        ],
        # Seqs 1..stored_seqs were stored with other content: same seq, new bytes.
        "replay": [valid(1 + n % stored_seqs, readings=3) for n in range(HOSTILE_EACH)],
        "future": [valid(next(fresh), at=future) for _ in range(HOSTILE_EACH)],
    }


def test_ten_thousand_hostile_payloads_are_dead_lettered_with_their_reasons(
    make_mosquitto: Callable[..., Mosquitto],
    database_url: str,
    workers_for: Callable[[str, str], Workers],
) -> None:
    broker = make_mosquitto()
    fleet = make_fleet(10, prefix="good")
    victim = LoadDevice("victim-01", "acme", "wh-000")
    _setup(database_url, [*fleet, victim])
    workers = workers_for(database_url, broker.url)
    workers.start("ingest-h")

    stored_seqs = 50
    publisher = Publisher(broker.url, window=500)
    try:
        run_load(publisher, [victim], messages=stored_seqs, readings_per_message=1)
        wait_for(lambda: _readings(database_url) == stored_seqs, 30, workers.output)
        hostile = _hostile_payloads(victim, stored_seqs)
        assert sum(len(v) for v in hostile.values()) == 10_000

        # Valid traffic from the fleet runs during the attack.
        thread, results = _publish_in_background(
            broker.url, fleet, messages=1_000, readings_per_message=10
        )
        mixed = [(kind, data) for kind, items in hostile.items() for data in items]
        random.Random(7).shuffle(mixed)
        for _, data in mixed:
            publisher.publish(str(victim.telemetry_topic), data)
        publisher.flush()
        thread.join(timeout=60)
    finally:
        publisher.close()
    assert results, "load generator did not finish"
    valid_readings = stored_seqs + results[0].readings

    def dead_letters() -> int:
        return _scalar(database_url, "SELECT count(*) FROM dead_letters")

    wait_for(
        lambda: dead_letters() == 10_000 and _readings(database_url) == valid_readings, 60,
        lambda: f"{dead_letters()} dead letters, {_readings(database_url)} rows\n"
        + workers.output()[-5000:],
    )  # fmt: skip
    with psycopg.connect(database_url) as conn:
        reasons: dict[str, int] = dict(
            conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY reason").fetchall()
        )
        schema_detail = conn.execute(
            "SELECT count(*) FROM dead_letters WHERE reason = 'malformed'"
            " AND detail LIKE '%payload invalid%'"
        ).fetchone()
        kept = conn.execute(
            "SELECT max(length(payload)) FROM dead_letters WHERE reason = 'oversized'"
        ).fetchone()
    assert reasons == {
        "malformed": 3 * HOSTILE_EACH,  # random bytes, truncated envelopes, wrong schema
        "oversized": OVERSIZED,
        "bad_signature": HOSTILE_EACH,
        "replay": HOSTILE_EACH,
        "future_timestamp": HOSTILE_EACH,
    }
    assert schema_detail == (HOSTILE_EACH,)
    assert kept is not None
    assert kept[0] <= 64 * 1024
    assert _readings(database_url) == valid_readings  # nothing hostile stored, nothing lost
    assert _duplicated_readings(database_url) == 0

    stats = workers.stop_all()  # still running, exits cleanly
    assert stats["ingest-h"]["dead_letters"] == 10_000
    assert "Traceback" not in workers.output()
