"""The load generator's hand-built payloads are valid wire messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cloud.ingest.prepare import Accepted, Inbound, prepare
from cloud.registry import DeviceIdentity
from firmware_sim.tools.loadgen import make_fleet, telemetry_payload
from wire import Kind, TelemetryBatch, decode_payload

NOW = datetime(2026, 11, 22, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize("readings", [1, 2, 7, 100])
def test_payload_validates_as_a_telemetry_batch(readings: int) -> None:
    batch = decode_payload(Kind.TELEMETRY, telemetry_payload(readings, NOW, seq=3))
    assert isinstance(batch, TelemetryBatch)
    assert len(batch.readings) == readings
    keys = {(r.sensor, r.metric, r.ts) for r in batch.readings}
    assert len(keys) == readings  # unique within a message


def test_empty_payload_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one reading"):
        telemetry_payload(0, NOW)


def test_fleet_devices_seal_verifiable_messages_with_increasing_seqs() -> None:
    fleet = make_fleet(3, sites=2)
    assert [d.site for d in fleet] == ["wh-000", "wh-001", "wh-000"]
    device = fleet[1]
    identity = DeviceIdentity(device.device_id, device.tenant, device.site,
                              (device.key.public_key(),))  # fmt: skip
    for expected_seq in (1, 2):
        data = device.seal_telemetry(4, NOW)
        inbound = Inbound(str(device.telemetry_topic), data, NOW)
        result = prepare(inbound, lambda _d: identity, skew_flag_seconds=60)
        assert isinstance(result, Accepted)
        assert (result.seq, result.item_count) == (expected_seq, 4)
