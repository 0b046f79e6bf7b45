"""MQTT side of the agent: publishes sealed outbox messages with QoS 1 in seq order.

What may leave the outbox, and what is published when, is decided by `edge.delivery.Delivery`
(pure). With the cloud's receipt key the agent frees a message only when a storage receipt
signed by the cloud covers it; a PUBACK then only frees a slot of the in-flight window.
Without it a PUBACK 0x00 frees the message. A PUBACK with any other reason code keeps it:
Mosquitto 2.0.11 answers 0x10 "No matching subscribers" after a restart while the ingest's
persistent shared subscription is offline, and delivers the message to no one.

The same connection subscribes to the device's retained ``config`` and ``receipt`` topics and
to ``backfill``; config and backfill requests are handed to the agent (``on_config``,
``on_backfill``) from paho's network thread, untouched; receipts are verified and applied
here, on the main thread.

Several brokers (``[broker] urls``, in order of preference): after ``failover_after`` failed
connection attempts to the broker in use the agent connects to the next one; while on a
later broker it checks every ``failback_s`` whether an earlier one accepts TCP again and
moves back. A new connection, to whichever broker, publishes again everything not yet
receipted (the cloud's ``(device, seq)`` dedupe absorbs what the old broker had passed on),
so a broker that dies with messages in its queue loses nothing of this device's.

Threads: paho calls ``on_publish`` while holding its own outgoing-message lock, and
``publish()`` takes that same lock; so the network thread never takes our lock. It only
queues events, and `pump` (the agent's main thread) applies them; switching brokers too.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from common.mqtt import ReconnectingClient, next_reconnect_delay
from edge.cloud_messages import open_receipt
from edge.delivery import Delivery, DeliveryCounts
from edge.ed25519 import PublicKey
from edge.errors import EdgeError
from edge.outbox import ArmedWill, Outbox
from wire import Kind, Topic, WireError
from wire.broker import BrokerAddress, parse_mqtt_url

__all__ = ["LinkState", "Publisher"]

_logger = logging.getLogger(__name__)
_RECONNECT_MIN_S = 1
_RECONNECT_MAX_S = 15
_QUIET_RECEIPTS_WARN_S = 300.0  # warn (at most this often) while receipts fail to arrive

LinkState = dict[str, Any]
"""What ``edge status`` shows of the connection (see edge/status.py)."""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Publisher:
    def __init__(
        self,
        outbox: Outbox,
        topic: Topic,
        broker_url: str | Sequence[str],
        *,
        keepalive_s: int,
        max_inflight: int,
        arm_will: Callable[[], ArmedWill],
        on_connected: Callable[[], None],
        on_config: Callable[[bytes], None] | None = None,
        receipt_key: PublicKey | None = None,
        on_backfill: Callable[[bytes], None] | None = None,
        delivery: Delivery | None = None,
        failover_after: int = 2,
        failback_s: float = 60.0,
    ) -> None:
        self._outbox = outbox
        self._topic = topic
        urls = [broker_url] if isinstance(broker_url, str) else list(broker_url)
        if not urls:
            raise EdgeError("at least one broker URL is required")
        self._brokers: list[BrokerAddress] = [parse_mqtt_url(url) for url in urls]
        self._index = 0  # the broker in use (0: the preferred one)
        self._broker = self._brokers[0]
        self._failover_after = failover_after
        self._failback_s = failback_s
        self._failures = 0  # failed attempts on the broker in use since it last answered
        self._switch_to: int | None = None  # requested by the network thread, done by pump
        self._failback_checked = 0.0
        self.switches = 0
        self._keepalive = keepalive_s
        self._arm_will = arm_will
        self._on_connected = on_connected
        self._on_config = on_config
        self._receipt_key = receipt_key
        self._on_backfill = on_backfill if receipt_key is not None else None
        self.delivery = delivery or Delivery(window=max_inflight, receipts=receipt_key is not None)
        self._receipt_topic = topic.with_kind(Kind.RECEIPT)
        self._topics = {kind: str(topic.with_kind(kind)) for kind in Kind}
        # paho's network thread -> main thread: ("ack", mid, code), ("receipt", bytes),
        # ("connected", None, 0), ("resend", seq, 0)
        self._events: queue.SimpleQueue[tuple[str, Any, int]] = queue.SimpleQueue()
        self.connected = threading.Event()
        self.will: tuple[int, bytes] | None = None
        self.receipts_refused = 0
        self._stopping = False
        self._state = "connecting"
        self._state_since = _now_iso()
        self._last_error: str | None = None
        self._last_refusal_log = 0.0
        self._quiet_warned_at = 0.0
        self._connected_at = time.monotonic()
        self._client = ReconnectingClient(
            CallbackAPIVersion.VERSION2, client_id=f"ct-edge-{topic.device}", protocol=mqtt.MQTTv5
        )
        # paho's own window matches ours; past it paho queues (never drops: no size limit).
        self._client.max_inflight_messages_set(max_inflight)
        self._client.max_queued_messages_set(0)
        self._use_credentials()
        if self._broker.tls:
            self._client.tls_set(ca_certs=self._broker.ca_file)
        self._client.on_connect = self._handle_connect
        self._client.on_connect_fail = self._handle_connect_fail
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_publish = self._handle_publish
        self._client.on_message = self._handle_message
        self._client.reconnect_delay_set(min_delay=_RECONNECT_MIN_S, max_delay=_RECONNECT_MAX_S)

    def _use_credentials(self) -> None:
        broker = self._broker
        self._client.username_pw_set(broker.username or None, broker.password or None)

    # --- lifecycle -----------------------------------------------------------------------

    def _set_will(self) -> None:
        armed = self._arm_will()
        self.will = (armed.seq, armed.data)
        self._client.will_set(self._topics[Kind.STATE], armed.data, qos=1, retain=True)
        if armed.released is not None:
            # The previous connection's will, now an ordinary message: publish it (again).
            self._events.put(("resend", armed.released, 0))

    def start(self) -> None:
        self._set_will()
        mode = "storage receipts" if self.delivery.receipts else "broker PUBACK (no receipt key)"
        _logger.info("connecting to broker %s:%d; outbox frees on %s",
                     self._broker.host, self._broker.port, mode)  # fmt: skip
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=self._keepalive)
        self._client.loop_start()

    def stop(self, *, drain_s: float = 5.0) -> None:
        """Put the death notice in the outbox, deliver what is pending, then disconnect.

        The death notice is the armed will's exact bytes (same seq): if the broker fired the
        will as well, the cloud sees an identical duplicate, never two different deaths.
        Whatever is not delivered (or receipted) by ``drain_s`` stays for the next run.
        """
        self._stopping = True
        released = self._outbox.release_will()
        if released is not None:
            self._events.put(("resend", released, 0))
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline:
            # Not connected (yet, or any more): paho keeps trying until the deadline.
            if self.connected.is_set():
                self.pump()
                if self._outbox.stats().pending_messages == 0:
                    break
            time.sleep(0.05)
        self._client.disconnect()  # a normal DISCONNECT: the broker discards the will
        self._client.loop_stop()

    # --- main thread -----------------------------------------------------------------------

    def pump(self) -> int:
        """Apply what arrived, then publish into the free part of the window; returns how
        many messages were published."""
        now = time.monotonic()
        self._apply_events(now)
        self._maybe_switch(now)
        if not self.connected.is_set():
            return 0
        delivery = self.delivery
        marked = delivery.tick(now)
        if marked:
            what = "receipt" if delivery.receipts else "PUBACK"
            _logger.warning("%d message(s) without a %s for too long; publishing them again",
                            marked, what)  # fmt: skip
        self._warn_if_receipts_quiet(now)
        published = 0
        resend = delivery.to_resend(now)
        if resend:
            held = self._outbox.messages(resend)
            gone = set(resend) - {m.seq for m in held}
            delivery.forget(gone)  # evicted under the disk budget meanwhile
            published += self._publish(held, now)
        room = delivery.new_room(now)
        if room > 0:
            fresh = self._outbox.pending_messages(room, after_seq=delivery.high)
            published += self._publish(fresh, now)
        return published

    # --- several brokers -------------------------------------------------------------------

    def _maybe_switch(self, now: float) -> None:
        target = self._switch_to
        failback_due = now - self._failback_checked >= self._failback_s
        if target is None and self._index > 0 and self.connected.is_set() and failback_due:
            self._failback_checked = now
            target = next((i for i in range(self._index) if self._answers(i)), None)
            if target is not None:
                _logger.info("broker %s answers again; moving back to it", self._name(target))
        if target is None or self._stopping:
            return
        self._switch_to = None
        self._switch(target)

    def _answers(self, index: int) -> bool:
        """Whether broker ``index`` accepts a TCP connection now (a cheap check)."""
        broker = self._brokers[index]
        with contextlib.suppress(OSError), socket.create_connection(
            (broker.host, broker.port), timeout=1.0
        ):
            return True
        return False

    def _switch(self, index: int) -> None:
        """Connect to broker ``index`` instead (main thread). Everything not yet receipted
        is published again there once connected."""
        old = self._name(self._index)
        if self.connected.is_set():
            self._client.disconnect()  # a normal DISCONNECT: the old broker drops our will
        self._client.loop_stop()
        self.connected.clear()
        self._index, self._broker, self._failures = index, self._brokers[index], 0
        self._failback_checked = time.monotonic()
        self.switches += 1
        self._use_credentials()
        self._set_state("connecting")
        _logger.warning("switching from broker %s to %s", old, self._name(index))
        self._client.connect_async(self._broker.host, self._broker.port, keepalive=self._keepalive)
        self._client.loop_start()

    def _name(self, index: int) -> str:
        broker = self._brokers[index]
        return f"{broker.host}:{broker.port}"

    def _publish(self, messages: list[Any], now: float) -> int:
        published = 0
        for message in messages:
            kind = Kind(message.kind.value)
            info = self._client.publish(
                self._topics[kind], message.data, qos=1, retain=kind is Kind.STATE
            )
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                # Not queued (disconnected meanwhile): it stays in the outbox, retried later.
                _logger.debug("publish of seq %d not queued: rc=%s", message.seq, info.rc)
                break
            self.delivery.sent(info.mid, message.seq, now)
            published += 1
        return published

    def _apply_events(self, now: float) -> None:
        delivery = self.delivery
        freed: list[int] = []
        while True:
            try:
                event, value, code = self._events.get_nowait()
            except queue.Empty:
                break
            if event == "ack":
                refused = delivery.counts.refusals
                seq = delivery.puback(value, code, now)
                if seq is not None:
                    freed.append(seq)
                elif delivery.counts.refusals > refused:
                    self._log_refusal(code, now)
            elif event == "receipt":
                freed += self._apply_receipt(value, now)
            elif event == "connected":
                delivery.connected(now)
            elif event == "resend":
                delivery.resend([value])
        if freed:
            self._outbox.free(freed)

    def _apply_receipt(self, data: bytes, now: float) -> list[int]:
        assert self._receipt_key is not None  # only subscribed with a key
        try:
            receipt = open_receipt(self._receipt_topic, data, [self._receipt_key.verify])
        except WireError as exc:
            self.receipts_refused += 1
            _logger.warning("receipt refused (%s): %s", exc.reason, exc.message)
            return []
        freed = self.delivery.receipt(receipt, now)
        if receipt.highest > self.delivery.high and receipt.highest >= self._outbox_next_seq():
            _logger.warning(
                "receipt covers seq %d, beyond any seq this device allocated: ignored there",
                receipt.highest,
            )
        return freed

    def _outbox_next_seq(self) -> int:
        return self._outbox.stats().next_seq

    def _log_refusal(self, code: int, now: float) -> None:
        if now - self._last_refusal_log < 10.0:
            return  # once per backoff episode or so, not once per message
        self._last_refusal_log = now
        counts = self.delivery.counts
        _logger.warning(
            "broker answered PUBACK 0x%02x: message kept in the outbox, publishing again after"
            " a backoff (%d refused so far)",
            code,
            counts.refusals,
        )

    def _warn_if_receipts_quiet(self, now: float) -> None:
        delivery = self.delivery
        if not delivery.receipts or delivery.unreceipted == 0:
            return
        last = max(delivery.last_receipt_at or 0.0, self._connected_at)
        quiet = _QUIET_RECEIPTS_WARN_S
        if now - last < quiet or now - self._quiet_warned_at < quiet:
            return
        self._quiet_warned_at = now
        _logger.warning(
            "no storage receipt for %.0f s while %d sent message(s) wait for one: is the"
            " ingest running with the receipt key whose public half is in [cloud]?",
            now - last,
            delivery.unreceipted,
        )

    # --- figures ---------------------------------------------------------------------------

    @property
    def inflight(self) -> int:
        return self.delivery.inflight

    @property
    def acked(self) -> int:
        """Messages the outbox freed (on receipt, or PUBACK without receipts)."""
        return self.delivery.counts.freed

    @property
    def counts(self) -> DeliveryCounts:
        return self.delivery.counts

    def link_state(self) -> LinkState:
        delivery = self.delivery
        return {
            "state": self._state,
            "since": self._state_since,
            "broker": f"{self._broker.host}:{self._broker.port}",
            "broker_index": self._index,  # 0: the preferred broker of [broker] urls
            "last_error": self._last_error,
            "delivery": "receipts" if delivery.receipts else "puback",
            "unsent_from_seq": delivery.unsent_from(),
            "receipted_through": delivery.receipted_through,
        }

    def _set_state(self, state: str, error: str | None = None) -> None:
        if state != self._state:
            self._state, self._state_since = state, _now_iso()
        if error is not None:
            self._last_error = error

    # --- paho's network thread -------------------------------------------------------------

    def _handle_connect_fail(self, _c: mqtt.Client, _u: object) -> None:
        error = str(self._client.last_connect_error or "connection failed")
        self._set_state("disconnected", error)
        if self._failed_over(error):
            return
        _logger.warning(
            "cannot reach broker %s:%d (%s); retrying in %.0f s",
            self._broker.host,
            self._broker.port,
            error,
            next_reconnect_delay(self._client, _RECONNECT_MIN_S, _RECONNECT_MAX_S),
        )

    def _failed_over(self, error: str) -> bool:
        """Count a failed attempt; past ``failover_after`` ask pump to try the next broker."""
        self._failures += 1
        if len(self._brokers) > 1 and self._failures >= self._failover_after:
            following = (self._index + 1) % len(self._brokers)
            if self._switch_to is None:
                _logger.warning(
                    "cannot reach broker %s:%d after %d attempts (%s); failing over to %s",
                    self._broker.host, self._broker.port, self._failures, error,
                    self._name(following),
                )  # fmt: skip
                self._switch_to = following
            return True
        return False

    def _handle_connect(
        self, _c: mqtt.Client, _u: object, _f: Any, reason_code: Any, _p: Any
    ) -> None:
        if reason_code.is_failure:
            self._set_state("refused", f"CONNACK {reason_code}")
            if self._failed_over(f"CONNACK {reason_code}"):
                return
            _logger.error(
                "broker %s:%d refused the connection: %s; retrying in %.0f s",
                self._broker.host,
                self._broker.port,
                reason_code,
                next_reconnect_delay(self._client, _RECONNECT_MIN_S, _RECONNECT_MAX_S),
            )
            return
        _logger.info("connected to %s:%d", self._broker.host, self._broker.port)
        self._failures = 0
        subscriptions = []
        if self._on_config is not None:
            subscriptions.append((self._topics[Kind.CONFIG], 1))
        if self._receipt_key is not None:
            subscriptions.append((self._topics[Kind.RECEIPT], 1))
        if self._on_backfill is not None:
            subscriptions.append((self._topics[Kind.BACKFILL], 1))
        if subscriptions:
            # A clean session each time: the broker hands us the retained config and receipt.
            self._client.subscribe(subscriptions)
        self._connected_at = time.monotonic()
        self._events.put(("connected", None, 0))
        self._set_state("connected")
        self.connected.set()
        self._on_connected()

    def _handle_disconnect(
        self, _c: mqtt.Client, _u: object, _f: Any, reason: Any, _p: Any
    ) -> None:
        if self.connected.is_set():
            _logger.warning("disconnected from broker: %s", reason)
            self._set_state("disconnected", f"disconnected: {reason}")
        self.connected.clear()
        if self._stopping:
            return
        # A new connection is a new session: arm a fresh will for it.
        try:
            self._set_will()
        except EdgeError:
            _logger.exception("could not arm a new last will")

    def _handle_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        topic, data = message.topic, bytes(message.payload)
        if topic == self._topics[Kind.RECEIPT] and self._receipt_key is not None:
            if data:  # an empty retained message clears a receipt: nothing to apply
                self._events.put(("receipt", data, 0))
        elif topic == self._topics[Kind.CONFIG] and self._on_config is not None:
            self._on_config(data)
        elif topic == self._topics[Kind.BACKFILL] and self._on_backfill is not None:
            self._on_backfill(data)
        else:
            _logger.warning("ignoring a message on unexpected topic %r", topic)

    def _handle_publish(self, _c: mqtt.Client, _u: object, mid: int, reason: Any, _p: Any) -> None:
        # paho holds its message lock here: no locks of ours. Any code but 0x00 (Success),
        # including 0x10 "No matching subscribers", means the message was not accepted.
        self._events.put(("ack", mid, int(reason.value)))
