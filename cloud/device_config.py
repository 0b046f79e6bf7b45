"""Remote device configuration, cloud side: sign, record and publish retained.

A config for a device is a `ConfigPayload` sealed in the usual envelope for the device's
``config`` topic, with the envelope seq equal to the revision and the signature made by
the cloud's config key (Ed25519), whose public key the agents hold in
``[cloud] config_public_key``. Revisions only grow: each push takes the device's row lock,
assigns the next revision (or checks the one given), records payload and envelope in
``device_configs`` and publishes retained with QoS 1; the transaction commits only after
the broker's PUBACK, so a recorded revision was handed to the broker.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from cloud.errors import DeviceConfigError
from wire import ConfigPayload, Kind, Topic, encode_payload, seal
from wire.broker import parse_mqtt_url

__all__ = ["PushedConfig", "build_config", "mqtt_publisher", "push_config", "seal_config"]

_logger = logging.getLogger(__name__)
Publish = Callable[[str, bytes], None]
"""Publishes (topic, data) retained with QoS 1 and returns once the broker acknowledged."""


@dataclass(frozen=True, slots=True)
class PushedConfig:
    device_id: str
    topic: str
    revision: int
    payload: ConfigPayload
    envelope: bytes


def build_config(settings: Mapping[str, Any], revision: int) -> ConfigPayload:
    """Validate ``settings`` (a config document without or with its revision) as revision N."""
    document = {**settings, "revision": revision}
    document.setdefault("v", 1)
    document.setdefault("type", "config")
    try:
        return ConfigPayload.model_validate(document, strict=False)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise DeviceConfigError(f"invalid device config: {problems}") from None


def seal_config(topic: Topic, payload: ConfigPayload, key: Ed25519PrivateKey) -> bytes:
    """The signed envelope of ``payload`` for a device's config ``topic`` (seq = revision)."""
    if topic.kind is not Kind.CONFIG:
        raise DeviceConfigError(f"expected a config topic, got {topic}")
    return seal(topic, payload.revision, encode_payload(payload), key)


def push_config(
    conn: psycopg.Connection[Any],
    publish: Publish,
    key: Ed25519PrivateKey,
    device_id: str,
    settings: Mapping[str, Any],
    *,
    revision: int | None = None,
    published_by: str | None = None,
) -> PushedConfig:
    """Sign, record and publish the next config revision of ``device_id``."""
    with conn.transaction():
        row = conn.execute(
            "SELECT tenant_id, site_id, status FROM devices WHERE id = %s FOR UPDATE",
            (device_id,),
        ).fetchone()
        if row is None:
            raise DeviceConfigError(f"device {device_id!r} is not registered")
        if row[2] == "retired":
            raise DeviceConfigError(f"device {device_id!r} is retired")
        latest = conn.execute(
            "SELECT COALESCE(max(revision), 0) FROM device_configs WHERE device_id = %s",
            (device_id,),
        ).fetchone()
        current = int(latest[0]) if latest is not None else 0
        wanted = revision if revision is not None else settings.get("revision", current + 1)
        if not isinstance(wanted, int) or isinstance(wanted, bool) or wanted <= current:
            raise DeviceConfigError(
                f"revision must be above {current} (the latest of {device_id}); got {wanted!r}"
            )
        payload = build_config(settings, wanted)
        topic = Topic(str(row[0]), str(row[1]), device_id, Kind.CONFIG)
        envelope = seal_config(topic, payload, key)
        conn.execute(
            "INSERT INTO device_configs (device_id, revision, payload, envelope, published_by)"
            " VALUES (%s, %s, %s, %s, %s)",
            (device_id, wanted, Jsonb(payload.model_dump(mode="json")), envelope, published_by),
        )
        publish(str(topic), envelope)  # commit only after the broker has it
    _logger.info("published config revision %d to %s", wanted, topic)
    return PushedConfig(device_id, str(topic), wanted, payload, envelope)


def mqtt_publisher(mqtt_url: str, *, timeout_s: float = 10.0) -> Callable[[str, bytes], None]:
    """A `Publish` that connects for each call: config pushes are rare and interactive."""
    broker = parse_mqtt_url(mqtt_url)

    def publish(topic: str, data: bytes) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"ct-config-{uuid.uuid4().hex[:12]}",
            protocol=mqtt.MQTTv5,
        )
        if broker.username:
            client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            client.tls_set(ca_certs=broker.ca_file)
        try:
            client.connect(broker.host, broker.port, keepalive=30)
        except OSError as exc:
            raise DeviceConfigError(
                f"cannot reach broker {broker.host}:{broker.port}: {exc}"
            ) from None
        client.loop_start()
        try:
            info = client.publish(topic, data, qos=1, retain=True)
            info.wait_for_publish(timeout=timeout_s)
            if not info.is_published():
                raise DeviceConfigError(f"broker did not acknowledge config on {topic}")
        except (RuntimeError, ValueError) as exc:
            raise DeviceConfigError(f"publishing config on {topic} failed: {exc}") from None
        finally:
            client.disconnect()
            client.loop_stop()

    return publish
