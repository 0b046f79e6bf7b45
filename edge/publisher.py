"""MQTT side of the agent: publishes sealed outbox messages with QoS 1 in seq order.

A message leaves the outbox only when the broker's PUBACK arrives with reason code 0x00
(Success). Any other code, including those below 0x80 that paho does not call failures,
keeps it: Mosquitto 2.0.11 answers 0x10 "No matching subscribers" after a restart while the
ingest's persistent shared subscription is offline, and delivers the message to no one.
Refused messages are published again after a backoff (1 s doubling to 30 s) and counted
(``refusals``). At most
``max_inflight`` messages are unacknowledged at once (paho silently drops
messages past 65,535 in flight, and a bounded window keeps memory flat). After a
reconnect paho retransmits what was in flight; anything still unacknowledged a
while later is republished from the outbox, and the cloud absorbs duplicates.

The same connection subscribes to the device's retained ``config`` topic; received config
messages are handed to ``on_config`` (from paho's network thread) untouched: verifying and
applying them is the agent's job.

Threads: paho calls ``on_publish`` while holding its own outgoing-message lock, and
``publish()`` takes that same lock; so the network thread never takes our lock. It only
queues PUBACKs, and `pump` (the agent's main thread) applies them to the outbox.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from edge.errors import EdgeError
from edge.outbox import Outbox
from wire import Kind, Topic
from wire.broker import parse_mqtt_url

__all__ = ["Publisher"]

_logger = logging.getLogger(__name__)
_REPUBLISH_AFTER_S = 30.0
_RETRY_MIN_S = 1.0  # after a refused PUBACK, wait this long before publishing again
_RETRY_MAX_S = 30.0
_RECONNECT_MIN_S = 1
_RECONNECT_MAX_S = 15


class _Client(mqtt.Client):
    """paho's client, remembering why the last connection attempt failed (for the log)."""

    last_connect_error: OSError | None = None

    def reconnect(self) -> MQTTErrorCode:
        try:
            return super().reconnect()
        except OSError as exc:
            self.last_connect_error = exc
            raise


def next_reconnect_delay(client: mqtt.Client, min_s: float, max_s: float) -> float:
    """How long paho will wait before its next attempt (it doubles from min to max)."""
    current = getattr(client, "_reconnect_delay", None)  # paho 2.x internal; None: first wait
    return float(min_s if current is None else min(current * 2, max_s))


class Publisher:
    def __init__(
        self,
        outbox: Outbox,
        topic: Topic,
        broker_url: str,
        *,
        keepalive_s: int,
        max_inflight: int,
        arm_will: Callable[[], tuple[int, bytes]],
        on_connected: Callable[[], None],
        on_config: Callable[[bytes], None] | None = None,
    ) -> None:
        self._outbox = outbox
        self._topic = topic
        self._broker = parse_mqtt_url(broker_url)
        self._keepalive = keepalive_s
        self._window = max_inflight
        self._arm_will = arm_will
        self._on_connected = on_connected
        self._on_config = on_config
        self._lock = threading.Lock()  # main thread(s) only; never taken in paho callbacks
        self._acks: queue.SimpleQueue[tuple[int, Any]] = queue.SimpleQueue()
        self._inflight: dict[int, tuple[int, float]] = {}  # mid -> (seq, published at)
        self._highest_sent = 0
        self.connected = threading.Event()
        self.acked = 0
        self.refusals = 0  # PUBACKs other than 0x00 since start; the messages were kept
        self._retry_s = _RETRY_MIN_S
        self._paused_until = 0.0
        self.will: tuple[int, bytes] | None = None
        self._stopping = False
        self._client = _Client(
            CallbackAPIVersion.VERSION2, client_id=f"ct-edge-{topic.device}", protocol=mqtt.MQTTv5
        )
        self._client.max_inflight_messages_set(max_inflight)
        self._client.max_queued_messages_set(0)
        if self._broker.username:
            self._client.username_pw_set(self._broker.username, self._broker.password)
        if self._broker.tls:
            self._client.tls_set(ca_certs=self._broker.ca_file)
        self._client.on_connect = self._handle_connect
        self._client.on_connect_fail = self._handle_connect_fail
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_publish = self._handle_publish
        self._client.on_message = self._handle_message
        self._client.reconnect_delay_set(min_delay=_RECONNECT_MIN_S, max_delay=_RECONNECT_MAX_S)

    def _set_will(self) -> None:
        self.will = self._arm_will()
        self._client.will_set(
            str(self._topic.with_kind(Kind.STATE)), self.will[1], qos=1, retain=True
        )

    def start(self) -> None:
        self._set_will()
        _logger.info("connecting to broker %s:%d", self._broker.host, self._broker.port)
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=self._keepalive)
        self._client.loop_start()

    def stop(self, *, drain_s: float = 5.0, publish_death: bool = True) -> None:
        """Try to deliver what is pending, announce a clean death, then disconnect."""
        self._stopping = True
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and self.connected.is_set():
            self.pump()
            if self._outbox.stats().pending_messages == 0:
                break
            time.sleep(0.05)
        if publish_death and self.connected.is_set() and self.will is not None:
            # The will's exact bytes (same seq): if the broker also fires it, the cloud
            # sees an identical duplicate, never two different deaths.
            info = self._client.publish(
                str(self._topic.with_kind(Kind.STATE)), self.will[1], qos=1, retain=True
            )
            with self._lock:
                self._inflight[info.mid] = (self.will[0], time.monotonic())
            with contextlib.suppress(RuntimeError):
                info.wait_for_publish(timeout=max(0.5, deadline - time.monotonic()))
        self._client.disconnect()
        self._client.loop_stop()

    def pump(self) -> int:
        """Publish pending messages into the free part of the window; returns how many."""
        self._apply_acks()
        if not self.connected.is_set():
            return 0
        now = time.monotonic()
        if now < self._paused_until:
            return 0  # the broker refused a message: wait out the backoff before retrying
        with self._lock:
            stale = [
                mid for mid, (_s, at) in self._inflight.items() if now - at > _REPUBLISH_AFTER_S
            ]
            if stale:
                _logger.warning(
                    "%d messages unacknowledged for %.0fs; republishing",
                    len(stale),
                    _REPUBLISH_AFTER_S,
                )
                # Resend from the oldest stale message on; fresh ones after it may go twice,
                # which the cloud absorbs as duplicates.
                lowest = min(self._inflight.pop(mid)[0] for mid in stale)
                self._highest_sent = min(self._highest_sent, lowest - 1)
            room = self._window - len(self._inflight)
            if room <= 0:
                return 0
            messages = self._outbox.pending_messages(room, after_seq=self._highest_sent)
            published = 0
            for message in messages:
                topic = str(self._topic.with_kind(Kind(message.kind.value)))
                info = self._client.publish(
                    topic, message.data, qos=1, retain=message.kind.value == Kind.STATE.value
                )
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    # Not queued (disconnected meanwhile, or queue full): retry next pump.
                    _logger.debug("publish of seq %d not queued: rc=%s", message.seq, info.rc)
                    break
                self._inflight[info.mid] = (message.seq, now)
                self._highest_sent = max(self._highest_sent, message.seq)
                published += 1
        return published

    @property
    def inflight(self) -> int:
        with self._lock:
            return len(self._inflight)

    def _handle_connect_fail(self, _c: mqtt.Client, _u: object) -> None:
        _logger.warning(
            "cannot reach broker %s:%d (%s); retrying in %.0f s",
            self._broker.host,
            self._broker.port,
            self._client.last_connect_error or "connection failed",
            next_reconnect_delay(self._client, _RECONNECT_MIN_S, _RECONNECT_MAX_S),
        )

    def _handle_connect(
        self, _c: mqtt.Client, _u: object, _f: Any, reason_code: Any, _p: Any
    ) -> None:
        if reason_code.is_failure:
            _logger.error(
                "broker %s:%d refused the connection: %s; retrying in %.0f s",
                self._broker.host,
                self._broker.port,
                reason_code,
                next_reconnect_delay(self._client, _RECONNECT_MIN_S, _RECONNECT_MAX_S),
            )
            return
        _logger.info("connected to %s:%d", self._broker.host, self._broker.port)
        if self._on_config is not None:
            # A clean session each time: the broker hands us the retained config on subscribe.
            self._client.subscribe(str(self._topic.with_kind(Kind.CONFIG)), qos=1)
        self.connected.set()
        self._on_connected()

    def _handle_disconnect(
        self, _c: mqtt.Client, _u: object, _f: Any, reason: Any, _p: Any
    ) -> None:
        if self.connected.is_set():
            _logger.warning("disconnected from broker: %s", reason)
        self.connected.clear()
        if self._stopping:
            return
        # A new connection is a new session: arm a fresh will for it.
        try:
            self._set_will()
        except EdgeError:
            _logger.exception("could not arm a new last will")

    def _handle_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        if self._on_config is None or message.topic != str(self._topic.with_kind(Kind.CONFIG)):
            _logger.warning("ignoring a message on unexpected topic %r", message.topic)
            return
        self._on_config(bytes(message.payload))

    def _handle_publish(self, _c: mqtt.Client, _u: object, mid: int, reason: Any, _p: Any) -> None:
        self._acks.put((mid, reason))  # paho holds its message lock here: no locks of ours

    def _apply_acks(self) -> None:
        """Delete acknowledged messages from the outbox; main thread, from `pump`."""
        while True:
            try:
                mid, reason = self._acks.get_nowait()
            except queue.Empty:
                return
            refused = reason.value != 0  # not Success: 0x10 "No matching subscribers" too
            with self._lock:
                entry = self._inflight.pop(mid, None)
                if entry is not None and refused:
                    self._highest_sent = min(self._highest_sent, entry[0] - 1)
            if entry is None:
                continue
            if refused:
                self._refused(entry[0], reason)
                continue
            self._retry_s = _RETRY_MIN_S
            self._outbox.ack(entry[0])
            self.acked += 1

    def _refused(self, seq: int, reason: Any) -> None:
        self.refusals += 1
        now = time.monotonic()
        if now >= self._paused_until:  # once per backoff episode, not once per message
            _logger.warning(
                "broker answered seq %d with PUBACK 0x%02x (%s): kept in the outbox, "
                "publishing again in %.0f s (%d refused so far)",
                seq, reason.value, reason, self._retry_s, self.refusals,
            )  # fmt: skip
            self._paused_until = now + self._retry_s
            self._retry_s = min(self._retry_s * 2, _RETRY_MAX_S)
