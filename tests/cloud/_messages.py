"""Real signed messages for the ingest tests: one device, its key, and payload builders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.ingest.prepare import Accepted, DeadLetter, Inbound, prepare
from cloud.registry import DeviceIdentity, DeviceRegistration
from wire import (
    CustodyEventBatch,
    Kind,
    Metric,
    Reading,
    ScanEvent,
    StateMessage,
    StockBatch,
    StockCount,
    TelemetryBatch,
    Topic,
    format_public_key,
    seal_payload,
)
from wire.models import Payload

T0 = datetime(2026, 11, 22, 8, 30, tzinfo=UTC)
GTIN = "09506000134352"


@dataclass
class Device:
    """A registered device that can sign messages for any of its topics."""

    device_id: str = "gw-0001"
    tenant: str = "acme"
    site: str = "wh-sh-01"
    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def topic(self, kind: Kind) -> Topic:
        return Topic(self.tenant, self.site, self.device_id, kind)

    @property
    def identity(self) -> DeviceIdentity:
        return DeviceIdentity(self.device_id, self.tenant, self.site, (self.key.public_key(),))

    @property
    def registration(self) -> DeviceRegistration:
        return DeviceRegistration(
            device_id=self.device_id,
            tenant=self.tenant,
            site=self.site,
            public_key=format_public_key(self.key),
        )

    def inbound(
        self,
        kind: Kind,
        seq: int,
        payload: Payload,
        *,
        received_at: datetime = T0 + timedelta(seconds=1),
    ) -> Inbound:
        topic = self.topic(kind)
        return Inbound(str(topic), seal_payload(topic, seq, payload, self.key), received_at)

    def accept(self, inbound: Inbound) -> Accepted:
        """Prepare ``inbound`` against this device alone; it must be accepted."""
        result = prepare(
            inbound, lambda d: self.identity if d == self.device_id else None, skew_flag_seconds=60
        )
        assert isinstance(result, Accepted), result
        return result


def telemetry(*values: float, ts: datetime = T0, sent_at: datetime = T0) -> TelemetryBatch:
    return TelemetryBatch(
        sent_at=sent_at,
        readings=[
            Reading(
                sensor="probe-1",
                metric=Metric.TEMPERATURE_C,
                ts=ts + timedelta(seconds=i),
                value=v,
            )
            for i, v in enumerate(values)
        ],
    )


def stock(sent_at: datetime = T0) -> StockBatch:
    return StockBatch(
        sent_at=sent_at,
        counts=[StockCount(ts=T0, gtin=GTIN, quantity=120, location="A-01", method="rfid")],
        scans=[
            ScanEvent(ts=T0, code="https://id.example/01/1/21/7", direction="out", reader="dock-2"),
            ScanEvent(ts=T0, code="code-2", direction="in", reader="dock-1", gtin=GTIN),
        ],
    )


def events(*names: str, sent_at: datetime = T0) -> CustodyEventBatch:
    docs: list[dict[str, Any]] = [
        {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": name} for name in names
    ]
    return CustodyEventBatch(sent_at=sent_at, events=docs)


def state(status: str, *, will_seq: int | None = None, ts: datetime = T0) -> StateMessage:
    return StateMessage.model_validate(
        {"status": status, "ts": ts, "will_seq": will_seq, "agent_version": "test"}
    )


def dead(result: Accepted | DeadLetter) -> DeadLetter:
    assert isinstance(result, DeadLetter), result
    return result


class FakeClock:
    """A monotonic clock the test moves by hand (``clock.now += 5``)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class CountingConnect:
    """A connect factory that counts how often a cache goes to the database."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.calls = 0

    def __call__(self) -> psycopg.Connection[Any]:
        self.calls += 1
        return psycopg.connect(self.db)
