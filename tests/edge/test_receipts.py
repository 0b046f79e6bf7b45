"""Storage receipts and backfill requests on the edge: opened only when the cloud signed them
for this device's topic, and applied by the publisher to the real outbox."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.cloud_messages import open_backfill, open_receipt
from edge.ed25519 import PublicKey
from edge.outbox import ArmedWill, Kind, Outbox
from edge.publisher import Publisher
from wire import (
    BackfillRequest,
    MalformedMessage,
    Receipt,
    SignatureError,
    Topic,
    TopicError,
    encode_payload,
    seal,
)
from wire import Kind as TopicKind

CLOUD = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ATTACKER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
DEVICE = Topic("acme", "wh-1", "gw-1", TopicKind.TELEMETRY)
RECEIPT_TOPIC = DEVICE.with_kind(TopicKind.RECEIPT)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def checks(key: Ed25519PrivateKey = CLOUD) -> list[object]:
    return [PublicKey.of(key.public_key()).verify]


def sealed_receipt(
    through: int,
    *ranges: tuple[int, int],
    key: Ed25519PrivateKey = CLOUD,
    topic: Topic = RECEIPT_TOPIC,
    seq: int | None = None,
) -> bytes:
    receipt = Receipt(through=through, ranges=list(ranges), issued_at=NOW)
    return seal(topic, seq or receipt.highest, encode_payload(receipt), key)


def test_a_genuine_receipt_opens() -> None:
    receipt = open_receipt(RECEIPT_TOPIC, sealed_receipt(5, (7, 9)), checks())  # type: ignore[arg-type]
    assert (receipt.through, receipt.ranges) == (5, [(7, 9)])


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (sealed_receipt(5, key=ATTACKER), SignatureError),  # forged: not the cloud's key
        # Sealed by the cloud for another device: addressed to it, not to this one.
        (sealed_receipt(5, topic=Topic("acme", "wh-1", "gw-2", TopicKind.RECEIPT)), TopicError),
        # Config bytes replayed as a receipt: the kind is part of the signed topic.
        (sealed_receipt(5, topic=DEVICE.with_kind(TopicKind.CONFIG)), SignatureError),
        (sealed_receipt(5, seq=6), MalformedMessage),  # header and payload disagree
        (b"CT\x01\x00" + b"\x00" * 90, MalformedMessage),
    ],
    ids=["forged", "other-device", "other-kind", "seq-mismatch", "garbage"],
)
def test_receipts_not_signed_for_this_topic_are_refused(data: bytes, error: type) -> None:
    with pytest.raises(error):
        open_receipt(RECEIPT_TOPIC, data, checks())  # type: ignore[arg-type]


def test_backfill_requests_open_like_receipts() -> None:
    topic = DEVICE.with_kind(TopicKind.BACKFILL)
    request = BackfillRequest(ranges=[(3, 4), (9, 9)], issued_at=NOW)
    data = seal(topic, 9, encode_payload(request), CLOUD)
    assert open_backfill(topic, data, checks()) == (9, request)  # type: ignore[arg-type]
    with pytest.raises(SignatureError):
        open_backfill(topic, seal(topic, 9, encode_payload(request), ATTACKER), checks())  # type: ignore[arg-type]
    with pytest.raises(MalformedMessage, match="highest seq"):
        open_backfill(topic, seal(topic, 4, encode_payload(request), CLOUD), checks())  # type: ignore[arg-type]


class _Publisher:
    """A real Publisher over a real outbox, never connected: receipts arrive as paho would
    hand them over, and `pump` applies them."""

    def __init__(self, tmp_path: Path) -> None:
        self.outbox = Outbox(tmp_path / "outbox.db")
        self.publisher = Publisher(
            self.outbox,
            DEVICE,
            "mqtt://127.0.0.1:1",
            keepalive_s=30,
            max_inflight=10,
            arm_will=lambda: ArmedWill(1, b"will", None),
            on_connected=lambda: None,
            receipt_key=PublicKey.of(CLOUD.public_key()),
        )
        for _ in range(3):
            seq = self.outbox.reserve_seq()
            self.outbox.put_message(Kind.TELEMETRY, seq, f"m{seq}".encode())
        for seq in (1, 2, 3):  # as if published
            self.publisher.delivery.sent(seq, seq, 0.0)

    def deliver(self, data: bytes) -> None:
        message = mqtt.MQTTMessage(topic=str(RECEIPT_TOPIC).encode())
        message.payload = data
        self.publisher._handle_message(self.publisher._client, None, message)  # paho's thread
        self.publisher.pump()  # main thread; not connected, so it only applies events

    def held(self) -> list[int]:
        return [m.seq for m in self.outbox.pending_messages(10)]


def test_the_publisher_frees_only_on_a_genuine_receipt(tmp_path: Path) -> None:
    p = _Publisher(tmp_path)
    try:
        p.deliver(sealed_receipt(3, key=ATTACKER))  # forged: refused, nothing freed
        assert p.held() == [1, 2, 3]
        assert p.publisher.receipts_refused == 1
        p.deliver(sealed_receipt(1, (3, 3)))
        assert p.held() == [2]
        p.deliver(sealed_receipt(99))  # covers 2, and seqs never sent (ignored for those)
        assert p.held() == []
        assert p.publisher.acked == 3
    finally:
        p.outbox.close()
