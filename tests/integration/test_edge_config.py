"""Acceptance: remote config is applied live; an invalid one is refused with a reason and the
old one kept; local alarms from the new thresholds reach the cloud.

Real Mosquitto, ingest, PostgreSQL; the agent as a real process; config pushed with
``channeltrace cloud config push`` (signed by the cloud's key, retained on the broker).
"""

from __future__ import annotations

import itertools
import json
import statistics
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from channeltrace.services import Mosquitto
from tests.integration._edge import (
    Agents,
    agent_status,
    cloud_key,
    count,
    ingest_worker,
    provision_agent,
    query,
)
from tests.integration.processes import Background, channeltrace, wait_for
from wire import Kind, StateMessage, Topic, load_private_key, open_message, seal
from wire.broker import parse_mqtt_url

pytestmark = pytest.mark.integration

DEVICE = "gw-cfg"


class StateListener:
    """Collects the device's state messages off the broker, verified with its key."""

    def __init__(self, broker_url: str, directory: Path) -> None:
        self.messages: list[StateMessage] = []
        self._lock = threading.Lock()
        self._key = load_private_key(directory / "device.pem").public_key()
        address = parse_mqtt_url(broker_url)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"listener-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self._client.on_message = self._on_message
        self._client.connect(address.host, address.port)
        self._client.subscribe(str(Topic("acme", "wh-sh-01", DEVICE, Kind.STATE)), qos=1)
        self._client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        opened = open_message(msg.topic, bytes(msg.payload), lambda _d: (self._key,))
        assert isinstance(opened.payload, StateMessage)
        with self._lock:
            self.messages.append(opened.payload)

    def alarms(self) -> list[dict[str, Any]]:
        with self._lock:
            return [m.alarm.model_dump(mode="json") for m in self.messages if m.alarm]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Agents]:
    started = Agents(tmp_path)
    yield started
    started.close()


@pytest.fixture
def mosquitto_url(make_mosquitto: Callable[..., Mosquitto]) -> str:
    """A private broker: the retained config of this test must not outlive it."""
    return make_mosquitto().url


@pytest.fixture
def ingest(mosquitto_url: str, database_url: str, tmp_path: Path) -> Iterator[Background]:
    # One cloud key signs config and storage receipts; the agent trusts its public half.
    worker = ingest_worker(mosquitto_url, database_url, tmp_path, key_file=cloud_key(tmp_path))
    yield worker
    worker.stop()


def reported_config(database_url: str) -> dict[str, Any] | None:
    rows = query(database_url, "SELECT last_state->'config' FROM devices WHERE id = %s", (DEVICE,))
    return rows[0][0] if rows else None


def spacing_s(database_url: str, after_seq: int) -> float:
    times = [
        r[0]
        for r in query(
            database_url,
            "SELECT time FROM readings WHERE device_id = %s AND seq > %s"
            " AND metric = 'temperature_c' ORDER BY time",
            (DEVICE, after_seq),
        )
    ]
    return float(statistics.median((b - a).total_seconds() for a, b in itertools.pairwise(times)))


def test_remote_config_applied_live_invalid_refused_and_kept(
    agents: Agents, ingest: Background, mosquitto_url: str, database_url: str, tmp_path: Path
) -> None:
    key_file = cloud_key(tmp_path)  # `cloud config keygen`, as the ingest uses
    config = provision_agent(
        tmp_path, mosquitto_url, database_url, DEVICE, interval_s=0.05, batch=10,
        key_file=key_file,
    )  # fmt: skip
    listener = StateListener(mosquitto_url, config.parent)
    agent = agents.start(config)
    try:
        wait_for(
            lambda: count(database_url, "SELECT count(*) FROM readings") > 20, 30, agent.output
        )
        assert spacing_s(database_url, 0) < 0.2

        # --- a valid config, applied without restarting the agent ---------------------------
        document = {
            "sample_interval_s": 0.5,
            "batch_max_readings": 5,
            "flush_interval_s": 0.1,
            "thresholds": {"temperature_c": {"max": -60.0}},
        }
        (tmp_path / "cfg.json").write_text(json.dumps(document))
        pushed = json.loads(
            channeltrace(
                [
                    "cloud",
                    "config",
                    "push",
                    "--device",
                    DEVICE,
                    "--file",
                    str(tmp_path / "cfg.json"),
                    "--key-file",
                    str(key_file),
                    "--database-url",
                    database_url,
                    "--mqtt-url",
                    mosquitto_url,
                ]
            ).stdout
        )
        assert pushed["revision"] == 1
        wait_for(
            lambda: reported_config(database_url) == {"revision": 1, "applied": True, "active": 1},
            30,
            lambda: f"{reported_config(database_url)}\n{agent.output()}",
        )
        applied_at = count(
            database_url, "SELECT max(seq) FROM ingest_log WHERE device_id = %s", (DEVICE,)
        )
        wait_for(
            lambda: (
                count(
                    database_url,
                    "SELECT count(*) FROM readings WHERE seq > %s AND metric = 'temperature_c'",
                    (applied_at,),
                )
                >= 8
            ),
            30,
            agent.output,
        )
        assert spacing_s(database_url, applied_at) >= 0.4  # the new interval, live
        # The new threshold raised a local alarm, delivered as a signed state message.
        wait_for(
            lambda: any(
                a["state"] == "raised" and a["bound"] == "max" and a["limit"] == -60
                for a in listener.alarms()
            ),
            30,
            agent.output,
        )

        # --- an invalid config (signed by the cloud, but interval 0) is refused --------------
        signing_key = load_private_key(key_file)
        topic = Topic("acme", "wh-sh-01", DEVICE, Kind.CONFIG)
        bad = b'{"v":1,"type":"config","revision":2,"sample_interval_s":0}'
        channeltrace_publish(mosquitto_url, str(topic), seal(topic, 2, bad, signing_key))
        wait_for(
            lambda: (reported_config(database_url) or {}).get("revision") == 2, 30, agent.output
        )
        refused = reported_config(database_url)
        assert refused is not None
        assert refused["applied"] is False
        assert refused["active"] == 1
        assert "sample_interval_s" in refused["reason"]
        assert agent_status(config)["config_revision"] == 1
    finally:
        assert agent.stop() == 0, agent.output()
        listener.close()

    # --- the applied revision survives a restart; the refused one stays refused -------------
    agent = agents.start(config)
    try:
        agent.wait_for_line("remote config revision 1 restored")
        wait_for(lambda: "revision 2 refused" in agent.output(), 30, agent.output)
    finally:
        assert agent.stop() == 0, agent.output()
    assert agent_status(config)["config_revision"] == 1


def channeltrace_publish(broker_url: str, topic: str, data: bytes) -> None:
    """Publish retained like the cloud would (here: a config the cloud CLI would refuse)."""
    address = parse_mqtt_url(broker_url)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"cloud-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    client.connect(address.host, address.port)
    client.loop_start()
    try:
        client.publish(topic, data, qos=1, retain=True).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()
