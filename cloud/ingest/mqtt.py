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

Both rely on paho 2.x internals (``_create_socket``, ``_packet_queue``); if those are
missing the client falls back to paho's own per-message behaviour.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK
from paho.mqtt.enums import MQTTErrorCode

__all__ = ["IngestClient"]

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


_HAS_INTERNALS = hasattr(mqtt.Client, "_create_socket") and hasattr(mqtt.Client, "_packet_queue")


class IngestClient(mqtt.Client):
    """paho's client with buffered reads and batched acknowledgements."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if type(sock) is socket.socket and not isinstance(sock, ssl.SSLSocket):
            return _BufferedSocket(sock)
        return sock

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho reads one packet per ``select()``; read on while bytes are buffered."""
        rc = super().loop_read(max_packets)
        sock = self._sock
        if not isinstance(sock, _BufferedSocket):
            return rc
        buffered: _BufferedSocket = sock
        for _ in range(_PACKETS_PER_READ):
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or not buffered.pending():
                break
            if self._sock is not buffered:  # disconnected by a callback
                break
            rc = super().loop_read(1)
        return rc

    def ack_many(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages (manual ack), in order, with one network write."""
        ids = [mid for mid in mids if mid]
        if not ids:
            return
        if not _HAS_INTERNALS:  # pragma: no cover - another paho major version
            for mid in ids:
                self.ack(mid, 1)
            return
        packet = b"".join([_PUBACK.pack(PUBACK, 2, mid) for mid in ids])
        self._packet_queue(PUBACK, packet, 0, 1)
