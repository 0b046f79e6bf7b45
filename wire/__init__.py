"""The edge <-> cloud contract: topics, payload models and signed envelopes.

Imported by both sides and depending on neither. See docs/protocol.md.
"""

from wire.envelope import MAX_PAYLOAD, Envelope, decode, seal, signed_bytes, verify
from wire.errors import (
    MalformedMessage,
    ReplayError,
    SignatureError,
    TopicError,
    UnknownDevice,
    WireError,
)
from wire.keys import (
    format_public_key,
    generate_private_key,
    load_private_key,
    parse_public_key,
    write_private_key,
)
from wire.message import KeyLookup, OpenedMessage, open_message, seal_payload
from wire.models import (
    AlarmEvent,
    ConfigPayload,
    ConfigStatus,
    CustodyEventBatch,
    Health,
    Metric,
    Payload,
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
from wire.replay import Freshness, ReplayGuard, digest
from wire.topics import Kind, Topic, subscription

__all__ = [
    "MAX_PAYLOAD",
    "AlarmEvent",
    "ConfigPayload",
    "ConfigStatus",
    "CustodyEventBatch",
    "Envelope",
    "Freshness",
    "Health",
    "KeyLookup",
    "Kind",
    "MalformedMessage",
    "Metric",
    "OpenedMessage",
    "Payload",
    "Reading",
    "ReplayError",
    "ReplayGuard",
    "ScanEvent",
    "SignatureError",
    "StateMessage",
    "StockBatch",
    "StockCount",
    "TelemetryBatch",
    "Threshold",
    "Topic",
    "TopicError",
    "UnknownDevice",
    "WireError",
    "decode",
    "decode_payload",
    "digest",
    "encode_payload",
    "format_public_key",
    "generate_private_key",
    "load_private_key",
    "open_message",
    "parse_public_key",
    "seal",
    "seal_payload",
    "signed_bytes",
    "subscription",
    "verify",
    "write_private_key",
]
