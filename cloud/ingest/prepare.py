"""Pure part of the ingest: one received message -> rows to store, or a dead letter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cloud.registry import DeviceIdentity
from wire import (
    CustodyEventBatch,
    StateMessage,
    StockBatch,
    TelemetryBatch,
    TopicError,
    UnknownDevice,
    WireError,
    digest,
    open_message,
)
from wire.envelope import decode

__all__ = ["Accepted", "DeadLetter", "Inbound", "Rows", "prepare"]

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
) -> Accepted | DeadLetter:
    """Authenticate and flatten one message. Never raises for bad input."""
    device_id: str | None = None
    seq: int | None = None
    try:
        envelope = decode(inbound.data)
        device_id, seq = envelope.device_id, envelope.seq
        identity = identity_of(device_id)
        opened = open_message(
            inbound.topic, inbound.data, lambda _d: identity.keys if identity else ()
        )
        if identity is None:  # pragma: no cover - open_message raised UnknownDevice already
            raise UnknownDevice(f"no public key registered for device {device_id!r}")
        if (opened.topic.tenant, opened.topic.site) != (identity.tenant, identity.site):
            raise TopicError(
                f"device {device_id} is registered at {identity.tenant}/{identity.site} "
                f"but published under {opened.topic.tenant}/{opened.topic.site}"
            )
    except WireError as exc:
        return DeadLetter(inbound, exc.reason, exc.message, device_id, seq)

    payload = opened.payload
    sent_at = getattr(payload, "sent_at", None) or getattr(payload, "ts", None)
    skew = (inbound.received_at - sent_at).total_seconds() if sent_at is not None else None
    base = (inbound.received_at, identity.tenant, identity.site, device_id, seq)
    rows: Rows = {}
    state: StateMessage | None = None
    if isinstance(payload, TelemetryBatch):
        rows["readings"] = [
            (r.ts, *base, r.sensor, r.metric.value, r.value, r.fault) for r in payload.readings
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
    elif isinstance(payload, StateMessage):
        state = payload
        count = 1
    else:  # config flows cloud -> device; a device publishing it is misbehaving
        return DeadLetter(
            inbound,
            "bad_topic",
            "config messages are published by the cloud, not by devices",
            device_id,
            seq,
        )
    return Accepted(
        inbound=inbound,
        device_id=device_id,
        tenant=identity.tenant,
        site=identity.site,
        seq=opened.envelope.seq,
        kind=opened.topic.kind.value,
        digest=digest(inbound.data),
        sent_at=sent_at,
        clock_skew_s=skew,
        skew_flagged=skew is not None and abs(skew) > skew_flag_seconds,
        item_count=count,
        rows=rows,
        state=state,
    )
