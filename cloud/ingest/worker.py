"""The ingest worker: MQTT 5 shared subscription in, PostgreSQL out, ack after commit.

Threads: paho's network thread only queues messages; the worker thread batches,
verifies, writes one transaction per batch and only then acknowledges. The
broker's Receive Maximum bounds how many unacknowledged messages we hold, so
memory stays bounded and a slow or absent database pushes back on the broker
instead of filling RAM. A message is never acknowledged before it is stored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud.ingest.prepare import Accepted, DeadLetter, Inbound, prepare
from cloud.ingest.store import WriteResult, write_batch
from cloud.registry import KeyCache
from wire import Kind, subscription
from wire.broker import parse_mqtt_url

__all__ = ["IngestOptions", "IngestStats", "IngestWorker"]

_logger = logging.getLogger(__name__)
DEVICE_KINDS = (Kind.TELEMETRY, Kind.STOCK, Kind.EVENTS, Kind.STATE)
_SESSION_EXPIRY_S = 7 * 24 * 3600  # the broker keeps our queue for a week of downtime


@dataclass(frozen=True, slots=True)
class IngestOptions:
    database_url: str
    mqtt_url: str
    client_id: str
    share_group: str | None = "ingest"
    batch_messages: int = 500
    batch_seconds: float = 0.05
    receive_maximum: int = 1_000
    skew_flag_seconds: float = 120.0


@dataclass(slots=True)
class IngestStats:
    messages: int = 0
    stored: int = 0
    rows: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    batches: int = 0
    db_retries: int = 0


class IngestWorker:
    def __init__(self, options: IngestOptions) -> None:
        self.options = options
        self.stats = IngestStats()
        self.subscribed = threading.Event()
        self._inbox: queue.Queue[Inbound] = queue.Queue(maxsize=options.receive_maximum * 2)
        self._conn: psycopg.Connection[Any] | None = None
        self._keys = KeyCache(self._connect)
        self._client = self._make_client()

    # --- MQTT side (network thread) -------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        broker = parse_mqtt_url(self.options.mqtt_url)
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.options.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if broker.username:
            client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason_code: Any,
        _properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            _logger.error("broker refused the connection: %s", reason_code)
            return
        # Per kind rather than '+': config topics are the cloud's own output.
        topics = [
            (subscription(kind, share_group=self.options.share_group), 1) for kind in DEVICE_KINDS
        ]
        client.subscribe(topics)
        _logger.info("connected to broker; subscribing to %s", ", ".join(t for t, _ in topics))

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: object, _mid: int, codes: Any, _props: Any
    ) -> None:
        if any(code.is_failure for code in codes):
            _logger.error("subscription refused: %s", codes)
            return
        _logger.info("ingest ready: subscribed")
        self.subscribed.set()

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: object, _flags: Any, reason_code: Any, _p: Any
    ) -> None:
        self.subscribed.clear()
        _logger.warning("disconnected from broker (%s); paho reconnects", reason_code)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # MQTT requires UTF-8 topics; keep the evidence anyway
            topic = bytes(msg._topic).decode("utf-8", "replace")
        # Blocks the network thread when full: back-pressure onto the broker.
        self._inbox.put(Inbound(topic, bytes(msg.payload), datetime.now(UTC), msg.mid))

    # --- database side (worker thread) ----------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.options.database_url, connect_timeout=5)

    def _write(
        self, accepted: list[Accepted], dead: list[DeadLetter], stop: threading.Event
    ) -> WriteResult | None:
        """Write until it commits; returns None only when stopping first (nothing acked)."""
        delay = 0.2
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                try:
                    return write_batch(self._conn, accepted, dead)
                except psycopg.OperationalError:
                    raise
                except psycopg.Error as exc:
                    # The database refused the content, not the connection: find the
                    # poison message(s) instead of blocking the stream forever.
                    _logger.error("batch refused by the database (%s); isolating", exc)
                    return self._write_one_by_one(self._conn, accepted, dead)
            except psycopg.OperationalError as exc:
                self.stats.db_retries += 1
                _logger.warning("database unavailable (%s); retrying in %.1fs", exc, delay)
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
            if stop.wait(delay):
                return None
            delay = min(delay * 2, 5.0)

    @staticmethod
    def _write_one_by_one(
        conn: psycopg.Connection[Any], accepted: list[Accepted], dead: list[DeadLetter]
    ) -> WriteResult:
        results: list[WriteResult] = []
        for item in accepted:
            try:
                results.append(write_batch(conn, [item], []))
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                letter = DeadLetter(
                    item.inbound, "unstorable", f"database refused it: {exc}",
                    item.device_id, item.seq,
                )  # fmt: skip
                results.append(write_batch(conn, [], [letter]))
        results.append(write_batch(conn, [], dead))
        return WriteResult(
            stored=[a for r in results for a in r.stored],
            duplicates=[a for r in results for a in r.duplicates],
            dead_letters=[d for r in results for d in r.dead_letters],
            rows=sum(r.rows for r in results),
        )

    def _collect(self, stop: threading.Event) -> list[Inbound]:
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.options.batch_seconds
        while len(batch) < self.options.batch_messages and not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._inbox.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def process(self, batch: list[Inbound], stop: threading.Event) -> bool:
        accepted: list[Accepted] = []
        dead: list[DeadLetter] = []
        for inbound in batch:
            result = prepare(
                inbound, self._keys.identity, skew_flag_seconds=self.options.skew_flag_seconds
            )
            if isinstance(result, Accepted):
                accepted.append(result)
            else:
                dead.append(result)
        written = self._write(accepted, dead, stop)
        if written is None:
            return False
        for inbound in batch:
            if inbound.token:
                self._client.ack(inbound.token, 1)
        self._count(len(batch), written)
        return True

    def _count(self, messages: int, written: WriteResult) -> None:
        s = self.stats
        s.messages += messages
        s.batches += 1
        s.stored += len(written.stored)
        s.rows += written.rows
        s.duplicates += len(written.duplicates)
        s.dead_letters += len(written.dead_letters)
        for d in written.dead_letters:
            _logger.warning("dead letter (%s) on %s: %s", d.reason, d.inbound.topic, d.detail)

    def run(self, stop: threading.Event, *, on_ready: Callable[[], None] | None = None) -> None:
        """Consume until ``stop`` is set; the batch in hand is finished first."""
        broker = parse_mqtt_url(self.options.mqtt_url)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = _SESSION_EXPIRY_S
        props.ReceiveMaximum = self.options.receive_maximum
        self._client.connect_async(
            broker.host, broker.port, keepalive=30, clean_start=False, properties=props
        )
        self._client.loop_start()
        ready_reported = False
        last_report = time.monotonic()
        try:
            while not stop.is_set():
                if not ready_reported and self.subscribed.is_set():
                    ready_reported = True
                    if on_ready is not None:
                        on_ready()
                batch = self._collect(stop)
                if batch:
                    self._process_with_registry_retry(batch, stop)
                if time.monotonic() - last_report >= 10:
                    last_report = time.monotonic()
                    _logger.info("ingest stats: %s", self.stats)
        finally:
            self._client.disconnect()
            self._client.loop_stop()
            if self._conn is not None:
                self._conn.close()
            _logger.info("ingest stopped: %s", self.stats)

    def _process_with_registry_retry(self, batch: list[Inbound], stop: threading.Event) -> None:
        delay = 0.2
        while not stop.is_set():
            try:
                self.process(batch, stop)
                return
            except psycopg.OperationalError as exc:
                # The registry lookup needs the database too; wait for it like the writer does.
                self.stats.db_retries += 1
                _logger.warning("registry unavailable (%s); retrying in %.1fs", exc, delay)
                stop.wait(delay)
                delay = min(delay * 2, 5.0)
