"""The ingest worker: MQTT 5 shared subscription in, PostgreSQL out, ack after commit.

Threads, as a two-stage pipeline:

* paho's network thread only queues received messages (the inbox);
* the main thread collects a batch and prepares it (envelope, signature, schema) on a
  small thread pool: Ed25519 verification releases the GIL, so it runs in parallel;
* the writer thread commits the previous batch meanwhile, and only then acknowledges;
* with the cloud key, a receipt thread then tells the devices of each committed batch what is
  stored (signed storage receipts, coalesced per device; cloud/ingest/receipts.py) and asks
  online devices to backfill gaps.

The broker's Receive Maximum bounds how many unacknowledged messages we hold, so memory
stays bounded and a slow or absent database pushes back on the broker instead of filling
RAM. A message is never acknowledged before it is stored.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import tenacity
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud.db import connect, retrying
from cloud.ingest.keys import BatchKeyCache, device_of_topic
from cloud.ingest.mqtt import IngestClient, next_reconnect_delay
from cloud.ingest.prepare import DEFAULT_MAX_FUTURE_SECONDS, Accepted, DeadLetter, Inbound, prepare
from cloud.ingest.receipts import ReceiptIssuer
from cloud.ingest.store import WriteResult
from cloud.ingest.writer import BatchWriter
from cloud.metrics import IngestMetrics
from wire import DEVICE_KINDS, subscription
from wire.broker import parse_mqtt_url

__all__ = ["IngestOptions", "IngestStats", "IngestWorker", "tune_gc"]

_logger = logging.getLogger(__name__)
_LAG_WINDOW_S = 60.0  # ct_device_receipt_lag_max_seconds looks back this far
# A pause this long in the stream ends a batch early if the writer is idle (a burst sent by
# the broker after our acks arrives without such pauses, so drains keep full batches).
_QUIET_S = 0.003
_SESSION_EXPIRY_S = 7 * 24 * 3600  # the broker keeps our queue for a week of downtime
_RECONNECT_MIN_S = 1
_RECONNECT_MAX_S = 10
# Young-generation threshold while ingesting: a batch of 500 messages of 100 readings makes
# ~10^5 short-lived objects, so with the default (700) collections run constantly and promote
# objects still held by a batch in flight; the resulting full collections stopped every
# thread for up to ~60 ms (measured: 1,976 collections, 660 ms in 2.6 s of preparing;
# with this and gc.freeze(): 24 collections, 113 ms, longest 17 ms).
_GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Freeze what start-up allocated and collect rarely (process-wide; see _GC_THRESHOLDS)."""
    gc.collect()
    gc.freeze()  # imports, settings, clients: never garbage, never traversed again
    gc.set_threshold(*_GC_THRESHOLDS)


@dataclass(frozen=True, slots=True)
class IngestOptions:
    database_url: str
    mqtt_url: str
    client_id: str
    share_group: str | None = "ingest"
    batch_messages: int = 500
    # A batch also ends at this many message bytes (~20k readings): 500 messages of 100
    # readings would be 50k rows, a quarter of a second of COPY that every message behind
    # it waits for; smaller batches cost throughput (measured at 1 MiB: -7 % batched drain).
    batch_bytes: int = 2 << 20
    batch_seconds: float = 0.05
    receive_maximum: int = 1_000
    skew_flag_seconds: float = 120.0
    max_future_seconds: float = DEFAULT_MAX_FUTURE_SECONDS
    verify_threads: int = 2
    tune_gc: bool = True  # tune_gc() when run() starts
    # The cloud key (the private half of the agents' [cloud] config_public_key): signs
    # storage receipts and backfill requests. None: no receipts (agents then free their
    # outboxes on the broker's PUBACK, if they have no key either).
    receipt_key: Ed25519PrivateKey | None = None
    receipt_interval_s: float = 0.25  # at most this often per device
    backfill_after_s: float = 10.0  # a gap open this long (device online) is asked for
    backfill_every_s: float = 30.0  # at most this often per device


@dataclass(slots=True)
class IngestStats:
    """What this worker did since it started; printed as one JSON line at exit."""

    messages: int = 0
    stored: int = 0
    rows: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    batches: int = 0
    db_retries: int = 0
    receipts: int = 0
    backfill_requests: int = 0


_Prepared = tuple[list[Inbound], list[Accepted], list[DeadLetter]]


class IngestWorker:
    # Kept for callers of the isolation path; the logic lives in cloud.ingest.writer.

    def __init__(self, options: IngestOptions, metrics: IngestMetrics | None = None) -> None:
        if options.verify_threads < 1:
            raise ValueError(f"verify_threads must be at least 1; got {options.verify_threads}")
        self.options = options
        self.stats = IngestStats()
        self.metrics = metrics if metrics is not None else IngestMetrics.create()
        self.subscribed = threading.Event()
        self._inbox: queue.Queue[Inbound] = queue.Queue(maxsize=options.receive_maximum * 2)
        # At most one prepared batch waits while the writer commits the previous one.
        self._handoff: queue.Queue[_Prepared | None] = queue.Queue(maxsize=1)
        self._writer_idle = threading.Event()  # set while the writer waits for a batch
        self._closing = threading.Event()  # run() is shutting down: stop queueing messages
        self._in_hand = 0  # messages taken from the inbox and not yet acknowledged
        self._in_hand_lock = threading.Lock()
        self.metrics.queue_depth.set_function(self.queue_depth)
        self._keys = BatchKeyCache(self._connect)
        self._writer = BatchWriter(self._connect, on_retry=self._count_retry)
        self._pool = ThreadPoolExecutor(options.verify_threads, thread_name_prefix="verify")
        self._client = self._make_client()
        self._reported_lags: deque[tuple[float, float]] = deque()  # (monotonic, lag)
        self.metrics.device_receipt_lag_max.set_function(self.max_reported_lag)
        self._receipts: ReceiptIssuer | None = None
        if options.receipt_key is not None:
            self._receipts = ReceiptIssuer(
                self._connect,
                options.receipt_key,
                self._publish_to_device,
                min_interval_s=options.receipt_interval_s,
                backfill_after_s=options.backfill_after_s,
                backfill_every_s=options.backfill_every_s,
                on_receipts=self._count_receipts,
                on_backfill=self._count_backfill,
            )

    # --- MQTT side (network thread) -------------------------------------------------

    def _make_client(self) -> IngestClient:
        broker = parse_mqtt_url(self.options.mqtt_url)
        client = IngestClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.options.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if broker.username:
            client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            client.tls_set(ca_certs=broker.ca_file)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.set_publish_handler(self._on_publish)  # QoS 0/1 without paho's MQTTMessage
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.reconnect_delay_set(min_delay=_RECONNECT_MIN_S, max_delay=_RECONNECT_MAX_S)
        # Receipts and backfill requests are QoS 1 publishes of ours: a wider window than
        # paho's default 20 (beyond it paho queues them in memory, coalesced upstream).
        client.max_inflight_messages_set(1_000)
        return client

    def _publish_to_device(self, topic: str, data: bytes, retain: bool) -> bool:
        """Publish a receipt or backfill request (from the receipt thread; paho's publish
        is thread-safe). A device that is offline makes Mosquitto answer 0x10: fine, the
        retained receipt waits for it."""
        info = self._client.publish(topic, data, qos=1, retain=retain)
        return info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)  # NO_CONN: queued

    def _count_receipts(self, count: int) -> None:
        self.stats.receipts += count
        self.metrics.receipts.inc(count)

    def _count_backfill(self, count: int) -> None:
        self.stats.backfill_requests += count
        self.metrics.backfill_requests.inc(count)

    def queue_depth(self) -> int:
        """Messages received and not yet acknowledged (waiting, or in a batch in flight)."""
        return self._inbox.qsize() + self._in_hand

    def max_reported_lag(self) -> float:
        horizon = time.monotonic() - _LAG_WINDOW_S
        lags = self._reported_lags
        while lags and lags[0][0] < horizon:
            lags.popleft()
        return max((lag for _, lag in lags), default=0.0)

    def _broker_name(self) -> str:
        broker = parse_mqtt_url(self.options.mqtt_url)
        return f"{broker.host}:{broker.port}"

    def _on_connect_fail(self, client: mqtt.Client, _userdata: object) -> None:
        _logger.warning(
            "cannot reach broker %s (%s); retrying in %.0f s",
            self._broker_name(),
            self._client.last_connect_error or "connection failed",
            next_reconnect_delay(client, _RECONNECT_MIN_S, _RECONNECT_MAX_S),
        )

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason_code: Any,
        _properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            _logger.error(
                "broker %s refused the connection: %s; retrying in %.0f s",
                self._broker_name(),
                reason_code,
                next_reconnect_delay(client, _RECONNECT_MIN_S, _RECONNECT_MAX_S),
            )
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

    def _connect(self) -> psycopg.Connection[Any]:
        # The primary, wherever it is (multi-host URLs; cloud/db.py), with keepalives.
        return connect(self.options.database_url, application_name="ct-ingest")

    def _count_retry(self) -> None:
        self.stats.db_retries += 1
        self.metrics.db_retries.inc()

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._on_publish(bytes(msg._topic), bytes(msg.payload), msg.mid)  # noqa: SLF001 (paho internal: the raw topic bytes)

    def _on_publish(self, raw_topic: bytes, payload: bytes, mid: int) -> None:
        try:
            topic = raw_topic.decode("utf-8")
        except UnicodeDecodeError:  # MQTT requires UTF-8 topics; keep the evidence anyway
            topic = raw_topic.decode("utf-8", "replace")
        inbound = Inbound(topic, payload, datetime.now(UTC), mid)
        # Blocks the network thread when full: back-pressure onto the broker. Once the worker
        # is closing nobody empties the inbox: the message is left unacknowledged (the broker
        # redelivers it) so that the network thread can finish instead of waiting forever.
        while not self._closing.is_set():
            try:
                self._inbox.put(inbound, timeout=0.2)
                return
            except queue.Full:
                continue

    def _collect(self, stop: threading.Event) -> list[Inbound]:
        """The next batch: what the inbox holds, topped up only while the writer is busy.

        Waiting ``batch_seconds`` to fill a batch while the writer sits idle only adds
        latency; while it commits, messages accumulate and the next batch grows by itself
        (group commit). So a batch ends when full, ``batch_seconds`` after its first
        message, or at the first pause of the stream (``_QUIET_S``) while the writer is idle.
        """
        inbox = self._inbox
        try:
            first = inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        size = len(first.data)
        limit, max_bytes = self.options.batch_messages, self.options.batch_bytes
        deadline = time.monotonic() + self.options.batch_seconds
        while len(batch) < limit and size < max_bytes and not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                inbound = inbox.get(timeout=min(remaining, _QUIET_S))
            except queue.Empty:
                if self._writer_idle.is_set():
                    break  # the stream paused and nothing waits for the writer: go
                continue
            batch.append(inbound)
            size += len(inbound.data)
        return batch

    def prepare_batch(self, batch: list[Inbound]) -> tuple[list[Accepted], list[DeadLetter]]:
        """Verify and flatten ``batch``, in parallel chunks (signature checks drop the GIL)."""
        threads = self.options.verify_threads
        if threads == 1 or len(batch) < 2 * threads:
            results = self._prepare_chunk(batch)
        else:
            size = -(-len(batch) // threads)
            chunks = [batch[i : i + size] for i in range(0, len(batch), size)]
            results = [r for part in self._pool.map(self._prepare_chunk, chunks) for r in part]
        accepted = [r for r in results if isinstance(r, Accepted)]
        dead = [r for r in results if isinstance(r, DeadLetter)]
        return accepted, dead

    def _prepare_chunk(self, chunk: Sequence[Inbound]) -> list[Accepted | DeadLetter]:
        options = self.options
        identity = self._keys.identity
        return [
            prepare(
                inbound,
                identity,
                skew_flag_seconds=options.skew_flag_seconds,
                max_future_seconds=options.max_future_seconds,
            )
            for inbound in chunk
        ]

    def commit(self, prepared: _Prepared, stop: threading.Event) -> bool:
        """Store a prepared batch, then acknowledge it; False if stopped before commit."""
        batch, accepted, dead = prepared
        began = time.perf_counter()
        written = self._writer.write(accepted, dead, stop)
        if written is None:
            return False
        committed = datetime.now(UTC)
        self._client.ack_many(inbound.token for inbound in batch)
        if self._receipts is not None:
            # Duplicates too: a device publishing again lacks a receipt for that seq.
            self._receipts.touch(
                {a.device_id for a in (*written.stored, *written.duplicates)}
                | {d.device_id for d in written.dead_letters if d.authenticated and d.device_id}
            )
        with self._in_hand_lock:
            self._in_hand -= len(batch)
        self._count(len(batch), written)
        self.metrics.batch_seconds.observe(time.perf_counter() - began)
        oldest = min(inbound.received_at for inbound in batch)
        self.metrics.lag_seconds.observe((committed - oldest).total_seconds())
        return True

    def _write_loop(self, stop: threading.Event) -> None:
        while True:
            try:
                prepared = self._handoff.get_nowait()
            except queue.Empty:
                self._writer_idle.set()
                prepared = self._handoff.get()
                self._writer_idle.clear()
            if prepared is None:
                return
            self.commit(prepared, stop)

    def _count(self, messages: int, written: WriteResult) -> None:
        s = self.stats
        s.messages += messages
        s.batches += 1
        s.stored += len(written.stored)
        s.rows += written.rows
        s.duplicates += len(written.duplicates)
        s.dead_letters += len(written.dead_letters)
        m = self.metrics
        m.messages.labels("stored").inc(len(written.stored))
        m.messages.labels("duplicate").inc(len(written.duplicates))
        m.messages.labels("dead_letter").inc(len(written.dead_letters))
        m.duplicates.inc(len(written.duplicates))
        for table, count in _rows_by_table(written.stored).items():
            m.rows.labels(table).inc(count)
        now = time.monotonic()
        for item in written.stored:
            health = item.state.health if item.state is not None else None
            if health is not None and health.receipt_lag_s is not None:
                m.device_receipt_lag.observe(health.receipt_lag_s)
                self._reported_lags.append((now, health.receipt_lag_s))
        if len(self._reported_lags) > 100_000:  # bounded between scrapes
            self.max_reported_lag()
        by_reason: dict[str, list[DeadLetter]] = {}
        for d in written.dead_letters:
            by_reason.setdefault(d.reason, []).append(d)
        # One line per reason and batch: a flood of hostile messages must not flood the log.
        for reason, letters in by_reason.items():
            m.dead_letters.labels(reason).inc(len(letters))
            first = letters[0]
            _logger.warning(
                "%d dead letter(s) (%s), first on %s: %s",
                len(letters), reason, first.inbound.topic, first.detail,
            )  # fmt: skip

    def run(self, stop: threading.Event, *, on_ready: Callable[[], None] | None = None) -> None:
        """Consume until ``stop`` is set; batches already prepared are committed first."""
        if self.options.tune_gc:
            tune_gc()
        broker = parse_mqtt_url(self.options.mqtt_url)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = _SESSION_EXPIRY_S
        props.ReceiveMaximum = self.options.receive_maximum
        _logger.info("connecting to broker %s:%d as %s", broker.host, broker.port,
                     self.options.client_id)  # fmt: skip
        self._client.connect_async(
            broker.host, broker.port, keepalive=30, clean_start=False, properties=props
        )
        self._client.loop_start()
        writer = threading.Thread(target=self._write_loop, args=(stop,), name="ingest-writer")
        writer.start()
        receipts_stop = threading.Event()
        receipts_thread = None
        if self._receipts is not None:
            receipts_thread = threading.Thread(
                target=self._receipts.run, args=(receipts_stop,), name="ingest-receipts"
            )
            receipts_thread.start()
        else:
            _logger.warning(
                "no cloud key for receipts: devices get no storage receipts (agents with the"
                " cloud key will keep and republish what they send); see docs/ingest.md"
            )
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
                    self._handle(batch, stop)
                if time.monotonic() - last_report >= 10:
                    last_report = time.monotonic()
                    _logger.info("ingest stats: %s", self.stats)
        finally:
            self._closing.set()
            self._handoff.put(None)
            writer.join()
            receipts_stop.set()
            if receipts_thread is not None:
                receipts_thread.join()
            self._client.disconnect()
            self._client.loop_stop()
            self._pool.shutdown()
            self._writer.close()
            self._keys.close()
            _logger.info("ingest stopped: %s", self.stats)

    def _handle(self, batch: list[Inbound], stop: threading.Event) -> None:
        with self._in_hand_lock:
            self._in_hand += len(batch)
        try:
            # The registry lookup needs the database too; wait for it like the writer does.
            for attempt in retrying(what="registry lookup", stop=stop,
                                    on_retry=lambda _exc: self._count_retry()):  # fmt: skip
                with attempt:
                    # One registry query for the batch's uncached devices, not one per device.
                    self._keys.prefetch(
                        d for inbound in batch if (d := device_of_topic(inbound.topic)) is not None
                    )
                    accepted, dead = self.prepare_batch(batch)
        except tenacity.RetryError:
            return  # stopping: the batch stays unacknowledged, the broker redelivers it
        self._handoff.put((batch, accepted, dead))
        self._writer_idle.clear()  # it has work now; it sets this again when done


def _rows_by_table(stored: list[Accepted]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in stored:
        for table, rows in item.rows.items():
            if rows:
                counts[table] = counts.get(table, 0) + len(rows)
    return counts
