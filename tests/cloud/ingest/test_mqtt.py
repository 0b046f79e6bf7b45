"""The ingest's paho client: buffered reads, batched acknowledgements, lean PUBLISH parsing."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt._packet import decode_publish
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from cloud.ingest.mqtt import IngestClient, _BufferedSocket, split_publish


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


def _publish_body(topic: bytes, mid: int | None, props: bytes | None, payload: bytes) -> bytes:
    body = struct.pack("!H", len(topic)) + topic
    if mid is not None:
        body += struct.pack("!H", mid)
    if props is not None:  # MQTT 5: variable byte integer length, then the properties
        length, encoded = len(props), b""
        while True:
            byte, length = length % 128, length // 128
            encoded += bytes([byte | (0x80 if length else 0)])
            if not length:
                break
        body += encoded + props
    return body + payload


# Text MQTT allows in strings (paho refuses U+0000, surrogates and U+FEFF in properties).
_MQTT_TEXT = st.text(st.characters(min_codepoint=1, max_codepoint=0xD7FF), max_size=100)


@settings(max_examples=200, deadline=None)
@given(
    topic=st.binary(min_size=1, max_size=300),
    qos=st.sampled_from([0, 1]),
    mid=st.integers(min_value=1, max_value=65535),
    v5=st.booleans(),
    user_props=st.lists(st.tuples(_MQTT_TEXT, _MQTT_TEXT), max_size=3),
    payload=st.binary(max_size=2000),
)
def test_split_publish_agrees_with_paho(
    topic: bytes,
    qos: int,
    mid: int,
    v5: bool,
    user_props: list[tuple[str, str]],
    payload: bytes,
) -> None:
    props = b""
    for key, value in user_props:  # User Property (0x26): two UTF-8 strings
        k, v = key.encode(), value.encode()
        props += b"\x26" + struct.pack("!H", len(k)) + k + struct.pack("!H", len(v)) + v
    command = 0x30 | (qos << 1)
    body = _publish_body(topic, mid if qos else None, props if v5 else None, payload)
    protocol = MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311
    expected = decode_publish(command, body, protocol)
    assert split_publish(command, body, v5=v5) == (expected.topic, expected.mid, expected.payload)


@pytest.mark.parametrize(
    ("command", "body"),
    [
        (0x34, _publish_body(b"t", 5, b"", b"qos 2")),  # QoS 2: paho's own state machine
        (0x32, _publish_body(b"", 5, b"", b"alias")),  # topic alias: empty topic
        (0x32, b"\x00"),  # truncated before the topic length ends
        (0x32, b"\x00\x09abc"),  # topic longer than the packet
        (0x32, _publish_body(b"t", None, None, b"")),  # QoS 1 without a packet id
        (0x32, _publish_body(b"t", 5, None, b"") + b"\xff\xff\xff\xff\x7f"),  # bad varint
        (0x32, _publish_body(b"t", 5, None, b"") + b"\x05ab"),  # properties past the end
    ],
)
def test_split_publish_leaves_unusual_packets_to_paho(command: int, body: bytes) -> None:
    assert split_publish(command, body, v5=True) is None


def test_the_publish_handler_gets_what_on_message_would_have() -> None:
    client = IngestClient(
        CallbackAPIVersion.VERSION2, client_id="t", protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=True,
    )  # fmt: skip
    received: list[tuple[bytes, bytes, int]] = []
    client.set_publish_handler(lambda topic, payload, mid: received.append((topic, payload, mid)))
    packet = _publish_body(b"ct/v1/a", 9, b"", b"data")
    client._in_packet = {**client._in_packet, "command": 0x32, "packet": bytearray(packet)}
    assert client._handle_publish() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert received == [(b"ct/v1/a", b"data", 9)]
    assert not client._out_packet  # manual ack: nothing acknowledged on receipt



def test_a_paho_without_an_internal_we_use_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import paho.mqtt.client as mqtt

    from cloud.errors import IncompatibleLibrary
    from cloud.ingest.mqtt import PAHO_INTERNALS, check_paho_internals

    check_paho_internals()  # the installed, pinned paho has every one
    assert "_packet_queue" in PAHO_INTERNALS["Client"]
    monkeypatch.delattr(mqtt.Client, "_packet_queue")  # as if a new paho had renamed it
    with pytest.raises(IncompatibleLibrary, match=r"lacks Client\._packet_queue.*paho-mqtt==2\.2"):
        check_paho_internals()
