"""``channeltrace demo``: the whole system on embedded defaults, in one command.

Starts its own Mosquitto and PostgreSQL unless ``CT_MQTT_URL`` / ``CT_DATABASE_URL``
are set, provisions a few simulated warehouse gateways, runs the ingest and the
agents for ``duration`` seconds, then shows what was sent and what was stored,
and that forged or tampered messages were refused.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["DemoResult", "run_demo"]

_logger = logging.getLogger(__name__)

# (device, site, region, storage profile): a brand's wine and dairy at three distributors.
FLEET = [
    ("gw-sh-01", "wh-shanghai", "CN-SH", "wine"),
    ("gw-bj-01", "wh-beijing", "CN-BJ", "dairy"),
    ("gw-gz-01", "wh-guangzhou", "CN-GD", "wine"),
]
TENANT = "acme-wines"


@dataclass(frozen=True, slots=True)
class DemoResult:
    readings_taken: int
    readings_stored: int
    duplicates: int
    dead_letters: dict[str, int]
    latest: list[tuple[str, str, float, float]]  # site, device, temperature, humidity


@contextmanager
def _services(
    stack: ExitStack, workdir: Path, say: Callable[[str], None]
) -> Iterator[tuple[str, str]]:
    from channeltrace.services import start_mosquitto, start_postgres

    mqtt_url = os.environ.get("CT_MQTT_URL")
    database_url = os.environ.get("CT_DATABASE_URL")
    if mqtt_url is None:
        broker = stack.enter_context(start_mosquitto(workdir / "mosquitto"))
        mqtt_url = broker.url
        say(f"started Mosquitto on {mqtt_url}")
    else:
        say(f"using the broker at {mqtt_url} (CT_MQTT_URL)")
    if database_url is None:
        pg = stack.enter_context(start_postgres(workdir / "postgres"))
        database_url = pg.create_database("channeltrace_demo")
        say(f"started PostgreSQL ({pg.bindir}) on {pg.host}:{pg.port}")
    else:
        say("using the database at CT_DATABASE_URL")
    yield mqtt_url, database_url


def _count(database_url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM readings), (SELECT count(*) FROM dead_letters)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _tamper(mqtt_url: str, device_dir: Path, device: str, site: str) -> None:
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
    genuine = seal_payload(topic, 10**12, cool, load_private_key(device_dir / "device.pem"))
    tampered = genuine.replace(b'"value":12.0', b'"value":32.0')
    forged = seal_payload(topic, 10**12 + 1, cool, generate_private_key())
    replayed = seal_payload(topic, 1, cool, load_private_key(device_dir / "device.pem"))
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


def _provision_fleet(workdir: Path, mqtt_url: str, database_url: str, interval: float) -> list[Any]:
    import psycopg

    from cloud.registry import DeviceRegistration, register_device
    from edge.agent import Agent
    from edge.config import load_config
    from edge.provision import provision

    agents: list[Agent] = []
    with psycopg.connect(database_url) as conn:
        for device, site, region, profile in FLEET:
            prov = provision(
                workdir / "devices" / device,
                device=device,
                tenant=TENANT,
                site=site,
                broker_url=mqtt_url,
                profile=profile,
            )
            register_device(conn, DeviceRegistration(**prov.registration, region=region))
            config = prov.config_path.read_text().replace(
                "interval_s = 1.0", f"interval_s = {interval}"
            )
            prov.config_path.write_text(config)
            agents.append(Agent(load_config(prov.config_path)))
    return agents


def _run_agents(
    agents: list[Any], duration: float, database_url: str, say: Callable[[str], None]
) -> int:
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=agent.run,
            args=(stop,),
            kwargs={"duration_s": duration},
            name=agent.config.device.id,
            daemon=True,
        )
        for agent in agents
    ]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    while any(t.is_alive() for t in threads):
        time.sleep(1.0)
        stored, _ = _count(database_url)
        taken = sum(a.readings for a in agents)
        elapsed = time.monotonic() - started
        say(f"  t={elapsed:4.0f}s  readings taken {taken:6d}  stored {stored:6d}")
    for thread in threads:
        thread.join()
    return sum(a.readings for a in agents)


def _summarise(database_url: str, taken: int) -> DemoResult:
    import psycopg

    with psycopg.connect(database_url) as conn:
        reasons = conn.execute(
            "SELECT reason, count(*) FROM dead_letters GROUP BY reason"
        ).fetchall()
        dup_row = conn.execute("SELECT coalesce(sum(duplicates), 0) FROM ingest_log").fetchone()
        latest = conn.execute(
            "SELECT DISTINCT ON (device_id, metric) site_id, device_id, metric, value"
            " FROM readings WHERE value IS NOT NULL ORDER BY device_id, metric, time DESC"
        ).fetchall()
    by_device: dict[tuple[str, str], dict[str, float]] = {}
    for site, device, metric, value in latest:
        by_device.setdefault((str(site), str(device)), {})[str(metric)] = float(value)
    stored, _ = _count(database_url)
    return DemoResult(
        readings_taken=taken,
        readings_stored=stored,
        duplicates=int(dup_row[0]) if dup_row else 0,
        dead_letters={str(reason): int(count) for reason, count in reasons},
        latest=[
            (
                site,
                device,
                values.get("temperature_c", float("nan")),
                values.get("humidity_pct", float("nan")),
            )
            for (site, device), values in sorted(by_device.items())
        ],
    )


def run_demo(
    duration: float, *, interval: float, say: Callable[[str], None], keep: Path | None = None
) -> DemoResult:
    from cloud.ingest.worker import IngestOptions, IngestWorker
    from cloud.migrate import migrate

    workdir = keep or Path(tempfile.mkdtemp(prefix="channeltrace-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)  # the servers run as their own users and must enter it
    stop = threading.Event()
    with ExitStack() as stack:
        if keep is None:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        mqtt_url, database_url = stack.enter_context(_services(stack, workdir, say))
        applied = migrate(database_url)
        say(f"schema: {len(applied)} migration(s) applied")
        agents = _provision_fleet(workdir, mqtt_url, database_url, interval)
        fleet = ", ".join(f"{d} ({p} at {s})" for d, s, _, p in FLEET)
        say(f"provisioned and registered {len(agents)} gateways: {fleet}")

        client_id = f"ct-demo-ingest-{uuid.uuid4().hex[:6]}"
        worker = IngestWorker(IngestOptions(database_url, mqtt_url, client_id))
        ingest = threading.Thread(target=worker.run, args=(stop,), name="ingest", daemon=True)
        ingest.start()
        stack.callback(ingest.join, 30)
        stack.callback(stop.set)
        if not worker.subscribed.wait(15):
            raise RuntimeError("ingest did not subscribe to the broker within 15 s")
        say("ingest subscribed; agents sampling")
        taken = _run_agents(agents, duration, database_url, say)

        say("attacker publishes a tampered, a forged, a replayed and a garbage message ...")
        _tamper(mqtt_url, workdir / "devices" / FLEET[0][0], FLEET[0][0], FLEET[0][1])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            stored, dead = _count(database_url)
            if stored >= taken and dead >= 4:
                break
            time.sleep(0.2)
        stop.set()
        ingest.join(30)
        return _summarise(database_url, taken)
