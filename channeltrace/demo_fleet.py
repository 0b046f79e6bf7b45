"""Demo phase: simulated warehouses streaming through the real edge agent and ingest.

Shows durable delivery (a broker outage mid-stream loses nothing), remote config applied
live, and that forged, tampered and replayed messages are refused.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["FLEET", "TENANT", "FleetOutcome", "count_rows", "provision_fleet", "run_fleet"]

# (device, site, region, storage profile): a brand's wine and dairy at three distributors.
# The sites themselves come from the channel the demo imports (channeltrace/data/channel.csv);
# regions are GB/T 2260 codes, as there.
FLEET = [
    ("gw-sh-01", "wh-shanghai", "310000", "wine"),
    ("gw-bj-01", "wh-beijing", "110000", "dairy"),
    ("gw-gz-01", "wh-guangzhou", "440000", "wine"),
]
TENANT = "acme-wines"
Say = Callable[[str], None]


@dataclass
class FleetOutcome:
    readings_taken: int = 0
    config_ack: dict[str, Any] = field(default_factory=dict)
    outage_s: float = 0.0


def count_rows(database_url: str, sql: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql.encode()).fetchone()
    return int(row[0]) if row is not None else 0


def provision_fleet(
    workdir: Path, mqtt_url: str, database_url: str, interval: float, config_public_key: str
) -> list[Any]:
    import psycopg

    from cloud.registry import DeviceRegistration, register_device
    from edge.agent import Agent
    from edge.config import load_config
    from edge.provision import SensorChoice, provision

    agents: list[Agent] = []
    with psycopg.connect(database_url) as conn:
        for device, site, region, profile in FLEET:
            prov = provision(workdir / "devices" / device, device=device, tenant=TENANT,
                             site=site, broker_url=mqtt_url,
                             sensor=SensorChoice.simulated(profile))  # fmt: skip
            register_device(conn, DeviceRegistration(**prov.registration, region=region))
            text = prov.config_path.read_text().replace(
                "interval_s = 1.0", f"interval_s = {interval}"
            )
            text += f"\n[cloud]\nconfig_public_key = {json.dumps(config_public_key)}\n"
            prov.config_path.write_text(text)
            agents.append(Agent(load_config(prov.config_path)))
    return agents


def _push_config(database_url: str, mqtt_url: str, key: Any, device: str, say: Say) -> None:
    import psycopg

    from cloud.device_config import mqtt_publisher, push_config

    with psycopg.connect(database_url) as conn:
        pushed = push_config(conn, mqtt_publisher(mqtt_url), key, device,
                             {"sample_interval_s": 0.5, "thresholds": {"temperature_c":
                              {"min": 2.0, "max": 6.0}}}, published_by="demo")  # fmt: skip
    say(f"  remote config revision {pushed.revision} pushed to {device}: "
        "sample every 0.5 s, alarm outside 2–6 °C")  # fmt: skip


def _config_ack(database_url: str, device: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT last_state->'config' FROM devices WHERE id = %s", (device,)
        ).fetchone()
    return dict(row[0]) if row is not None and row[0] else {}


def run_fleet(
    agents: list[Any],
    duration: float,
    *,
    database_url: str,
    mqtt_url: str,
    broker: Any | None,
    config_key: Any,
    say: Say,
) -> FleetOutcome:
    """Run the agents; a third in, push a config; halfway, take the broker down for 3 s."""
    outcome = FleetOutcome()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=a.run,
            args=(stop,),
            kwargs={"duration_s": duration, "drain_s": 60.0},
            name=a.config.device.id,
            daemon=True,
        )
        for a in agents
    ]  # fmt: skip
    for thread in threads:
        thread.start()
    started = time.monotonic()
    pushed = outage_done = False
    while any(t.is_alive() for t in threads):
        time.sleep(1.0)
        elapsed = time.monotonic() - started
        stored = count_rows(database_url, "SELECT count(*) FROM readings")
        taken = sum(a.readings for a in agents)
        say(f"  t={elapsed:4.0f}s  readings taken {taken:6d}  stored {stored:6d}")
        if pushed and not outcome.config_ack:
            outcome.config_ack = _config_ack(database_url, FLEET[1][0])
        if not pushed and elapsed >= duration / 3:
            pushed = True
            _push_config(database_url, mqtt_url, config_key, FLEET[1][0], say)
        if broker is not None and not outage_done and elapsed >= duration / 2:
            outage_done = True
            say("  broker stopped for 3 s (agents keep every reading in their outbox) ...")
            down = time.monotonic()
            broker.stop()
            time.sleep(3.0)
            broker.start()
            outcome.outage_s = time.monotonic() - down
            say("  broker back; agents replay their outboxes in order")
    for thread in threads:
        thread.join()
    outcome.readings_taken = sum(a.readings for a in agents)
    return outcome


def tamper(mqtt_url: str, device_dir: Path, device: str, site: str) -> None:
    """Publish what an attacker would: a forged, a tampered and a replayed message."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from wire import (
        Kind,
        Metric,
        Reading,
        TelemetryBatch,
        Topic,
        generate_private_key,
        load_private_key,
        seal_payload,
    )
    from wire.broker import parse_mqtt_url

    topic = Topic(TENANT, site, device, Kind.TELEMETRY)
    now = datetime.now(UTC)
    cool = TelemetryBatch(
        sent_at=now,
        readings=[Reading(sensor="probe-1", metric=Metric.TEMPERATURE_C, ts=now, value=12.0)],
    )
    key = load_private_key(device_dir / "device.pem")
    genuine = seal_payload(topic, 10**12, cool, key)
    tampered = genuine.replace(b'"value":12.0', b'"value":32.0')
    forged = seal_payload(topic, 10**12 + 1, cool, generate_private_key())
    replayed = seal_payload(topic, 1, cool, key)
    broker = parse_mqtt_url(mqtt_url)
    attacker_id = f"demo-attacker-{uuid.uuid4().hex[:6]}"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=attacker_id, protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for data in (tampered, forged, replayed, b"\x00\x01 not even an envelope"):
            client.publish(str(topic), data, qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()
