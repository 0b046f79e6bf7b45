"""Ingest limits: far-future device time and oversized messages become dead letters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cloud.ingest.prepare import (
    DEAD_LETTER_KEEP_BYTES,
    FUTURE_TIMESTAMP,
    MAX_MESSAGE_BYTES,
    OVERSIZED,
    Accepted,
    DeadLetter,
    Inbound,
    prepare,
)
from wire import Kind

from .._messages import T0, Device, dead, events, state, stock, telemetry

RECEIVED = T0 + timedelta(seconds=1)


def run(device: Device, inbound: Inbound) -> Accepted | DeadLetter:
    return prepare(
        inbound, lambda d: device.identity if d == device.device_id else None,
        skew_flag_seconds=60, max_future_seconds=86_400,
    )  # fmt: skip


@pytest.mark.parametrize("ahead", [timedelta(days=1, seconds=2), timedelta(days=400)])
def test_reading_far_in_the_future_is_dead_lettered(ahead: timedelta) -> None:
    device = Device()
    batch = telemetry(1.0, 2.0, ts=RECEIVED + ahead - timedelta(seconds=1), sent_at=T0)
    letter = dead(run(device, device.inbound(Kind.TELEMETRY, 3, batch, received_at=RECEIVED)))
    assert letter.reason == FUTURE_TIMESTAMP
    assert (letter.device_id, letter.seq) == ("gw-0001", 3)
    assert "after receive time" in letter.detail


def test_skew_within_a_day_is_flagged_not_refused() -> None:
    device = Device()
    batch = telemetry(
        1.0, ts=RECEIVED + timedelta(hours=23), sent_at=RECEIVED + timedelta(hours=23)
    )
    result = run(device, device.inbound(Kind.TELEMETRY, 1, batch, received_at=RECEIVED))
    assert isinstance(result, Accepted)
    assert result.skew_flagged


def test_future_stock_and_state_are_refused_but_custody_events_only_flagged() -> None:
    device = Device()
    future = RECEIVED + timedelta(days=3)
    for kind, payload in (
        (Kind.STOCK, stock(sent_at=future)),
        (Kind.STATE, state("online", ts=future)),
    ):
        letter = dead(run(device, device.inbound(kind, 5, payload, received_at=RECEIVED)))
        assert letter.reason == FUTURE_TIMESTAMP
    kept = run(device, device.inbound(Kind.EVENTS, 6, events("x", sent_at=future),
                                      received_at=RECEIVED))  # fmt: skip
    assert isinstance(kept, Accepted)
    assert kept.skew_flagged


def test_oversized_message_keeps_only_a_prefix_as_evidence() -> None:
    device = Device()
    data = b"CT" + b"\x01" * MAX_MESSAGE_BYTES
    inbound = Inbound(str(device.topic(Kind.TELEMETRY)), data, RECEIVED, token=42)
    letter = dead(run(device, inbound))
    assert letter.reason == OVERSIZED
    assert letter.inbound.data == data[:DEAD_LETTER_KEEP_BYTES]
    assert letter.inbound.token == 42  # still acknowledged after it is stored
    assert str(len(data)) in letter.detail
