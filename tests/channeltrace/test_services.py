"""The service launchers and fixtures, against real Mosquitto and PostgreSQL."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from channeltrace.services import (
    Mosquitto,
    Postgres,
    ServiceStartError,
    ServiceUnavailable,
    find_mosquitto,
    find_postgres_bindir,
    free_port,
    start_postgres,
)
from tests.plugins.services import missing_service_outcome

# ------------------------------------------------------------------ pure helpers


@pytest.mark.parametrize(
    ("env", "outcome"),
    [
        ({}, "skip"),
        ({"CI": "false"}, "skip"),
        ({"CI": ""}, "skip"),
        ({"CI": "true"}, "fail"),
        ({"CI": "TRUE"}, "fail"),
        ({"CI": "1"}, "fail"),
    ],
)
def test_missing_service_fails_in_ci_and_skips_elsewhere(env: dict[str, str], outcome: str) -> None:
    assert missing_service_outcome(env) == outcome


def test_free_port_is_bindable_on_loopback() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_missing_binaries_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr("os.access", lambda path, mode: False)
    monkeypatch.setattr("channeltrace.services._embedded_bindir", lambda: None)
    with pytest.raises(ServiceUnavailable, match="apt-get install -y mosquitto"):
        find_mosquitto()
    with pytest.raises(ServiceUnavailable, match="apt-get install -y postgresql"):
        find_postgres_bindir()


# ---------------------------------------------------------------------- Mosquitto


def _connect(url_port: int, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    connected = threading.Event()
    client.on_connect = lambda c, u, flags, reason, props: connected.set()
    client.connect("127.0.0.1", url_port)
    client.loop_start()
    assert connected.wait(5), "no CONNACK within 5 s"
    return client


@pytest.mark.integration
def test_qos1_message_round_trip(mosquitto: Mosquitto, mosquitto_url: str) -> None:
    assert mosquitto_url == f"mqtt://127.0.0.1:{mosquitto.port}"
    received: list[mqtt.MQTTMessage] = []
    arrived = threading.Event()
    subscribed = threading.Event()

    sub = _connect(mosquitto.port, "ct-test-sub")
    sub.on_subscribe = lambda c, u, mid, codes, props: subscribed.set()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        received.append(msg)
        arrived.set()

    sub.on_message = on_message
    sub.subscribe("ct/v1/test/#", qos=1)
    assert subscribed.wait(5)

    pub = _connect(mosquitto.port, "ct-test-pub")
    try:
        info = pub.publish("ct/v1/test/site/dev/telemetry", b"hello", qos=1)
        info.wait_for_publish(5)
        assert info.is_published()
        assert arrived.wait(5), "message did not arrive"
    finally:
        for client in (pub, sub):
            client.disconnect()
            client.loop_stop()
    assert [(m.topic, m.payload, m.qos) for m in received] == [
        ("ct/v1/test/site/dev/telemetry", b"hello", 1)
    ]


@pytest.mark.integration
def test_broker_restarts_on_the_same_port(make_mosquitto: Callable[..., Mosquitto]) -> None:
    broker = make_mosquitto()
    port, first_pid = broker.port, broker.pid
    broker.stop()
    assert not broker.is_running()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    broker.start()
    assert broker.port == port
    assert broker.pid not in (None, first_pid)
    client = _connect(port, "ct-test-after-restart")
    client.disconnect()
    client.loop_stop()
    broker.restart()
    assert broker.is_running()


@pytest.mark.integration
def test_broker_config_is_loopback_only(mosquitto: Mosquitto) -> None:
    config = (mosquitto.workdir / "mosquitto.conf").read_text()
    assert f"listener {mosquitto.port} 127.0.0.1" in config
    assert "max_queued_messages 0" in config


# --------------------------------------------------------------------- PostgreSQL


def _select_one(url: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("select 1").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.integration
def test_database_url_is_a_fresh_database(database_url: str, postgres: Postgres) -> None:
    assert database_url.startswith(f"postgresql://postgres@127.0.0.1:{postgres.port}/ct_test_")
    with psycopg.connect(database_url) as conn:
        row = conn.execute("select count(*) from pg_tables where schemaname = 'public'").fetchone()
    assert row == (0,)


@pytest.mark.integration
def test_postgres_restart_kill_and_create_database(
    make_postgres: Callable[..., Postgres],
) -> None:
    server = make_postgres()
    port = server.port
    url = server.create_database("ct-demo")
    assert url == f"postgresql://postgres@127.0.0.1:{port}/ct-demo"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table t (x int)")
        conn.execute("insert into t values (1)")  # committed with fsync on: survives a crash
    assert _select_one(server.dsn) == 1

    server.restart()
    assert (server.port, _select_one(url)) == (port, 1)

    idle = psycopg.connect(url)
    server.kill()
    assert not server.is_running()
    with pytest.raises(psycopg.OperationalError):
        idle.execute("select 1")
    idle.close()
    server.start()
    with psycopg.connect(url) as conn:
        assert conn.execute("select x from t").fetchall() == [(1,)]

    server.kill(backends=False)
    server.start()
    assert _select_one(url) == 1
    server.drop_database("ct-demo")
    server.stop()
    assert not server.is_running()


@pytest.mark.integration
def test_postgres_start_failure_shows_the_log(make_postgres: Callable[..., Postgres]) -> None:
    server = make_postgres(fast=True)
    with pytest.raises(ServiceStartError, match="postgres exited") as caught:
        start_postgres(server.workdir, port=free_port())  # same data dir: lock file held
    assert "postmaster.pid" in str(caught.value)
    assert server.is_running()
