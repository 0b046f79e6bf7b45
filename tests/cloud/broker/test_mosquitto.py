"""The generated passwd/ACL/conf in a real Mosquitto: devices stay on their own topics.

A device publishing to another device's topic gets PUBACK 0x87 (not authorized) and the
ingest never receives it; its own topic works; a wrong password or none is refused; TLS
with a throwaway CA made by ``cryptography``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import queue
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties

from channeltrace._process import free_port, port_open, user_exists
from channeltrace.services import ServiceUnavailable, find_mosquitto
from cloud.broker.files import TlsFiles
from cloud.broker.registry import issue_device_password, issue_service_password
from cloud.broker.writer import write_broker_files
from cloud.migrate import migrate
from cloud.registry import register_device

from .._messages import Device

pytestmark = pytest.mark.integration

WAIT_S = 10.0  # an upper bound for broker round trips, not a measured threshold
A = Device("gw-a", tenant="acme", site="wh-1")
B = Device("gw-b", tenant="acme", site="wh-2")


@dataclass
class Broker:
    port: int
    tls_port: int
    ca: Path
    passwords: dict[str, str]


def _cert(
    subject: str, key: Any, issuer: x509.Name | None, signer: Any, ca: bool
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(issuer or name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )  # fmt: skip
    if not ca:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write_pki(directory: Path) -> TlsFiles:
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("ChannelTrace test CA", ca_key, None, ca_key, ca=True)
    leaf = _cert("127.0.0.1", key, ca.subject, ca_key, ca=False)
    files = TlsFiles(directory / "ca.pem", directory / "broker.pem", directory / "broker.key")
    files.cafile.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.certfile.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    files.keyfile.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))  # fmt: skip
    files.keyfile.chmod(0o644)  # a throwaway key the broker (dropped to its user) must read
    return files


@pytest.fixture
def broker(database_url: str) -> Iterator[Broker]:
    try:
        binary = find_mosquitto()
    except ServiceUnavailable as exc:
        pytest.skip(str(exc))
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for device in (A, B):
            register_device(conn, device.registration)
        passwords = {d.device_id: issue_device_password(conn, d.device_id) for d in (A, B)}
        passwords["svc-ingest"] = issue_service_password(conn, "svc-ingest", "ingest")
        passwords["svc-config"] = issue_service_password(conn, "svc-config", "config")
        workdir = Path(tempfile.mkdtemp(prefix="ct-mq-auth-"))
        workdir.chmod(0o755)
        tls = _write_pki(workdir)
        port, tls_port = free_port(), free_port()
        group = "mosquitto" if user_exists("mosquitto") else None
        files = write_broker_files(
            conn, workdir / "mqtt", tls=tls, tls_port=tls_port, tls_host="127.0.0.1",
            plain_host="127.0.0.1", plain_port=port, group=group,
        )  # fmt: skip
    (workdir / "mqtt").chmod(0o755)
    log = (workdir / "mosquitto.log").open("wb")
    proc = subprocess.Popen([str(binary), "-c", str(files.conf)], stdout=log, stderr=log)
    try:
        deadline = dt.datetime.now() + dt.timedelta(seconds=WAIT_S)
        while not (port_open(port) and port_open(tls_port)):
            assert proc.poll() is None, (workdir / "mosquitto.log").read_text()
            assert dt.datetime.now() < deadline, "mosquitto did not start"
        yield Broker(port, tls_port, tls.cafile, passwords)
    finally:
        proc.terminate()
        proc.wait(timeout=WAIT_S)
        log.close()
        subprocess.run(["rm", "-rf", str(workdir)], check=False)


class Client:
    """A paho MQTT 5 client that records CONNACK, PUBACK and SUBACK codes and messages."""

    def __init__(self, user: str | None, password: str | None, *, ca: Path | None = None) -> None:
        self.connack: queue.Queue[int] = queue.Queue()
        self.acks: dict[int, queue.Queue[int]] = {}
        self.subacks: queue.Queue[list[int]] = queue.Queue()
        self.messages: queue.Queue[str] = queue.Queue()
        self.mqtt = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}",
                                protocol=mqtt.MQTTv5)  # fmt: skip
        if user is not None:
            self.mqtt.username_pw_set(user, password)
        if ca is not None:
            self.mqtt.tls_set(ca_certs=str(ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.mqtt.on_connect = lambda _c, _u, _f, rc, _p: self.connack.put(rc.value)
        self.mqtt.on_publish = lambda _c, _u, mid, rc, _p: self._ack(mid).put(rc.value)
        self.mqtt.on_subscribe = lambda _c, _u, _m, rcs, _p: self.subacks.put(
            [r.value for r in rcs]
        )
        self.mqtt.on_message = lambda _c, _u, msg: self.messages.put(msg.topic)

    def _ack(self, mid: int) -> queue.Queue[int]:
        return self.acks.setdefault(mid, queue.Queue())

    def connect(self, port: int) -> int:
        self.mqtt.connect("127.0.0.1", port, clean_start=True, properties=Properties(1))
        self.mqtt.loop_start()
        return self.connack.get(timeout=WAIT_S)

    def publish(self, topic: str) -> int:
        """The PUBACK reason code of a QoS 1 publish."""
        info = self.mqtt.publish(topic, b"{}", qos=1)
        return self._ack(info.mid).get(timeout=WAIT_S)

    def subscribe(self, topic: str) -> list[int]:
        self.mqtt.subscribe(topic, qos=1)
        return self.subacks.get(timeout=WAIT_S)

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()


def test_devices_publish_only_under_their_own_topics(broker: Broker) -> None:
    ingest = Client("svc-ingest", broker.passwords["svc-ingest"])
    a = Client("gw-a", broker.passwords["gw-a"])
    try:
        assert ingest.connect(broker.port) == 0
        assert ingest.subscribe("$share/ingest/ct/v1/#") == [1]
        assert a.connect(broker.port) == 0
        assert a.publish("ct/v1/acme/wh-2/gw-b/telemetry") == 0x87  # B's topic: not authorized
        assert a.publish("ct/v1/acme/wh-1/gw-a/config") == 0x87  # config is the cloud's
        assert a.publish("ct/v1/acme/wh-1/gw-a/telemetry") == 0  # its own: accepted
        # Mosquitto delivers one publisher's messages in order: once A's own message has
        # arrived, a forwarded forbidden one would have arrived before it.
        assert ingest.messages.get(timeout=WAIT_S) == "ct/v1/acme/wh-1/gw-a/telemetry"
        assert ingest.messages.empty()
    finally:
        a.close()
        ingest.close()


def test_devices_read_only_their_own_config(broker: Broker) -> None:
    cloud = Client("svc-config", broker.passwords["svc-config"])
    a = Client("gw-a", broker.passwords["gw-a"])
    try:
        assert cloud.connect(broker.port) == 0
        assert a.connect(broker.port) == 0
        # Mosquitto 2.0 grants any subscription and checks read access per message.
        a.subscribe("ct/v1/#")
        assert cloud.publish("ct/v1/acme/wh-2/gw-b/config") == 0  # B's config first
        assert cloud.publish("ct/v1/acme/wh-1/gw-a/config") == 0
        assert cloud.publish("ct/v1/acme/wh-1/gw-a/telemetry") == 0x87  # config user: config only
        assert a.messages.get(timeout=WAIT_S) == "ct/v1/acme/wh-1/gw-a/config"
        assert a.messages.empty()  # B's config, sent before A's, was never delivered
    finally:
        a.close()
        cloud.close()


def test_devices_read_only_their_own_receipts_and_backfill_requests(broker: Broker) -> None:
    """The ingest service user writes receipts and backfill requests to any device; a device
    reads only its own and can publish neither (a forged receipt would free its outbox)."""
    ingest = Client("svc-ingest", broker.passwords["svc-ingest"])
    config = Client("svc-config", broker.passwords["svc-config"])
    a = Client("gw-a", broker.passwords["gw-a"])
    b = Client("gw-b", broker.passwords["gw-b"])
    try:
        for client in (ingest, config, a, b):
            assert client.connect(broker.port) == 0
        a.subscribe("ct/v1/#")
        assert b.publish("ct/v1/acme/wh-1/gw-a/receipt") == 0x87  # another device: refused
        assert a.publish("ct/v1/acme/wh-1/gw-a/receipt") == 0x87  # its own: the cloud's only
        assert a.publish("ct/v1/acme/wh-1/gw-a/backfill") == 0x87
        assert config.publish("ct/v1/acme/wh-1/gw-a/receipt") == 0x87  # config user: config only
        assert ingest.publish("ct/v1/acme/wh-2/gw-b/receipt") == 0  # B's receipt first
        assert ingest.publish("ct/v1/acme/wh-1/gw-a/receipt") == 0
        assert ingest.publish("ct/v1/acme/wh-1/gw-a/backfill") == 0
        assert ingest.publish("ct/v1/acme/wh-1/gw-a/config") == 0x87  # ingest: no config
        assert a.messages.get(timeout=WAIT_S) == "ct/v1/acme/wh-1/gw-a/receipt"
        assert a.messages.get(timeout=WAIT_S) == "ct/v1/acme/wh-1/gw-a/backfill"
        assert a.messages.empty()  # B's receipt, sent before A's, was never delivered
    finally:
        for client in (a, b, config, ingest):
            client.close()


def test_wrong_or_missing_credentials_are_refused(broker: Broker) -> None:
    for user, password in (("gw-a", "not-the-password"), ("gw-a", broker.passwords["gw-b"]),
                           ("gw-x", "whatever"), (None, None)):  # fmt: skip
        client = Client(user, password)
        try:
            assert client.connect(broker.port) in (0x86, 0x87), user  # bad credentials / denied
        finally:
            client.close()


def test_tls_listener_with_a_throwaway_ca(broker: Broker) -> None:
    client = Client("gw-a", broker.passwords["gw-a"], ca=broker.ca)
    try:
        assert client.connect(broker.tls_port) == 0
        assert client.publish("ct/v1/acme/wh-1/gw-a/state") == 0x10  # accepted, no subscriber
        assert client.publish("ct/v1/acme/wh-2/gw-b/state") == 0x87
    finally:
        client.close()
    system_only = ssl.create_default_context()  # trusts only the system CAs
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection(("127.0.0.1", broker.tls_port), timeout=WAIT_S) as raw,
        system_only.wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        pass
