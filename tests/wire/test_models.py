from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wire import (
    ConfigPayload,
    CustodyEventBatch,
    Health,
    Kind,
    MalformedMessage,
    Metric,
    Reading,
    ScanEvent,
    StateMessage,
    StockBatch,
    StockCount,
    TelemetryBatch,
    Threshold,
    decode_payload,
    encode_payload,
)
from wire.models import Payload

TS = datetime(2026, 11, 22, 8, 30, 15, 123456, tzinfo=UTC)

EXAMPLES: list[tuple[Kind, Payload]] = [
    (
        Kind.TELEMETRY,
        TelemetryBatch(
            sent_at=TS,
            clock_synced=False,
            readings=[
                Reading(sensor="p1", metric=Metric.TEMPERATURE_C, ts=TS, value=-18.5),
                Reading(sensor="p1", metric=Metric.HUMIDITY_PCT, ts=TS, value=None, fault="nan"),
            ],
        ),
    ),
    (
        Kind.STOCK,
        StockBatch(
            sent_at=TS,
            counts=[StockCount(ts=TS, gtin="09506000134352", quantity=120, location="A-01")],
            scans=[
                ScanEvent(
                    ts=TS,
                    code="https://id.example/01/09506000134352/21/123",
                    direction="out",
                    reader="dock-2",
                )
            ],
        ),
    ),
    (
        Kind.EVENTS,
        CustodyEventBatch(
            sent_at=TS,
            events=[
                {
                    "type": "ObjectEvent",
                    "action": "OBSERVE",
                    "epcList": ["urn:epc:id:sgtin:0614141.107346.2017"],
                }
            ],
        ),
    ),
    (
        Kind.STATE,
        StateMessage(
            status="heartbeat",
            ts=TS,
            agent_version="0.1.0",
            will_seq=7,
            health=Health(outbox_depth=3, outbox_oldest_age_s=1.5, clock_offset_s=0.02),
        ),
    ),
    (
        Kind.CONFIG,
        ConfigPayload(
            revision=2,
            sample_interval_s=5,
            thresholds={Metric.TEMPERATURE_C: Threshold(min=2, max=6)},
        ),
    ),
]


@pytest.mark.parametrize(("kind", "payload"), EXAMPLES, ids=[k.value for k, _ in EXAMPLES])
def test_round_trip(kind: Kind, payload: Payload) -> None:
    data = encode_payload(payload)
    assert decode_payload(kind, data) == payload
    # Encoding is stable: re-encoding the decoded model yields the same bytes.
    assert encode_payload(decode_payload(kind, data)) == data


def test_payload_must_match_topic_kind() -> None:
    data = encode_payload(EXAMPLES[0][1])
    with pytest.raises(MalformedMessage, match="stock payload invalid"):
        decode_payload(Kind.STOCK, data)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"v": 2, "type": "telemetry"}',
        b'{"v":1,"type":"telemetry","sent_at":"2026-01-01T00:00:00Z","readings":[]}',
        # naive timestamps are ambiguous: refused
        b'{"v":1,"type":"telemetry","sent_at":"2026-01-01T00:00:00","readings":'
        b'[{"sensor":"p","metric":"temperature_c","ts":"2026-01-01T00:00:00Z","value":1}]}',
        # NaN is not a value; a faulty reading says so explicitly
        b'{"v":1,"type":"telemetry","sent_at":"2026-01-01T00:00:00Z","readings":'
        b'[{"sensor":"p","metric":"temperature_c","ts":"2026-01-01T00:00:00Z","value":NaN}]}',
        b'{"v":1,"type":"telemetry","sent_at":"2026-01-01T00:00:00Z","readings":'
        b'[{"sensor":"p","metric":"temperature_c","ts":"2026-01-01T00:00:00Z","value":null}]}',
        b'{"v":1,"type":"telemetry","sent_at":"2026-01-01T00:00:00Z","extra":1,"readings":'
        b'[{"sensor":"p","metric":"temperature_c","ts":"2026-01-01T00:00:00Z","value":1}]}',
    ],
)
def test_invalid_payloads_raise_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode_payload(Kind.TELEMETRY, raw)


def test_stock_batch_needs_content() -> None:
    with pytest.raises(ValueError, match="at least one"):
        StockBatch(sent_at=TS)


def test_threshold_order() -> None:
    with pytest.raises(ValueError, match="below max"):
        Threshold(min=6, max=2)
