"""A light load generator: many simulated gateways publishing signed batches over MQTT.

It speaks the real protocol (Ed25519-signed envelopes on ``ct/v1/...`` topics, QoS 1)
without running an edge agent per device, so one process can stand in for a fleet in the
ingest tests and benchmark. Payload JSON is built directly, not through pydantic, because
the generator must not be the bottleneck it measures; ``tests/firmware_sim`` checks that
the bytes validate as :class:`wire.TelemetryBatch`.

Back-pressure: at most ``window`` messages are unacknowledged at any time (a semaphore
released by paho's ``on_publish``), so paho's 16-bit packet ids never run out and no
message is dropped; every ``publish()`` return code is checked.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from wire import Kind, Topic, format_public_key, seal
from wire.broker import parse_mqtt_url

__all__ = [
    "LoadDevice",
    "LoadError",
    "LoadResult",
    "Publisher",
    "make_fleet",
    "register_fleet",
    "run_load",
    "telemetry_payload",
]

_logger = logging.getLogger(__name__)
_METRICS = ("temperature_c", "humidity_pct")


class LoadError(Exception):
    """The broker refused a message or the generator could not keep its promise."""


@dataclass(slots=True)
class LoadDevice:
    """A simulated gateway: identity, key and the next sequence number it will use."""

    device_id: str
    tenant: str
    site: str
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    next_seq: int = 1

    @property
    def telemetry_topic(self) -> Topic:
        return Topic(self.tenant, self.site, self.device_id, Kind.TELEMETRY)

    def seal_telemetry(self, readings: int, now: datetime) -> bytes:
        """The next signed telemetry message of this device, carrying ``readings`` readings."""
        seq = self.next_seq
        self.next_seq += 1
        return seal(self.telemetry_topic, seq, telemetry_payload(readings, now, seq), self.key)


def make_fleet(
    devices: int, *, tenant: str = "acme", sites: int = 4, prefix: str = "lg"
) -> list[LoadDevice]:
    """``devices`` gateways spread round-robin over ``sites`` warehouses."""
    return [LoadDevice(f"{prefix}-{n:05d}", tenant, f"wh-{n % sites:03d}") for n in range(devices)]


def register_fleet(conn: Any, fleet: Iterable[LoadDevice]) -> int:
    """Register every device (idempotent); ``conn`` is a psycopg connection."""
    from cloud.registry import DeviceRegistration, register_device

    count = 0
    for device in fleet:
        register_device(
            conn,
            DeviceRegistration(
                device_id=device.device_id,
                tenant=device.tenant,
                site=device.site,
                public_key=format_public_key(device.key),
                region="load-test",
            ),
        )
        count += 1
    return count


def telemetry_payload(readings: int, now: datetime, seq: int = 0) -> bytes:
    """Compact telemetry JSON with ``readings`` readings, unique by (sensor, metric, ts).

    Reading ``j`` comes from sensor ``p{j // 2}`` and alternates temperature and humidity,
    so readings of one message never collide; device time advances 1 ms per sensor.
    """
    if readings < 1:
        raise ValueError(f"a telemetry batch needs at least one reading; got {readings}")
    parts = []
    for j in range(readings):
        ts = (now + timedelta(milliseconds=j // 2)).isoformat()
        value = 4.0 + ((seq * 7 + j) % 200) / 20 if j % 2 == 0 else 60.0 + (seq + j) % 30
        parts.append(
            f'{{"sensor":"p{j // 2}","metric":"{_METRICS[j % 2]}","ts":"{ts}","value":{value}}}'
        )
    sent_at = now.isoformat()
    body = f'{{"v":1,"type":"telemetry","sent_at":"{sent_at}","readings":[{",".join(parts)}]}}'
    return body.encode("ascii")


class Publisher:
    """A QoS 1 paho publisher with a bounded window of unacknowledged messages."""

    def __init__(self, mqtt_url: str, *, window: int = 1_000, client_id: str | None = None):
        if not 1 <= window <= 65_535:
            raise ValueError(f"window must be in 1..65535; got {window}")
        broker = parse_mqtt_url(mqtt_url)
        self._slots = threading.BoundedSemaphore(window)
        self._lock = threading.Lock()
        self.published = 0
        self.acked = 0
        self._connected = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"loadgen-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
        )
        if broker.username:
            self._client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self._client.tls_set()
        self._client.max_inflight_messages_set(window)
        self._client.max_queued_messages_set(0)
        self._client.on_connect = self._on_connect
        self._client.on_publish = self._on_publish
        self._client.connect(broker.host, broker.port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(10):
            self.close()
            raise LoadError(f"broker {mqtt_url} did not accept the connection within 10 s")

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: Any, code: Any, _p: Any) -> None:
        if code.is_failure:
            _logger.error("broker refused the load generator: %s", code)
            return
        self._connected.set()

    def _on_publish(self, _c: mqtt.Client, _u: object, _mid: int, _code: Any, _p: Any) -> None:
        with self._lock:
            self.acked += 1
        self._slots.release()

    def publish(self, topic: str, data: bytes) -> None:
        """Queue one QoS 1 message, blocking while the window is full."""
        self._slots.acquire()
        info = self._client.publish(topic, data, qos=1)
        # NO_CONN still queues a QoS 1 message for the next connection; anything else drops it.
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            self._slots.release()
            raise LoadError(f"publish to {topic} refused by paho: {mqtt.error_string(info.rc)}")
        with self._lock:
            self.published += 1

    def flush(self, timeout: float = 120.0) -> None:
        """Wait until the broker has acknowledged every message published so far."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self.acked >= self.published:
                    return
                pending = self.published - self.acked
            if time.monotonic() > deadline:
                raise LoadError(f"{pending} message(s) still unacknowledged after {timeout} s")
            time.sleep(0.01)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@dataclass(frozen=True, slots=True)
class LoadResult:
    messages: int
    readings: int
    seconds: float

    @property
    def readings_per_second(self) -> float:
        return self.readings / self.seconds if self.seconds > 0 else 0.0


def run_load(
    publisher: Publisher,
    fleet: Sequence[LoadDevice],
    *,
    messages: int,
    readings_per_message: int,
    rate: float | None = None,
    stop: threading.Event | None = None,
    on_sent: Callable[[int, float], None] | None = None,
) -> LoadResult:
    """Publish ``messages`` telemetry messages round-robin over ``fleet``, then flush.

    ``rate`` caps messages per second (None: as fast as the window allows). ``on_sent``
    gets each message's index and ``time.time()`` just before it is handed to paho.
    """
    if not fleet:
        raise ValueError("the fleet is empty")
    began = time.monotonic()
    topics = [str(device.telemetry_topic) for device in fleet]
    sent = 0
    while sent < messages and not (stop is not None and stop.is_set()):
        if rate is not None:
            ahead = began + sent / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        index = sent % len(fleet)
        data = fleet[index].seal_telemetry(readings_per_message, datetime.now(UTC))
        if on_sent is not None:
            on_sent(sent, time.time())
        publisher.publish(topics[index], data)
        sent += 1
    publisher.flush()
    return LoadResult(sent, sent * readings_per_message, time.monotonic() - began)
