"""The ingest opens messages the way wire.open_message does, error for error: with each
cached identity's verifiers and a memoised topic."""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.ingest.verify import parse_topic
from cloud.registry import DeviceIdentity
from wire import Kind, WireError, open_envelope, open_message
from wire.envelope import decode

from .._messages import Device, telemetry


def outcome_of_wire(topic: str, data: bytes, keys: tuple[object, ...]) -> tuple[str, str]:
    try:
        opened = open_message(topic, data, lambda _d: keys)  # type: ignore[arg-type,return-value]
    except WireError as exc:
        return exc.reason, exc.message
    return "ok", opened.payload.model_dump_json()


def _open_like_the_ingest(topic: str, data: bytes, keys: tuple[object, ...]) -> object:
    identity = DeviceIdentity("gw-0001", "acme", "wh-sh-01", keys)  # type: ignore[arg-type]
    return open_envelope(parse_topic(topic), decode(data), identity.checks, topic_name=topic)


def outcome_of_ingest(topic: str, data: bytes, keys: tuple[object, ...]) -> tuple[str, str]:
    try:
        opened = _open_like_the_ingest(topic, data, keys)
    except WireError as exc:
        return exc.reason, exc.message
    return "ok", opened.payload.model_dump_json()


@pytest.fixture(scope="module")
def device() -> Device:
    return Device()


@pytest.fixture(scope="module")
def signed(device: Device) -> tuple[str, bytes]:
    inbound = device.inbound(Kind.TELEMETRY, 7, telemetry(4.5, 5.0))
    return inbound.topic, inbound.data


def test_a_valid_message_opens_to_the_same_payload(
    device: Device, signed: tuple[str, bytes]
) -> None:
    topic, data = signed
    keys = (device.key.public_key(),)
    result = outcome_of_ingest(topic, data, keys)
    assert result[0] == "ok"
    assert result == outcome_of_wire(topic, data, keys)


def test_rotation_any_registered_key_verifies(device: Device, signed: tuple[str, bytes]) -> None:
    topic, data = signed
    keys = (Ed25519PrivateKey.generate().public_key(), device.key.public_key())
    assert outcome_of_ingest(topic, data, keys)[0] == "ok"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("other key", "bad_signature"),
        ("no key", "unknown_device"),
        ("other topic", "bad_signature"),
        ("other device's topic", "bad_topic"),
        ("bad topic", "bad_topic"),
    ],
)
def test_refusals_match_wire(
    device: Device, signed: tuple[str, bytes], case: str, reason: str
) -> None:
    topic, data = signed
    keys: tuple[object, ...] = (device.key.public_key(),)
    if case == "other key":
        keys = (Ed25519PrivateKey.generate().public_key(),)
    elif case == "no key":
        keys = ()
    elif case == "other topic":
        topic = topic.replace("/wh-sh-01/", "/wh-sh-02/")
    elif case == "other device's topic":
        topic = topic.replace("/gw-0001/", "/gw-0002/")
    elif case == "bad topic":
        topic = topic.replace("ct/v1", "ct/v2")
    result = outcome_of_ingest(topic, data, keys)
    assert result[0] == reason
    assert result == outcome_of_wire(topic, data, keys)


@settings(max_examples=150, deadline=None)
@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_flipped_byte_gets_the_verdict_wire_gives(
    device: Device, signed: tuple[str, bytes], position: int, flip: int
) -> None:
    topic, data = signed
    tampered = bytearray(data)
    tampered[position % len(data)] ^= flip
    keys = (device.key.public_key(),)
    try:
        envelope = decode(bytes(tampered))
    except WireError:
        return  # refused before the signature, by the decoder both paths share
    expected = outcome_of_wire(topic, bytes(tampered), keys)
    assert outcome_of_ingest(topic, bytes(tampered), keys) == expected
    assert expected[0] != "ok"
    # The signature alone, swapped in from another message, does not verify either.
    other = replace(envelope, signature=bytes(64))
    identity = DeviceIdentity("gw-0001", "acme", "wh-sh-01", keys)  # type: ignore[arg-type]
    with pytest.raises(WireError):
        open_envelope(parse_topic(topic), other, identity.checks)


def test_topic_parsing_is_memoised_and_errors_are_not_cached() -> None:
    name = "ct/v1/acme/wh-sh-01/gw-0001/telemetry"
    assert parse_topic(name) is parse_topic(name)
    for _ in range(2):
        with pytest.raises(WireError):
            parse_topic("ct/v1/acme/wh-sh-01/gw-0001/nonsense")
