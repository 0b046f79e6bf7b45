"""The MQTT client both the gateway and the ingest use: jittered reconnection."""

from __future__ import annotations

import socket

import pytest
from paho.mqtt.enums import CallbackAPIVersion

from common.mqtt import (
    JITTER_FRACTION,
    ReconnectingClient,
    next_reconnect_delay,
    reconnect_jitter,
    sleep_unless,
)


def test_no_jitter_before_a_failed_attempt() -> None:
    assert reconnect_jitter(None, 0.99) == 0.0


@pytest.mark.parametrize("delay", [1.0, 2.0, 15.0])
def test_jitter_spreads_up_to_a_fraction_of_the_current_delay(delay: float) -> None:
    draws = [i / 100 for i in range(100)]
    waits = [reconnect_jitter(delay, d) for d in draws]
    assert min(waits) == 0.0
    assert max(waits) < delay * JITTER_FRACTION
    assert len(set(waits)) == len(draws)  # clients drawing differently wait differently


def test_next_delay_doubles_from_the_minimum_to_the_maximum() -> None:
    client = ReconnectingClient(CallbackAPIVersion.VERSION2, client_id="t")
    assert next_reconnect_delay(client, 1, 15) == 1
    for current, expected in ((1, 2), (4, 8), (8, 15), (15, 15)):
        client._reconnect_delay = current  # paho's own bookkeeping
        assert next_reconnect_delay(client, 1, 15) == expected


def test_the_reason_of_a_failed_attempt_is_kept() -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ReconnectingClient(CallbackAPIVersion.VERSION2, client_id="t")
    with pytest.raises(ConnectionRefusedError):
        client.connect("127.0.0.1", port)
    assert isinstance(client.last_connect_error, ConnectionRefusedError)


def test_the_jittered_wait_sleeps_it_all_in_steps() -> None:
    slept: list[float] = []
    sleep_unless(lambda: False, 0.35, sleep=slept.append)
    assert slept == pytest.approx([0.1, 0.1, 0.1, 0.05])


def test_the_jittered_wait_ends_when_the_client_stops() -> None:
    slept: list[float] = []
    sleep_unless(lambda: len(slept) == 2, 5.0, sleep=slept.append)
    assert len(slept) == 2
    sleep_unless(lambda: True, 5.0, sleep=slept.append)
    assert len(slept) == 2
