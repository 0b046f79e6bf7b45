"""The ingest's paho client, with less per-message overhead on the network thread.

Profiled draining single-reading messages, paho spent more of the network thread on system
calls than on MQTT: per received PUBLISH one ``select()`` and three to four ``recv()`` calls
(command byte, length bytes, body), per acknowledgement one wake-up write on paho's socket
pair from the writer thread and one ``send()``. Each call releases and re-takes the GIL, and
with the prepare threads busy every re-take can wait a switch interval. Two changes, both
outside the MQTT semantics:

* reads are buffered: one ``recv()`` of up to 256 KiB serves many packets; the buffer is
  reported through ``pending()``, the hook paho uses for TLS sockets, so paho does not wait
  in ``select()`` while buffered bytes remain, and :meth:`IngestClient.loop_read` goes on
  reading packets from the buffer (up to 200) instead of one per ``select()``;
* :meth:`IngestClient.ack_many` queues the PUBACKs of a committed batch as one write (the
  same 4-byte packets paho's ``ack()`` sends, in order), with one wake-up of the network thread.

A third change removes per-message Python work: paho turned each received PUBLISH into an
``MQTTMessage`` with a parsed MQTT 5 ``Properties`` object, formatted a debug log call and
matched the topic against the subscription filters before calling ``on_message``: ≈ 17 µs
per message on the network thread, which holds the GIL meanwhile. With
:meth:`IngestClient.set_publish_handler` a QoS 0/1 PUBLISH is parsed in a few lines (fixed
header, topic, packet id, properties skipped, payload) and handed to the handler as
``(topic bytes, payload, packet id)``; QoS 2 and anything unusual (topic aliases, a malformed
packet) still go through paho. The ingest uses no PUBLISH properties.

All three rely on paho internals, checked when this module is imported
(:data:`PAHO_INTERNALS`): a paho without one of them is refused with a message naming it
(:class:`cloud.errors.IncompatibleLibrary`) instead of misbehaving under load. pyproject.toml
pins paho to the minor version these were tested with; each use is marked "paho internal"
(with ``noqa: SLF001`` where ruff flags it).
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from cloud.errors import IncompatibleLibrary
from common.mqtt import ReconnectingClient, next_reconnect_delay

__all__ = [
    "PAHO_INTERNALS",
    "IngestClient",
    "PublishHandler",
    "check_paho_internals",
    "next_reconnect_delay",
    "split_publish",
]

TESTED_PAHO = "2.2"
#: paho-mqtt names this module uses that are not its public API, by where they live.
PAHO_INTERNALS: dict[str, tuple[str, ...]] = {
    "Client": ("_create_socket", "_packet_queue", "_handle_publish", "_send_puback"),
    "Client()": (
        "_in_packet",
        "_protocol",
        "_manual_ack",
        "_sock",
        "_reconnect_delay",
        "_thread_terminate",
    ),
    "MQTTMessage()": ("_topic",),
}


def check_paho_internals(client_class: type[mqtt.Client] = mqtt.Client) -> None:
    """Raise :class:`IncompatibleLibrary` naming every internal of :data:`PAHO_INTERNALS`
    that this paho lacks."""
    holders: dict[str, object] = {
        "Client": client_class,
        "Client()": client_class(CallbackAPIVersion.VERSION2),
        "MQTTMessage()": mqtt.MQTTMessage(),
    }
    missing = [
        f"{where}.{name}"
        for where, names in PAHO_INTERNALS.items()
        for name in names
        if not hasattr(holders[where], name)
    ]
    if missing:
        from importlib.metadata import version

        raise IncompatibleLibrary(
            f"paho-mqtt {version('paho-mqtt')} lacks {', '.join(missing)}, which the ingest "
            f"relies on (tested with paho-mqtt {TESTED_PAHO}.x): install "
            f"'paho-mqtt=={TESTED_PAHO}.*'"
        )


check_paho_internals()

PublishHandler = Callable[[bytes, bytes, int], None]
"""Called on the network thread with (topic bytes, payload, packet id; 0 for QoS 0)."""

_PUBACK = struct.Struct("!BBH")  # fixed header, remaining length 2, packet id
_READ_SIZE = 256 * 1024
_PACKETS_PER_READ = 200  # then paho's loop runs once more (writes, keepalive)


class _BufferedSocket:
    """A plain TCP socket whose reads go through a user-space buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""
        self._pos = 0

    def recv(self, size: int) -> bytes:
        if self._pos >= len(self._buffer):
            data = self._sock.recv(max(size, _READ_SIZE))  # BlockingIOError passes through
            if len(data) <= size:
                return data  # also b"" at EOF
            self._buffer, self._pos = data, 0
        end = self._pos + size
        chunk = self._buffer[self._pos : end]
        self._pos = min(end, len(self._buffer))
        return chunk

    def pending(self) -> int:
        return len(self._buffer) - self._pos

    def fileno(self) -> int:
        return self._sock.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


_U16 = struct.Struct("!H")


def split_publish(
    command: int, packet: bytes | bytearray, *, v5: bool
) -> tuple[bytes, int, bytes] | None:
    """(topic, packet id, payload) of a QoS 0/1 PUBLISH body; None when paho should handle it.

    ``packet`` is what follows the fixed header. None for QoS 2, an empty topic (an MQTT 5
    topic alias) and anything malformed, so that paho's own code deals with those cases.
    """
    qos = (command & 0x06) >> 1
    if qos > 1 or len(packet) < 2:
        return None
    (topic_len,) = _U16.unpack_from(packet)
    pos = 2 + topic_len
    if topic_len == 0 or len(packet) < pos:
        return None
    topic = packet[2:pos]
    mid = 0
    if qos:
        if len(packet) < pos + 2:
            return None
        (mid,) = _U16.unpack_from(packet, pos)
        pos += 2
    if v5:  # properties: a variable byte integer length, then that many bytes (skipped)
        length, shift = 0, 0
        while True:
            if pos >= len(packet) or shift > 21:
                return None
            byte = packet[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        pos += length
        if pos > len(packet):
            return None
    return bytes(topic), mid, bytes(packet[pos:])


class IngestClient(ReconnectingClient):
    """paho's client with buffered reads, batched acknowledgements and lean PUBLISH handling."""

    _publish_handler: PublishHandler | None = None

    def set_publish_handler(self, handler: PublishHandler) -> None:
        """Receive QoS 0/1 messages as ``handler(topic, payload, mid)`` instead of
        ``on_message`` (which still gets whatever the lean path leaves to paho)."""
        self._publish_handler = handler

    def _handle_publish(self) -> MQTTErrorCode:
        handler = self._publish_handler
        if handler is None:
            return super()._handle_publish()
        packet = self._in_packet  # paho internal
        v5 = self._protocol == mqtt.MQTTv5  # paho internal
        parts = split_publish(packet["command"], packet["packet"], v5=v5)
        if parts is None:
            return super()._handle_publish()
        topic, mid, payload = parts
        handler(topic, payload, mid)
        if mid and not self._manual_ack:  # paho internal
            return self._send_puback(mid)  # paho internal
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _create_socket(self) -> Any:
        sock = super()._create_socket()  # paho internal
        if type(sock) is socket.socket and not isinstance(sock, ssl.SSLSocket):
            return _BufferedSocket(sock)
        return sock

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho reads one packet per ``select()``; read on while bytes are buffered."""
        rc = super().loop_read(max_packets)
        sock = self._sock  # paho internal
        if not isinstance(sock, _BufferedSocket):
            return rc
        buffered: _BufferedSocket = sock
        for _ in range(_PACKETS_PER_READ):
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or not buffered.pending():
                break
            if self._sock is not buffered:  # paho internal; disconnected by a callback
                break
            rc = super().loop_read(1)
        return rc

    def ack_many(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages (manual ack), in order, with one network write."""
        ids = [mid for mid in mids if mid]
        if not ids:
            return
        packet = b"".join([_PUBACK.pack(PUBACK, 2, mid) for mid in ids])
        self._packet_queue(PUBACK, packet, 0, 1)  # paho internal
