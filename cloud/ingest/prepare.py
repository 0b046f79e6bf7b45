"""Pure part of the ingest: one received message -> rows to store, or a dead letter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from cloud.ingest.verify import parse_topic
from cloud.registry import DeviceIdentity
from wire import (
    DEVICE_KINDS,
    CustodyEventBatch,
    StateMessage,
    StockBatch,
    TelemetryBatch,
    TopicError,
    UnknownDevice,
    WireError,
    digest,
)
from wire.envelope import MAX_PAYLOAD, SIGNATURE_SIZE, check_signature, decode
from wire.models import Metric, Payload, decode_payload

__all__ = [
    "DEAD_LETTER_KEEP_BYTES",
    "DEFAULT_MAX_FUTURE_SECONDS",
    "FUTURE_TIMESTAMP",
    "MAX_MESSAGE_BYTES",
    "OVERSIZED",
    "Accepted",
    "DeadLetter",
    "Inbound",
    "Rows",
    "prepare",
]

# The largest well-formed envelope: fixed header (17 B), a 255-byte device id, the largest
# payload and the signature. Anything bigger is refused before it is parsed.
MAX_MESSAGE_BYTES = 17 + 255 + MAX_PAYLOAD + SIGNATURE_SIZE
# Oversized messages keep only this much of their bytes as evidence, so that a flood of
# huge messages cannot fill the dead-letter table.
DEAD_LETTER_KEEP_BYTES = 64 * 1024
# Device time this far ahead of receive time cannot be a skewed clock worth flagging: it
# would sort after every honest reading for a day and poison "latest" queries.
DEFAULT_MAX_FUTURE_SECONDS = 86_400.0
OVERSIZED = "oversized"
FUTURE_TIMESTAMP = "future_timestamp"
_METRIC_TEXT = {m: m.value for m in Metric}  # plain str for the text column, without enum cost

Rows = dict[str, list[tuple[Any, ...]]]
"""Rows per table name, in that table's column order (see cloud.ingest.store.COLUMNS)."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message as it came off the broker; ``token`` is what acknowledges it."""

    topic: str
    data: bytes
    received_at: datetime
    token: int = 0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    inbound: Inbound
    reason: str
    detail: str
    device_id: str | None = None
    seq: int | None = None
    # The device's signature verified: the device really sent this under (device_id, seq).
    authenticated: bool = False


@dataclass(frozen=True, slots=True)
class Accepted:
    inbound: Inbound
    device_id: str
    tenant: str
    site: str
    seq: int
    kind: str
    digest: bytes
    sent_at: datetime | None
    clock_skew_s: float | None
    skew_flagged: bool
    item_count: int
    rows: Rows = field(default_factory=dict)
    state: StateMessage | None = None


def prepare(
    inbound: Inbound,
    identity_of: Callable[[str], DeviceIdentity | None],
    *,
    skew_flag_seconds: float,
    max_future_seconds: float = DEFAULT_MAX_FUTURE_SECONDS,
) -> Accepted | DeadLetter:
    """Authenticate and flatten one message. Never raises for bad input.

    Checks run cheapest first: size, envelope structure, registry, signature, schema,
    then timestamps: a skewed clock is flagged; a reading, stock observation or state
    stamped more than ``max_future_seconds`` after receive time is dead-lettered as
    ``future_timestamp`` (it would sort after every honest row for that long).
    """
    if len(inbound.data) > MAX_MESSAGE_BYTES:
        return DeadLetter(
            replace(inbound, data=inbound.data[:DEAD_LETTER_KEEP_BYTES]),
            OVERSIZED,
            f"message of {len(inbound.data)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit;"
            f" only the first {DEAD_LETTER_KEEP_BYTES} bytes are kept",
        )
    device_id: str | None = None
    seq: int | None = None
    verified = False
    try:
        envelope = decode(inbound.data)
        device_id, seq = envelope.device_id, envelope.seq
        identity = identity_of(device_id)
        # wire's checks without decoding the envelope a second time: topic, keys, signature;
        # the payload schema only after the registry and kind checks below.
        topic = parse_topic(inbound.topic)
        if identity is None or not identity.checks:
            raise UnknownDevice(f"no public key registered for device {device_id!r}")
        check_signature(topic, envelope, identity.checks, topic_name=inbound.topic)
        verified = True
        if (topic.tenant, topic.site) != (identity.tenant, identity.site):
            raise TopicError(
                f"device {device_id} is registered at {identity.tenant}/{identity.site} "
                f"but published under {topic.tenant}/{topic.site}"
            )
        if topic.kind not in DEVICE_KINDS:  # config, receipts, backfill: the cloud's own
            raise TopicError(
                f"{topic.kind.value} messages are published by the cloud, not by devices"
            )
        payload = decode_payload(topic.kind, envelope.payload)
    except WireError as exc:
        # A verified message with an invalid payload is the device's own, and no retry will
        # change it: it may settle the seq (see cloud.ingest.store).
        settles = verified and exc.reason == "malformed"
        return DeadLetter(inbound, exc.reason, exc.message, device_id, seq, authenticated=settles)

    limit = inbound.received_at + timedelta(seconds=max_future_seconds)
    future = _latest_device_time(payload)
    if future is not None and future > limit:
        return DeadLetter(
            inbound,
            FUTURE_TIMESTAMP,
            f"device time {future.isoformat()} is more than {max_future_seconds:g} s after"
            f" receive time {inbound.received_at.isoformat()}",
            device_id,
            seq,
            authenticated=True,
        )
    sent_at = getattr(payload, "sent_at", None) or getattr(payload, "ts", None)
    skew = (inbound.received_at - sent_at).total_seconds() if sent_at is not None else None
    base = (inbound.received_at, identity.tenant, identity.site, device_id, seq)
    rows: Rows = {}
    state: StateMessage | None = None
    if isinstance(payload, TelemetryBatch):
        rows["readings"] = [
            (r.ts, *base, r.sensor, _METRIC_TEXT[r.metric], r.value, r.fault)
            for r in payload.readings
        ]
        count = len(payload.readings)
    elif isinstance(payload, StockBatch):
        rows["stock_counts"] = [
            (c.ts, *base, c.gtin, c.quantity, c.location, c.method) for c in payload.counts
        ]
        rows["scans"] = [
            (s.ts, *base, s.code, s.direction, s.reader, s.gtin) for s in payload.scans
        ]
        count = len(payload.counts) + len(payload.scans)
    elif isinstance(payload, CustodyEventBatch):
        rows["custody_inbox"] = [(*base, event) for event in payload.events]
        count = len(payload.events)
    else:
        assert isinstance(payload, StateMessage)  # DEVICE_KINDS were checked above
        state = payload
        count = 1
    return Accepted(
        inbound=inbound,
        device_id=device_id,
        tenant=identity.tenant,
        site=identity.site,
        seq=envelope.seq,
        kind=topic.kind.value,
        digest=digest(inbound.data),
        sent_at=sent_at,
        clock_skew_s=skew,
        skew_flagged=skew is not None and abs(skew) > skew_flag_seconds,
        item_count=count,
        rows=rows,
        state=state,
    )


def _latest_device_time(payload: Payload) -> datetime | None:
    """The latest device timestamp that would become a row's time (None if there is none).

    Custody events are exempt: their rows are keyed by receive time, the event's own
    ``eventTime`` is judged by the ledger, and a custody event must never be lost to a
    gateway's wild clock (it is flagged as skewed instead).
    """
    if isinstance(payload, TelemetryBatch):
        return max(payload.sent_at, *(r.ts for r in payload.readings))
    if isinstance(payload, StockBatch):
        stamps = [c.ts for c in payload.counts] + [s.ts for s in payload.scans]
        return max(payload.sent_at, *stamps)
    if isinstance(payload, StateMessage):
        return payload.ts
    return None
