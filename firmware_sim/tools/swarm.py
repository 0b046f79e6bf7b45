"""Thousands of lightweight gateways on one event loop: MQTT connections at fleet scale.

Each :class:`SwarmAgent` is a device identity (Ed25519 key, monotonic seq) with its own
MQTT 5 connection speaking the real protocol: a signed last will (``offline``) armed at
connect, a retained signed birth (``online``, naming the will's seq) after CONNACK, and
signed heartbeats. A paho client per agent is cheap (≈4 KB); a thread per client is
not, so every client runs on one :mod:`selectors` loop through paho's external-loop API
(``on_socket_open``/``register_write`` callbacks, ``loop_read``/``loop_write``/
``loop_misc``). Connects are paced: at most ``max_connecting`` await their CONNACK, below
Mosquitto's listen backlog of 100, because paho's TCP connect blocks and a connect whose
SYN the kernel dropped from a full backlog would stall the whole loop for a second.

The loop is single-threaded; other threads and signal handlers talk to it only through
:meth:`Swarm.request` (a queue drained by the loop). :meth:`Swarm.drop` closes sockets
without DISCONNECT, so the broker publishes the wills, as when power or network fails.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import logging
import random
import selectors
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from firmware_sim.tools.loadgen import LoadDevice, LoadError
from wire import Kind, StateMessage, Topic, seal_payload
from wire.broker import parse_mqtt_url

__all__ = [
    "Swarm",
    "SwarmAgent",
    "SwarmStats",
    "pick_drop",
    "raise_fd_limit",
    "state_message",
]

_logger = logging.getLogger(__name__)
_AGENT_VERSION = "swarm-1"
Command = Literal["drop", "return", "stop"]


def pick_drop(total: int, count: int, seed: int = 0) -> list[int]:
    """Which agents a mass drop of ``count`` out of ``total`` takes down (sorted indices)."""
    if not 0 <= count <= total:
        raise ValueError(f"cannot drop {count} of {total} agents")
    return sorted(random.Random(seed).sample(range(total), count))


def state_message(status: Literal["online", "offline", "heartbeat"], **extra: Any) -> StateMessage:
    return StateMessage(status=status, ts=datetime.now(UTC), agent_version=_AGENT_VERSION, **extra)


@dataclass(slots=True)
class SwarmAgent:
    """One simulated gateway and, while it is up, its paho client."""

    device: LoadDevice
    client: mqtt.Client | None = None
    connected: bool = False
    will_seq: int = 0
    will: bytes = b""
    session: int = 0  # bumped per connection, so heartbeats of an old session stop

    @property
    def state_topic(self) -> Topic:
        return Topic(self.device.tenant, self.device.site, self.device.device_id, Kind.STATE)

    def seal_state(self, message: StateMessage) -> tuple[int, bytes]:
        seq = self.device.next_seq
        self.device.next_seq += 1
        return seq, seal_payload(self.state_topic, seq, message, self.device.key)


@dataclass(slots=True)
class SwarmStats:
    connected: int = 0
    connects: int = 0
    refused: int = 0
    lost: int = 0
    births: int = 0
    heartbeats: int = 0
    dropped: int = 0
    publish_errors: int = 0
    started: float = field(default_factory=time.monotonic)


class Swarm:
    """Every agent's MQTT session on one selector loop (call :meth:`run` in one thread)."""

    def __init__(
        self,
        devices: Sequence[LoadDevice],
        mqtt_url: str,
        *,
        heartbeat_s: float = 30.0,
        keepalive_s: int = 60,
        max_connecting: int = 64,
        seed: int = 0,
    ) -> None:
        if not heartbeat_s > 0:
            raise ValueError(f"heartbeat_s must be > 0; got {heartbeat_s}")
        self._broker = parse_mqtt_url(mqtt_url)
        self.agents = [SwarmAgent(d) for d in devices]
        self._heartbeat_s = heartbeat_s
        self._keepalive = keepalive_s
        self._max_connecting = max_connecting
        self._rng = random.Random(seed)
        self._selector = selectors.DefaultSelector()
        self._to_connect: collections.deque[int] = collections.deque()
        self._connecting = 0
        self._beats: list[tuple[float, int, int]] = []  # (due, agent index, session) heap
        self._retries: list[tuple[float, int]] = []  # lost sessions: (due, agent index) heap
        self._requests: collections.deque[tuple[Command, Sequence[int]]] = collections.deque()
        self._misc_cursor = 0
        self._stopping = False
        self.stats = SwarmStats()

    # ------------------------------------------------------------------ control

    def request(self, command: Command, indices: Sequence[int] = ()) -> None:
        """Ask the loop to drop, bring back or stop (safe from threads and signal handlers)."""
        self._requests.append((command, indices))

    def connect_all(self) -> None:
        self._to_connect.extend(range(len(self.agents)))

    @property
    def settled(self) -> bool:
        """No connect queued or awaiting its CONNACK."""
        return not self._to_connect and self._connecting == 0

    def run(
        self,
        *,
        until: Callable[[], bool],
        tick: Callable[[Swarm], None] | None = None,
        tick_s: float = 1.0,
    ) -> SwarmStats:
        """Serve every session until ``until()`` is true or a stop is requested."""
        next_tick = time.monotonic() + tick_s
        while not until() and not self._stopping:
            self._serve_requests()
            self._start_connects()
            for key, mask in self._selector.select(timeout=0.05):
                self._service(key.data, mask)
            now = time.monotonic()
            while self._retries and self._retries[0][0] <= now:
                self._to_connect.append(heapq.heappop(self._retries)[1])
            self._send_heartbeats(now)
            self._keepalives()
            if tick is not None and now >= next_tick:
                next_tick = now + tick_s
                tick(self)
        self._shutdown()
        return self.stats

    # ------------------------------------------------------------------ loop internals

    def _serve_requests(self) -> None:
        while self._requests:
            command, indices = self._requests.popleft()
            if command == "drop":
                self.drop(indices)
            elif command == "return":
                self._to_connect.extend(i for i in indices if self.agents[i].client is None)
            else:
                self._stopping = True

    def drop(self, indices: Sequence[int]) -> None:
        """Close these agents' sockets with no DISCONNECT: the broker fires their wills."""
        for i in indices:
            agent = self.agents[i]
            client = agent.client
            if client is None:
                continue
            sock = client.socket()
            if sock is not None:
                self._unregister(sock)
                sock.close()
            if agent.connected:
                self.stats.connected -= 1
            else:
                self._connecting -= 1
            agent.client, agent.connected = None, False
            self.stats.dropped += 1

    def _start_connects(self) -> None:
        while self._to_connect and self._connecting < self._max_connecting:
            index = self._to_connect.popleft()
            agent = self.agents[index]
            if agent.client is not None:
                continue
            client = self._new_client(agent, index)
            agent.client = client
            self._connecting += 1
            try:
                client.connect(self._broker.host, self._broker.port, keepalive=self._keepalive)
            except OSError as exc:
                _logger.warning("%s: connect failed: %s", agent.device.device_id, exc)
                agent.client = None
                self._connecting -= 1
                self._to_connect.append(index)
                return

    def _new_client(self, agent: SwarmAgent, index: int) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=agent.device.device_id,
            protocol=mqtt.MQTTv5,
            userdata=index,
        )
        if self._broker.username:
            client.username_pw_set(self._broker.username, self._broker.password)
        if self._broker.tls:
            client.tls_set()
        # A new connection is a new session: arm a fresh will, sealed now.
        agent.will_seq, agent.will = agent.seal_state(
            state_message("offline", reason="connection lost")
        )
        client.will_set(str(agent.state_topic), agent.will, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        return client

    def _service(self, index: int, mask: int) -> None:
        client = self.agents[index].client
        if client is None:
            return
        if mask & selectors.EVENT_READ:
            client.loop_read()
        if mask & selectors.EVENT_WRITE and client.socket() is not None:
            client.loop_write()

    def _send_heartbeats(self, now: float) -> None:
        while self._beats and self._beats[0][0] <= now:
            _, index, session = heapq.heappop(self._beats)
            agent = self.agents[index]
            if not agent.connected or agent.client is None or agent.session != session:
                continue  # a reconnect schedules its own heartbeats
            self._publish(agent, state_message("heartbeat"))
            self.stats.heartbeats += 1
            heapq.heappush(self._beats, (now + self._heartbeat_s, index, session))

    def _keepalives(self) -> None:
        # loop_misc sends PINGREQ when a session was idle for a keepalive; visiting every
        # client once per ~keepalive/4 seconds (at ~20 iterations a second) is enough.
        count = len(self.agents)
        share = max(1, int(count / (self._keepalive / 4 * 20)) + 1)
        for _ in range(min(share, count)):
            client = self.agents[self._misc_cursor].client
            self._misc_cursor = (self._misc_cursor + 1) % count
            if client is not None and client.socket() is not None:
                client.loop_misc()

    def _publish(self, agent: SwarmAgent, message: StateMessage, *, retain: bool = False) -> None:
        assert agent.client is not None
        _, data = agent.seal_state(message)
        info = agent.client.publish(str(agent.state_topic), data, qos=1, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            self.stats.publish_errors += 1
            _logger.warning(
                "%s: publish refused: %s", agent.device.device_id, mqtt.error_string(info.rc)
            )

    def _shutdown(self) -> None:
        """Clean exit: each connected agent sends its death (the will's bytes) and leaves."""
        self._stopping = True
        for agent in self.agents:
            if agent.client is not None and agent.connected:
                # Like the edge agent: the will's exact bytes (same seq), so a will the broker
                # also fires is a duplicate, not a second death.
                agent.client.publish(str(agent.state_topic), agent.will, qos=1, retain=True)
                agent.client.disconnect()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._selector.get_map():
            for key, mask in self._selector.select(timeout=0.05):
                self._service(key.data, mask)
        for agent in self.agents:
            if agent.client is not None and (sock := agent.client.socket()) is not None:
                self._unregister(sock)
                sock.close()
            agent.client, agent.connected = None, False
        self._selector.close()

    # ------------------------------------------------------------------ paho callbacks

    def _on_connect(self, client: mqtt.Client, index: int, _f: Any, code: Any, _p: Any) -> None:
        agent = self.agents[index]
        if agent.client is not client:
            return
        self._connecting -= 1
        if code.is_failure:
            self.stats.refused += 1
            _logger.warning("%s: broker refused: %s", agent.device.device_id, code)
            agent.client = None
            return
        agent.connected = True
        self.stats.connected += 1
        self.stats.connects += 1
        self._publish(agent, state_message("online", will_seq=agent.will_seq), retain=True)
        self.stats.births += 1
        agent.session += 1
        due = time.monotonic() + self._rng.uniform(0.1, self._heartbeat_s)
        heapq.heappush(self._beats, (due, index, agent.session))

    def _on_disconnect(self, client: mqtt.Client, index: int, _f: Any, code: Any, _p: Any) -> None:
        agent = self.agents[index]
        if agent.client is not client or self._stopping:
            return
        # The broker (or the network) ended the session; the broker fires the will.
        if agent.connected:
            self.stats.connected -= 1
        else:
            self._connecting -= 1
        self.stats.lost += 1
        agent.client, agent.connected = None, False
        # Like a gateway: come back after a randomised delay, with a new will and birth.
        delay = self._rng.uniform(1.0, 5.0)
        heapq.heappush(self._retries, (time.monotonic() + delay, index))
        _logger.warning("%s: connection lost (%s); reconnecting in %.1f s",
                        agent.device.device_id, code, delay)  # fmt: skip

    def _on_socket_open(self, _c: mqtt.Client, index: int, sock: Any) -> None:
        self._selector.register(sock, selectors.EVENT_READ, index)

    def _on_socket_close(self, _c: mqtt.Client, _index: int, sock: Any) -> None:
        self._unregister(sock)

    def _on_register_write(self, _c: mqtt.Client, index: int, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):  # closed meanwhile
            self._selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, index)

    def _on_unregister_write(self, _c: mqtt.Client, index: int, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.modify(sock, selectors.EVENT_READ, index)

    def _unregister(self, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)


def raise_fd_limit(needed: int) -> int:
    """Raise this process's soft open-files limit to fit ``needed`` sockets; returns it."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed + 256
    if soft >= want:
        return soft
    if hard != resource.RLIM_INFINITY and hard < want:
        raise LoadError(
            f"{needed} connections need {want} open files; the hard limit is {hard}"
            " (raise it with ulimit -Hn or systemd LimitNOFILE)"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want
