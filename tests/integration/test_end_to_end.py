"""Edge agent -> Mosquitto -> ingest -> PostgreSQL, as three real processes.

N readings taken by the agent become exactly N rows; every kind of bad message
lands in dead letters with its reason and raw bytes while valid traffic goes on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from channeltrace.services import Mosquitto
from tests.integration.processes import Background, channeltrace, wait_for
from wire import Kind, Metric, Reading, TelemetryBatch, Topic, load_private_key, seal, seal_payload
from wire.broker import parse_mqtt_url

pytestmark = pytest.mark.integration

SAMPLES = 150  # one simulated probe: 2 readings (temperature, humidity) per sample


def _provision(tmp_path: Path, mosquitto_url: str, database_url: str, device: str) -> Path:
    directory = tmp_path / device
    channeltrace(
        ["edge", "provision", "--device", device, "--tenant", "acme", "--site", "wh-sh-01",
         "--sensor", "sim", "--broker", mosquitto_url, "--dir", str(directory)]
    )  # fmt: skip
    config = directory / "agent.toml"
    # Sample fast so the test is quick; batches stay small so there are many messages.
    text = config.read_text().replace("interval_s = 1.0", "interval_s = 0.01")
    text = text.replace("batch_max_readings = 500", "batch_max_readings = 16")
    config.write_text(text)
    channeltrace(["cloud", "register", str(directory / "registration.json"),
                  "--database-url", database_url])  # fmt: skip
    return directory


def _run_agent(directory: Path, samples: int) -> dict[str, int]:
    result = channeltrace(["edge", "run", "--config", str(directory / "agent.toml"),
                           "--samples", str(samples)])  # fmt: skip
    summary: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def _publish_raw(mosquitto_url: str, messages: list[tuple[str, bytes]]) -> None:
    broker = parse_mqtt_url(mosquitto_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"hostile-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for topic, data in messages:
            client.publish(topic, data, qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def _count(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql.encode()).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def mosquitto_url(make_mosquitto: Callable[..., Mosquitto]) -> str:
    """A private broker per test: retained state of one test must not leak into the next."""
    return make_mosquitto().url


@pytest.fixture
def ingest(mosquitto_url: str, database_url: str, tmp_path: Path) -> Iterator[Background]:
    channeltrace(["cloud", "migrate", "--database-url", database_url])
    worker = Background(
        ["cloud", "ingest", "--database-url", database_url, "--mqtt-url", mosquitto_url,
         "--client-id", f"ingest-{uuid.uuid4().hex[:8]}"],
        env={"CT_INGEST_SHARE_GROUP": f"g{uuid.uuid4().hex[:8]}"},
        log=tmp_path / "ingest.log",
    )  # fmt: skip
    worker.wait_for_line("ingest ready")
    yield worker
    worker.stop()


def test_readings_stored_exactly_once_and_bad_messages_dead_lettered(
    ingest: Background, mosquitto_url: str, database_url: str, tmp_path: Path
) -> None:
    device_dir = _provision(tmp_path, mosquitto_url, database_url, "gw-0001")

    first = _run_agent(device_dir, SAMPLES)
    assert first["readings"] == 2 * SAMPLES
    assert first["pending_items"] == 0
    assert first["pending_messages"] == 0
    wait_for(
        lambda: _count(database_url, "SELECT count(*) FROM readings") == 2 * SAMPLES,
        30,
        lambda: (
            f"rows: {_count(database_url, 'SELECT count(*) FROM readings')}\n" + ingest.output()
        ),
    )

    # --- hostile traffic, each kind once -------------------------------------------------
    key = load_private_key(device_dir / "device.pem")
    topic = Topic("acme", "wh-sh-01", "gw-0001", Kind.TELEMETRY)
    now = datetime.now(UTC)
    batch = TelemetryBatch(
        sent_at=now,
        readings=[Reading(sensor="probe-x", metric=Metric.TEMPERATURE_C, ts=now, value=99.0)],
    )
    used_seq = 5  # already stored by the agent's run above
    stranger = Ed25519PrivateKey.generate()
    hostile = {
        "malformed": (str(topic), b"\x00garbage, not an envelope"),
        "unknown_device": (
            str(Topic("acme", "wh-sh-01", "gw-9999", Kind.TELEMETRY)),
            seal_payload(Topic("acme", "wh-sh-01", "gw-9999", Kind.TELEMETRY), 1, batch, stranger),
        ),
        "bad_signature": (str(topic), seal_payload(topic, 10_000, batch, stranger)),
        "replay": (str(topic), seal_payload(topic, used_seq, batch, key)),
        "bad_topic": (
            str(Topic("acme", "wh-elsewhere", "gw-0001", Kind.TELEMETRY)),
            seal_payload(
                Topic("acme", "wh-elsewhere", "gw-0001", Kind.TELEMETRY), 10_001, batch, key
            ),
        ),
    }
    # A signed but schema-invalid payload is malformed too, and must not stop anything.
    signed_junk = seal(topic, 10_002, b'{"v":1,"type":"telemetry"}', key)
    # An identical redelivery of a stored message is absorbed, not stored twice.
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT max(seq) FROM ingest_log WHERE kind = 'telemetry'").fetchone()
    assert row is not None
    _publish_raw(mosquitto_url, [*hostile.values(), (str(topic), signed_junk)])

    second = _run_agent(device_dir, SAMPLES)  # valid traffic continues after the attack
    assert second["readings"] == 2 * SAMPLES
    total = 4 * SAMPLES
    wait_for(
        lambda: (
            _count(database_url, "SELECT count(*) FROM readings") == total
            and _count(database_url, "SELECT count(*) FROM dead_letters") == len(hostile) + 1
        ),
        30,
        lambda: (
            f"rows {_count(database_url, 'SELECT count(*) FROM readings')} of {total}, "
            f"dead letters {_count(database_url, 'SELECT count(*) FROM dead_letters')}\n"
            + ingest.output()
        ),
    )
    with psycopg.connect(database_url) as conn:
        dead = conn.execute("SELECT reason, topic, payload, detail FROM dead_letters").fetchall()
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT device_id, sensor, metric, time FROM readings"
            " GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d"
        ).fetchone()
        spoofed = conn.execute("SELECT count(*) FROM readings WHERE value = 99.0").fetchone()
    by_reason: dict[str, list[tuple[str, bytes, str]]] = {}
    for reason, dead_topic, payload, detail in dead:
        by_reason.setdefault(reason, []).append((dead_topic, bytes(payload), detail))
    for reason, (sent_topic, sent_bytes) in hostile.items():
        assert (sent_topic, sent_bytes) in [(t, p) for t, p, _ in by_reason[reason]], reason
    assert len(by_reason["malformed"]) == 2
    assert any("payload invalid" in detail for _, _, detail in by_reason["malformed"])
    assert duplicates == (0,)
    assert spoofed == (0,)
    assert "Traceback" not in ingest.output()


def test_identical_redelivery_is_absorbed(
    ingest: Background, mosquitto_url: str, database_url: str, tmp_path: Path
) -> None:
    device_dir = _provision(tmp_path, mosquitto_url, database_url, "gw-0002")
    key = load_private_key(device_dir / "device.pem")
    topic = Topic("acme", "wh-sh-01", "gw-0002", Kind.TELEMETRY)
    now = datetime.now(UTC)
    batch = TelemetryBatch(
        sent_at=now,
        readings=[Reading(sensor="p", metric=Metric.HUMIDITY_PCT, ts=now, value=55.5)],
    )
    data = seal_payload(topic, 1, batch, key)
    _publish_raw(mosquitto_url, [(str(topic), data), (str(topic), data), (str(topic), data)])
    wait_for(
        lambda: _count(database_url, "SELECT coalesce(sum(duplicates), 0) FROM ingest_log") == 2,
        30,
        ingest.output,
    )
    assert _count(database_url, "SELECT count(*) FROM readings") == 1
    with psycopg.connect(database_url) as conn:
        dead = conn.execute("SELECT reason, topic, detail FROM dead_letters").fetchall()
    assert dead == []
