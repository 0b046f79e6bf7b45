from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from wire import (
    Kind,
    MalformedMessage,
    ReplayError,
    SignatureError,
    TelemetryBatch,
    Topic,
    TopicError,
    UnknownDevice,
    WireError,
    decode,
    encode_payload,
    format_public_key,
    load_private_key,
    open_message,
    parse_public_key,
    seal,
    seal_payload,
    write_private_key,
)
from wire.envelope import SIGNATURE_SIZE
from wire.replay import Freshness, ReplayGuard, digest


def test_seal_open_round_trip(key: Ed25519PrivateKey, topic: Topic, batch: TelemetryBatch) -> None:
    data = seal_payload(topic, 42, batch, key)
    opened = open_message(str(topic), data, lambda device: [key.public_key()])
    assert opened.topic == topic
    assert opened.envelope.seq == 42
    assert opened.envelope.device_id == "gw-0001"
    assert opened.payload == batch
    assert opened.envelope.payload == encode_payload(batch)


def test_layout_is_as_documented(key: Ed25519PrivateKey, topic: Topic) -> None:
    data = seal(topic, 1, b"{}", key)
    assert data[:2] == b"CT"
    assert data[2] == 1
    assert data[3] == 0
    assert int.from_bytes(data[4:12], "big") == 1
    assert data[12] == len("gw-0001")
    assert data[13:20] == b"gw-0001"
    assert int.from_bytes(data[20:24], "big") == 2
    assert data[24:26] == b"{}"
    assert len(data) == 26 + SIGNATURE_SIZE


def test_every_flipped_byte_is_rejected(key: Ed25519PrivateKey, topic: Topic) -> None:
    data = seal(topic, 9, b'{"a":1}', key)
    keys = [key.public_key()]
    for i in range(len(data)):
        tampered = bytearray(data)
        tampered[i] ^= 0x01
        # Only a payload change can survive structure checks; it must fail the signature.
        with pytest.raises(WireError):
            open_message(str(topic), bytes(tampered), lambda _d: keys)


def test_wrong_key(key: Ed25519PrivateKey, topic: Topic, batch: TelemetryBatch) -> None:
    data = seal_payload(topic, 1, batch, key)
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(SignatureError, match="does not verify"):
        open_message(str(topic), data, lambda _d: [other])


def test_rotated_keys_accepted(key: Ed25519PrivateKey, topic: Topic, batch: TelemetryBatch) -> None:
    data = seal_payload(topic, 1, batch, key)
    old = Ed25519PrivateKey.generate().public_key()
    assert open_message(str(topic), data, lambda _d: [old, key.public_key()]).envelope.seq == 1


def test_unknown_device(key: Ed25519PrivateKey, topic: Topic, batch: TelemetryBatch) -> None:
    data = seal_payload(topic, 1, batch, key)
    with pytest.raises(UnknownDevice):
        open_message(str(topic), data, lambda _d: [])


def test_wrong_topic_same_device(
    key: Ed25519PrivateKey, topic: Topic, batch: TelemetryBatch
) -> None:
    data = seal_payload(topic, 1, batch, key)
    moved = Topic("acme", "wh-other", "gw-0001", Kind.TELEMETRY)
    with pytest.raises(SignatureError):
        open_message(str(moved), data, lambda _d: [key.public_key()])


def test_device_mismatch_between_topic_and_envelope(
    key: Ed25519PrivateKey, topic: Topic, batch: TelemetryBatch
) -> None:
    data = seal_payload(topic, 1, batch, key)
    other_device = Topic("acme", "wh-sh-01", "gw-0002", Kind.TELEMETRY)
    with pytest.raises(TopicError, match="does not match"):
        open_message(str(other_device), data, lambda _d: [key.public_key()])


def test_kind_swap_is_rejected(key: Ed25519PrivateKey, topic: Topic, batch: TelemetryBatch) -> None:
    data = seal_payload(topic, 1, batch, key)
    with pytest.raises(SignatureError):
        open_message(str(topic.with_kind(Kind.STOCK)), data, lambda _d: [key.public_key()])


def test_signature_checked_before_schema(key: Ed25519PrivateKey, topic: Topic) -> None:
    forged = seal(topic, 1, b"not json", Ed25519PrivateKey.generate())
    with pytest.raises(SignatureError):
        open_message(str(topic), forged, lambda _d: [key.public_key()])
    signed_garbage = seal(topic, 1, b"not json", key)
    with pytest.raises(MalformedMessage):
        open_message(str(topic), signed_garbage, lambda _d: [key.public_key()])


def test_seal_refuses_bad_arguments(key: Ed25519PrivateKey, topic: Topic) -> None:
    with pytest.raises(ValueError, match="seq"):
        seal(topic, 0, b"{}", key)
    with pytest.raises(ValueError, match="payload"):
        seal(topic, 1, b"x" * ((1 << 20) + 1), key)


def test_replay_guard(key: Ed25519PrivateKey, topic: Topic, batch: TelemetryBatch) -> None:
    guard = ReplayGuard(window=3)
    first = seal_payload(topic, 1, batch, key)
    assert guard.check("gw-0001", 1, digest(first)) is Freshness.FRESH
    assert guard.check("gw-0001", 1, digest(first)) is Freshness.DUPLICATE
    other = seal_payload(topic, 1, batch.model_copy(update={"clock_synced": False}), key)
    with pytest.raises(ReplayError, match="already used"):
        guard.check("gw-0001", 1, digest(other))
    for seq in (2, 3, 4):
        guard.check("gw-0001", seq, bytes([seq]))
    # seq 1 fell out of the window: anything at or below it is now refused.
    with pytest.raises(ReplayError, match="older than the replay window"):
        guard.check("gw-0001", 1, digest(first))
    # other devices have their own sequence space
    assert guard.check("gw-0002", 1, digest(first)) is Freshness.FRESH


@settings(max_examples=500)
@given(st.binary(max_size=400))
def test_decoder_never_raises_anything_but_wire_error(data: bytes) -> None:
    with contextlib.suppress(WireError):
        decode(data)


@settings(max_examples=300)
@given(st.binary(max_size=300), st.text(max_size=80))
def test_open_message_never_raises_anything_but_wire_error(data: bytes, topic: str) -> None:
    key = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32).public_key()
    with contextlib.suppress(WireError):
        open_message(topic, data, lambda _d: [key])


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_signed_arbitrary_payload_fails_cleanly(payload: bytes) -> None:
    """Even authentic bytes from a buggy device only ever raise WireError."""
    key = Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
    topic = Topic("t", "s", "d", Kind.TELEMETRY)
    data = seal(topic, 1, payload, key)
    accepted_as = []
    for kind in Kind:
        with contextlib.suppress(WireError):
            open_message(str(topic.with_kind(kind)), data, lambda _d: [key.public_key()])
            accepted_as.append(kind)
    # The signature binds the topic and each payload names its type: at most one kind fits.
    assert len(accepted_as) <= 1


def test_keys_text_forms(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "device.pem"
    write_private_key(key, path)
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = load_private_key(path)
    assert format_public_key(loaded) == format_public_key(key)
    parsed = parse_public_key(format_public_key(key))
    assert format_public_key(parsed) == format_public_key(key)
    with pytest.raises(FileExistsError):
        write_private_key(key, path)
    for bad in ("rsa:AAAA", "ed25519:!!!", "ed25519:AAAA"):
        with pytest.raises(WireError):
            parse_public_key(bad)
