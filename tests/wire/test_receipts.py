"""Storage receipts, backfill requests and answers: models, canonical ranges, opening, and the
worked example of docs/protocol.md (§10a) byte for byte."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from wire import (
    BackfillAnswer,
    BackfillRequest,
    Kind,
    MalformedMessage,
    Receipt,
    SignatureError,
    StateMessage,
    Topic,
    decode,
    decode_payload,
    encode_payload,
    open_signed,
    seal,
    signed_bytes,
    to_ranges,
)
from wire.models import MAX_BACKFILL_SEQS, covers

TEST_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))  # public test vector only
TS = datetime(2025, 1, 15, 8, 30, 3, tzinfo=UTC)
RECEIPT_HEX = (
    "43540100000000000000002d0767772d303030310000005b7b2276223a312c2274797065223a2272656365"
    "697074222c227468726f756768223a34312c2272616e676573223a5b5b34332c34355d5d2c226973737565"
    "645f6174223a22323032352d30312d31355430383a33303a30335a227df941c9b0597818ea941b40295312"
    "11776f78b76c267cbcaa7ccd49cbee4cc0143bd69d93df7a800ec6e5019b5ec128ddcb2a42e895d7358721"
    "7b26d5b391880a"
)
BACKFILL_HEX = (
    "43540100000000000000002a0767772d303030310000004f7b2276223a312c2274797065223a226261636b"
    "66696c6c222c2272616e676573223a5b5b34322c34325d5d2c226973737565645f6174223a2232303235"
    "2d30312d31355430383a33303a31335a227dca46e170ace97141ad0bdd13e7e8f0042f075c1f344ecff6f7"
    "310a4e531b5b0c2721756bb3ccab22d876a05c8615d02ffdb53b4d37efc6bd7549517c4a795101"
)


def test_the_documented_receipt_is_reproduced_byte_for_byte() -> None:
    topic = Topic("acme", "wh-sh-01", "gw-0001", Kind.RECEIPT)
    receipt = Receipt(through=41, ranges=[(43, 45)], issued_at=TS)
    payload = encode_payload(receipt)
    assert payload == (
        b'{"v":1,"type":"receipt","through":41,"ranges":[[43,45]],'
        b'"issued_at":"2025-01-15T08:30:03Z"}'
    )
    data = seal(topic, receipt.highest, payload, TEST_KEY)
    assert data.hex() == RECEIPT_HEX
    assert len(data) == 81 + 7 + 91
    assert hashlib.sha256(data).hexdigest() == (
        "488b1c5f3e9ec353d2bbc227211055fdd07d00942a89f90d7a46993e9ea263de"
    )
    assert signed_bytes(str(topic), decode(data).unsigned)[:58] == (
        b"channeltrace/wire/v1\x00\x00\x23ct/v1/acme/wh-sh-01/gw-0001/receipt"
    )
    opened = open_signed(topic, data, [_check(TEST_KEY)])
    assert opened.payload == receipt
    assert opened.envelope.seq == 45


def test_the_documented_backfill_request_is_reproduced_byte_for_byte() -> None:
    topic = Topic("acme", "wh-sh-01", "gw-0001", Kind.BACKFILL)
    request = BackfillRequest(ranges=[(42, 42)], issued_at=datetime(2025, 1, 15, 8, 30, 13,
                                                                    tzinfo=UTC))  # fmt: skip
    assert seal(topic, request.highest, encode_payload(request), TEST_KEY).hex() == BACKFILL_HEX


def _check(key: Ed25519PrivateKey):  # type: ignore[no-untyped-def]
    from cryptography.exceptions import InvalidSignature

    def check(signature: bytes, message: bytes) -> bool:
        try:
            key.public_key().verify(signature, message)
        except InvalidSignature:
            return False
        return True

    return check


def test_open_signed_refuses_another_signer_or_topic() -> None:
    topic = Topic("acme", "wh-sh-01", "gw-0001", Kind.RECEIPT)
    data = bytes.fromhex(RECEIPT_HEX)
    other = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    with pytest.raises(SignatureError, match="any of the 1 registered key"):
        open_signed(topic, data, [_check(other)])
    with pytest.raises(SignatureError):  # the same bytes presented as config
        open_signed(topic.with_kind(Kind.CONFIG), data, [_check(TEST_KEY)])
    assert open_signed(topic, data, [_check(other), _check(TEST_KEY)]).envelope.seq == 45


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"through": 0}, "at least one seq"),
        ({"through": 5, "ranges": [[6, 7]]}, "beyond through"),  # 6 would extend through
        ({"through": 5, "ranges": [[9, 8]]}, "ends before it starts"),
        ({"through": 5, "ranges": [[8, 9], [10, 12]]}, "gap between"),  # touching ranges
        ({"through": 5, "ranges": [[12, 13], [8, 9]]}, "gap between"),  # not ascending
        ({"through": -1, "ranges": [[8, 9]]}, "greater than or equal"),
        ({"through": 5, "ranges": [[0, 9]]}, "greater than or equal"),
        ({"through": 5, "extra": 1}, "Extra inputs"),
    ],
)
def test_receipts_are_canonical(document: dict[str, object], problem: str) -> None:
    full = {"v": 1, "type": "receipt", "issued_at": "2025-01-15T08:30:03Z", **document}
    with pytest.raises(ValidationError, match=problem):
        Receipt.model_validate(full, strict=False)


def test_backfill_requests_are_bounded() -> None:
    with pytest.raises(ValidationError, match="at least 1"):
        BackfillRequest(ranges=[], issued_at=TS)
    with pytest.raises(ValidationError, match=f"at most {MAX_BACKFILL_SEQS} seqs"):
        BackfillRequest(ranges=[(1, MAX_BACKFILL_SEQS + 1)], issued_at=TS)
    with pytest.raises(ValidationError, match="at most 64"):
        BackfillRequest(ranges=[(3 * i + 1, 3 * i + 1) for i in range(65)], issued_at=TS)


def test_a_backfill_answer_travels_in_a_heartbeat() -> None:
    answer = BackfillAnswer(request=45, resent=[(42, 42)], evicted=[(30, 33)], not_held=[(9, 9)])
    state = StateMessage(status="heartbeat", ts=TS, backfill=answer)
    data = encode_payload(state)
    assert (
        b'"backfill":{"request":45,"resent":[[42,42]],"evicted":[[30,33]],"not_held":[[9,9]]}'
        in data
    )
    assert decode_payload(Kind.STATE, data) == state
    with pytest.raises(MalformedMessage, match="ranges must ascend"):
        decode_payload(Kind.STATE, data.replace(b"[[30,33]]", b"[[30,33],[31,31]]"))


@given(st.sets(st.integers(1, 200)), st.integers(1, 210))
def test_to_ranges_and_covers_agree_with_the_set(seqs: set[int], probe: int) -> None:
    ranges = to_ranges(seqs)
    assert [s for a, b in ranges for s in range(a, b + 1)] == sorted(seqs)
    assert all(b + 1 < c for (_, b), (c, _) in itertools.pairwise(ranges))
    assert covers(ranges, probe) == (probe in seqs)
