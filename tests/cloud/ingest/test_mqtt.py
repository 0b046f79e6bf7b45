"""The ingest's paho client: buffered reads and batched acknowledgements."""

from __future__ import annotations

import socket
import struct

import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.ingest.mqtt import IngestClient, _BufferedSocket


def test_buffered_socket_serves_many_small_reads_from_one_recv() -> None:
    left, right = socket.socketpair()
    try:
        right.setblocking(False)
        left.sendall(b"\x30\x05hello\x30\x03abc")
        buffered = _BufferedSocket(right)
        assert buffered.recv(1) == b"\x30"
        assert buffered.pending() == 11
        assert buffered.recv(1) == b"\x05"
        assert buffered.recv(5) == b"hello"
        assert buffered.recv(100) == b"\x30\x03abc"  # a short read, like recv
        assert buffered.pending() == 0
        with pytest.raises(BlockingIOError):
            buffered.recv(1)  # nothing buffered, nothing on the socket
        assert buffered.fileno() == right.fileno()
        left.close()
        assert buffered.recv(1) == b""  # EOF passes through
    finally:
        left.close()
        right.close()


def test_ack_many_queues_the_same_pubacks_as_ack_in_one_write() -> None:
    client = IngestClient(CallbackAPIVersion.VERSION2, client_id="t", manual_ack=True)
    client.ack_many([7, 0, 65535, 1])  # 0: a message without a packet id (QoS 0)
    assert len(client._out_packet) == 1
    packet = client._out_packet[0]["packet"]
    assert packet == b"".join(struct.pack("!BBH", 0x40, 2, mid) for mid in (7, 65535, 1))

    reference = IngestClient(CallbackAPIVersion.VERSION2, client_id="r", manual_ack=True)
    for mid in (7, 65535, 1):
        reference.ack(mid, 1)
    assert b"".join(p["packet"] for p in reference._out_packet) == packet

    client.ack_many([])
    assert len(client._out_packet) == 1
