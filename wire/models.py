"""Versioned payload models, one per topic kind.

Payloads are JSON objects with ``"v"`` (schema version) and ``"type"`` (which
must match the topic's kind). Unknown fields are rejected so that a typo in a
producer is caught at the first message, not discovered in the database.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from wire.envelope import MAX_SEQ
from wire.errors import MalformedMessage
from wire.topics import Kind

__all__ = [
    "MAX_BACKFILL_SEQS",
    "MAX_BATCH",
    "MAX_RANGES",
    "MAX_READINGS_PER_SEAL",
    "AlarmEvent",
    "BackfillAnswer",
    "BackfillRequest",
    "ConfigPayload",
    "ConfigStatus",
    "CustodyEventBatch",
    "Health",
    "Metric",
    "Payload",
    "Reading",
    "Receipt",
    "ScanEvent",
    "SeqRange",
    "StateMessage",
    "StockBatch",
    "StockCount",
    "TelemetryBatch",
    "Threshold",
    "covers",
    "decode_payload",
    "encode_payload",
    "to_ranges",
]

MAX_BATCH = 10_000
# Readings per sealed batch; at the field maxima 2,000 readings stay under MAX_PAYLOAD.
MAX_READINGS_PER_SEAL = 2_000
Identifier = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
Gtin = Annotated[str, Field(pattern=r"^[0-9]{14}$")]
Seq = Annotated[int, Field(ge=1, le=MAX_SEQ)]
SeqRange = tuple[Seq, Seq]
"""An inclusive range of sequence numbers, ``[from, to]`` in JSON."""
#: Ranges in one receipt, backfill request or backfill answer list.
MAX_RANGES = 64
MAX_ANSWER_RANGES = 1_000
#: Sequence numbers one backfill request may ask for (bounds the device's work per request).
MAX_BACKFILL_SEQS = 10_000


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, strict=True)


class Metric(StrEnum):
    TEMPERATURE_C = "temperature_c"
    HUMIDITY_PCT = "humidity_pct"


class Reading(_Model):
    """One sample of one metric from one sensor, stamped with the device clock."""

    sensor: Identifier
    metric: Metric
    ts: AwareDatetime
    # None when the sensor gave no usable value; ``fault`` then says why.
    value: float | None = None
    fault: Annotated[str, Field(max_length=64)] | None = None

    @model_validator(mode="after")
    def _value_or_fault(self) -> Reading:
        if self.value is None and not self.fault:
            raise ValueError("a reading without a value must name its fault")
        return self


class TelemetryBatch(_Model):
    v: Literal[1] = 1
    type: Literal["telemetry"] = "telemetry"
    sent_at: AwareDatetime  # device clock when sealed; with receive time this shows skew
    clock_synced: bool = True
    readings: Annotated[list[Reading], Field(min_length=1, max_length=MAX_BATCH)]


class StockCount(_Model):
    """A counted or sensed quantity of one product at a location."""

    ts: AwareDatetime
    gtin: Gtin
    quantity: Annotated[int, Field(ge=0)]
    location: Identifier | None = None
    method: Literal["count", "rfid", "load_cell", "scan"] = "count"


class ScanEvent(_Model):
    """A barcode or RFID read at a dock door or shelf: one unit in or out."""

    ts: AwareDatetime
    code: Annotated[str, Field(min_length=1, max_length=512)]
    direction: Literal["in", "out"]
    reader: Identifier
    gtin: Gtin | None = None


class StockBatch(_Model):
    v: Literal[1] = 1
    type: Literal["stock"] = "stock"
    sent_at: AwareDatetime
    clock_synced: bool = True
    counts: Annotated[list[StockCount], Field(max_length=MAX_BATCH)] = []
    scans: Annotated[list[ScanEvent], Field(max_length=MAX_BATCH)] = []

    @model_validator(mode="after")
    def _not_empty(self) -> StockBatch:
        if not self.counts and not self.scans:
            raise ValueError("a stock batch needs at least one count or scan")
        return self


class CustodyEventBatch(_Model):
    """EPCIS 2.0 events as JSON objects; the cloud validates them against the GS1 schema."""

    v: Literal[1] = 1
    type: Literal["events"] = "events"
    sent_at: AwareDatetime
    clock_synced: bool = True
    events: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=1_000)]


class Health(_Model):
    outbox_depth: Annotated[int, Field(ge=0)]
    outbox_oldest_age_s: Annotated[float, Field(ge=0)] | None = None
    evicted_readings: Annotated[int, Field(ge=0)] = 0
    cpu_pct: Annotated[float, Field(ge=0)] | None = None
    rss_bytes: Annotated[int, Field(ge=0)] | None = None
    disk_free_bytes: Annotated[int, Field(ge=0)] | None = None
    clock_offset_s: float | None = None
    clock_synced: bool = True
    # Memory the host could still give to processes (MemAvailable), next to our own RSS.
    mem_available_bytes: Annotated[int, Field(ge=0)] | None = None
    # The most recent sequence numbers the outbox gave up under its disk budget, so the
    # cloud can tell a deliberate eviction from a lost message.
    evicted_seqs: Annotated[
        list[Annotated[int, Field(ge=1, le=MAX_SEQ)]], Field(max_length=1000)
    ] = []
    # Age of the oldest reading the cloud has not yet receipted (None: the device frees its
    # outbox on the broker's PUBACK, without storage receipts).
    receipt_lag_s: Annotated[float, Field(ge=0)] | None = None
    # Since the agent started: PUBACKs with a reason code other than 0x00 (the message was
    # kept and retried), and messages published again for want of a receipt.
    puback_refusals: Annotated[int, Field(ge=0)] | None = None
    republished: Annotated[int, Field(ge=0)] | None = None


class ConfigStatus(_Model):
    """What a device did with the remote configuration (sent in heartbeats, §8 of the doc).

    ``revision`` is the revision this report is about (the last one received); ``active``
    is the revision in effect, None while the device runs on its local file alone.
    """

    revision: Annotated[int, Field(ge=1, le=MAX_SEQ)] | None = None
    applied: bool
    reason: Annotated[str, Field(max_length=200)] | None = None
    active: Annotated[int, Field(ge=1, le=MAX_SEQ)] | None = None


class AlarmEvent(_Model):
    """A local threshold alarm raised or cleared by the device, with the value that did it."""

    sensor: Identifier
    metric: Metric
    state: Literal["raised", "cleared"]
    bound: Literal["min", "max"]
    limit: float
    value: float
    ts: AwareDatetime  # device time of the reading that raised or cleared the alarm


def _canonical(ranges: list[tuple[int, int]], what: str) -> list[tuple[int, int]]:
    """Ranges must be ascending, each ``from <= to``, neither overlapping nor touching: one
    set of seqs has exactly one encoding."""
    previous = 0
    for low, high in ranges:
        if low > high:
            raise ValueError(f"{what}: range [{low}, {high}] ends before it starts")
        if previous and low <= previous + 1:
            raise ValueError(
                f"{what}: ranges must ascend with a gap between them; [{low}, {high}] follows"
                f" a range ending at {previous}"
            )
        previous = high
    return ranges


def to_ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sequence numbers as canonical inclusive ranges (sorted, merged)."""
    out: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if out and seq == out[-1][1] + 1:
            out[-1] = (out[-1][0], seq)
        else:
            out.append((seq, seq))
    return out


def covers(ranges: Sequence[tuple[int, int]], seq: int) -> bool:
    """Whether ``seq`` lies in one of the canonical ``ranges``."""
    index = bisect.bisect_right(ranges, (seq, MAX_SEQ + 1)) - 1
    return index >= 0 and ranges[index][0] <= seq <= ranges[index][1]


class BackfillAnswer(_Model):
    """A device's answer to a backfill request (sent in a heartbeat, §2 of the doc)."""

    request: Seq  # the envelope seq of the request answered
    # Held by the outbox: published again right after this answer.
    resent: Annotated[list[SeqRange], Field(max_length=MAX_ANSWER_RANGES)] = []
    # Given up by the outbox under its disk budget.
    evicted: Annotated[list[SeqRange], Field(max_length=MAX_ANSWER_RANGES)] = []
    # Neither held nor known as evicted (freed after a receipt, or evicted too long ago
    # to be remembered): whatever they carried is not coming.
    not_held: Annotated[list[SeqRange], Field(max_length=MAX_ANSWER_RANGES)] = []

    @model_validator(mode="after")
    def _ranges(self) -> BackfillAnswer:
        for name in ("resent", "evicted", "not_held"):
            _canonical(getattr(self, name), name)
        return self


class StateMessage(_Model):
    """Birth (``online``), death (``offline``, also the broker's last will), heartbeat and
    local alarms (``alarm``, one raised or cleared threshold per message)."""

    v: Literal[1] = 1
    type: Literal["state"] = "state"
    status: Literal["online", "offline", "heartbeat", "alarm"]
    ts: AwareDatetime
    agent_version: Annotated[str, Field(max_length=32)] | None = None
    # Sequence number reserved for this session's last will, so the cloud can tell a
    # will that never fired from a lost message.
    will_seq: Annotated[int, Field(ge=1, le=MAX_SEQ)] | None = None
    reason: Annotated[str, Field(max_length=200)] | None = None
    health: Health | None = None
    config: ConfigStatus | None = None
    alarm: AlarmEvent | None = None
    backfill: BackfillAnswer | None = None

    @model_validator(mode="after")
    def _alarm_iff_status(self) -> StateMessage:
        if (self.status == "alarm") != (self.alarm is not None):
            raise ValueError("an alarm field goes with status 'alarm', and only with it")
        return self


class Threshold(_Model):
    min: float | None = None
    max: float | None = None
    # How far back inside the limit a value must come before a raised alarm clears;
    # None lets the device use its default for the metric.
    hysteresis: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Threshold:
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"threshold min {self.min} must be below max {self.max}")
        return self


class ConfigPayload(_Model):
    """Remote configuration sent by the cloud on the retained ``config`` topic."""

    v: Literal[1] = 1
    type: Literal["config"] = "config"
    revision: Annotated[int, Field(ge=1)]
    sample_interval_s: Annotated[float, Field(ge=0.05, le=3600)] = 1.0
    batch_max_readings: Annotated[int, Field(ge=1, le=MAX_READINGS_PER_SEAL)] = 500
    flush_interval_s: Annotated[float, Field(ge=0.01, le=600)] = 0.2
    thresholds: dict[Metric, Threshold] = {}


class Receipt(_Model):
    """The cloud's storage receipt for one device (cloud -> device, retained).

    Every seq up to ``through`` is settled: stored, or one the device itself said it does
    not hold (evicted, or not held when asked to backfill). ``ranges`` are the seqs stored
    beyond the first unsettled one. The envelope seq is the highest seq covered.
    """

    v: Literal[1] = 1
    type: Literal["receipt"] = "receipt"
    through: Annotated[int, Field(ge=0, le=MAX_SEQ)]
    ranges: Annotated[list[SeqRange], Field(max_length=MAX_RANGES)] = []
    issued_at: AwareDatetime  # cloud clock when the receipt was made

    @model_validator(mode="after")
    def _ranges(self) -> Receipt:
        _canonical(self.ranges, "ranges")
        if self.ranges and self.ranges[0][0] <= self.through + 1:
            raise ValueError(
                f"ranges must start beyond through + 1 ({self.through + 1}), got"
                f" {list(self.ranges[0])}"
            )
        if self.through == 0 and not self.ranges:
            raise ValueError("a receipt must cover at least one seq")
        return self

    @property
    def highest(self) -> int:
        """The highest seq covered: the envelope seq of this receipt."""
        return self.ranges[-1][1] if self.ranges else self.through

    def covers(self, seq: int) -> bool:
        return seq <= self.through or covers(self.ranges, seq)


class BackfillRequest(_Model):
    """The cloud asks a device to publish these seqs again if its outbox still holds them.

    The envelope seq is the highest seq requested.
    """

    v: Literal[1] = 1
    type: Literal["backfill"] = "backfill"
    ranges: Annotated[list[SeqRange], Field(min_length=1, max_length=MAX_RANGES)]
    issued_at: AwareDatetime

    @model_validator(mode="after")
    def _ranges(self) -> BackfillRequest:
        _canonical(self.ranges, "ranges")
        total = sum(high - low + 1 for low, high in self.ranges)
        if total > MAX_BACKFILL_SEQS:
            raise ValueError(f"at most {MAX_BACKFILL_SEQS} seqs per request, got {total}")
        return self

    @property
    def highest(self) -> int:
        return self.ranges[-1][1]


Payload = (
    TelemetryBatch
    | StockBatch
    | CustodyEventBatch
    | StateMessage
    | ConfigPayload
    | Receipt
    | BackfillRequest
)

_MODEL_FOR_KIND: dict[Kind, type[_Model]] = {
    Kind.TELEMETRY: TelemetryBatch,
    Kind.STOCK: StockBatch,
    Kind.EVENTS: CustodyEventBatch,
    Kind.STATE: StateMessage,
    Kind.CONFIG: ConfigPayload,
    Kind.RECEIPT: Receipt,
    Kind.BACKFILL: BackfillRequest,
}


def encode_payload(payload: Payload) -> bytes:
    """Compact JSON bytes of ``payload``; these exact bytes are what gets signed."""
    return payload.model_dump_json(exclude_none=True).encode("utf-8")


def decode_payload(kind: Kind, data: bytes) -> Payload:
    """Validate ``data`` as the payload model of ``kind``; :class:`MalformedMessage` otherwise."""
    model = _MODEL_FOR_KIND[kind]
    if b"\\u0000" in data.lower():
        # Valid JSON, but no text column (PostgreSQL text, jsonb) can hold U+0000.
        raise MalformedMessage(f"{kind.value} payload contains U+0000, which cannot be stored")
    try:
        payload = model.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors(include_url=False)[:5]
        )
        more = exc.error_count() - 5
        suffix = f" (+{more} more)" if more > 0 else ""
        raise MalformedMessage(f"{kind.value} payload invalid: {problems}{suffix}") from None
    assert isinstance(payload, Payload)  # the map above only holds Payload models
    return payload
