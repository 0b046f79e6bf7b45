from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from wire import Kind, Metric, Reading, TelemetryBatch, Topic


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def topic() -> Topic:
    return Topic("acme", "wh-sh-01", "gw-0001", Kind.TELEMETRY)


@pytest.fixture
def batch() -> TelemetryBatch:
    ts = datetime(2026, 11, 22, 8, 30, tzinfo=UTC)
    return TelemetryBatch(
        sent_at=ts,
        readings=[
            Reading(sensor="probe-1", metric=Metric.TEMPERATURE_C, ts=ts, value=14.25),
            Reading(sensor="probe-1", metric=Metric.HUMIDITY_PCT, ts=ts, value=61.0),
        ],
    )
