"""The agent's delivery rules (edge/delivery.py): one test per receipt rule, PUBACK refusals,
reconnects and the memory bounds. Pure: a clock is passed in, nothing touches a network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.delivery import Delivery
from wire import Receipt

T0 = 1_000.0
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def receipt(through: int, *ranges: tuple[int, int]) -> Receipt:
    return Receipt(through=through, ranges=list(ranges), issued_at=NOW)


def send(d: Delivery, seqs: range | list[int], now: float = T0, first_mid: int = 1) -> list[int]:
    mids = []
    for offset, seq in enumerate(seqs):
        d.sent(first_mid + offset, seq, now)
        mids.append(first_mid + offset)
    return mids


def test_a_puback_only_frees_the_window_with_receipts() -> None:
    d = Delivery(window=3, receipts=True)
    mids = send(d, [1, 2, 3])
    assert d.window_room(T0) == 0
    assert d.new_room(T0) == 0
    assert [d.puback(mid, 0, T0) for mid in mids] == [None, None, None]  # nothing freed
    assert d.window_room(T0) == 3  # ...but the window is free again
    assert d.unreceipted == 3


def test_a_receipt_frees_what_it_covers() -> None:
    d = Delivery(window=10, receipts=True)
    for mid in send(d, range(1, 8)):
        d.puback(mid, 0, T0)
    assert d.receipt(receipt(3, (5, 6)), T0) == [1, 2, 3, 5, 6]
    assert d.unreceipted == 2  # 4 and 7 still wait
    assert d.receipted_through == 3


def test_receipt_for_a_seq_not_yet_sent_is_ignored_for_that_seq() -> None:
    d = Delivery(window=10, receipts=True)
    send(d, [1, 2])
    # The cloud claims 1..9 stored; only what this process published may leave the outbox.
    assert d.receipt(receipt(9), T0) == [1, 2]
    assert d.receipt(receipt(9), T0) == []  # and nothing twice


def test_a_receipt_frees_a_message_still_awaiting_its_puback() -> None:
    d = Delivery(window=2, receipts=True)
    (mid,) = send(d, [1])
    assert d.receipt(receipt(1), T0) == [1]
    assert d.puback(mid, 0, T0) is None  # the late PUBACK frees nothing twice
    assert d.window_room(T0) == 2


def test_republish_after_the_receipt_timeout_with_backoff() -> None:
    d = Delivery(window=10, receipts=True, receipt_timeout_s=30, receipt_timeout_max_s=100)
    for mid in send(d, [1, 2, 3]):
        d.puback(mid, 0, T0)
    assert d.tick(T0 + 29) == 0
    assert d.to_resend(T0 + 29) == []
    assert d.tick(T0 + 30) == 3  # no receipt in time: all three go again
    assert d.to_resend(T0 + 30) == [1, 2, 3]
    send(d, [1, 2, 3], now=T0 + 30, first_mid=10)
    assert d.counts.republished == 3
    # Still no receipt: the next timeout is twice as long, then capped.
    assert d.tick(T0 + 30 + 59) == 0
    assert d.tick(T0 + 30 + 60) == 3
    send(d, [1, 2, 3], now=T0 + 90, first_mid=20)
    assert d.tick(T0 + 90 + 99) == 0
    assert d.tick(T0 + 90 + 100) == 3
    # A receipt that frees something brings the timeout back to its base.
    assert d.receipt(receipt(1), T0 + 200) == [1]
    send(d, [2, 3], now=T0 + 200, first_mid=30)
    assert d.tick(T0 + 230) == 2


def test_republish_only_what_timed_out() -> None:
    d = Delivery(window=10, receipts=True, receipt_timeout_s=30)
    send(d, [1, 2], now=T0)
    send(d, [3], now=T0 + 20, first_mid=3)
    assert d.tick(T0 + 31) == 2
    assert d.to_resend(T0 + 31) == [1, 2]  # 3 was sent recently


def test_reconnect_republishes_everything_unreceipted_after_a_hold() -> None:
    d = Delivery(window=10, receipts=True, hold_after_connect_s=0.3)
    for mid in send(d, [4, 5, 6]):
        d.puback(mid, 0, T0)
    d.receipt(receipt(4), T0)
    d.connected(T0 + 1)
    assert d.window_room(T0 + 1.1) == 0  # the retained receipt may still be on its way
    d.receipt(receipt(5), T0 + 1.2)  # ...and it arrives
    assert d.to_resend(T0 + 1.3) == [6]
    assert d.new_room(T0 + 1.3) == 9  # new messages wait behind the republish


def test_puback_refusal_keeps_the_message_and_backs_off() -> None:
    for receipts in (True, False):
        d = Delivery(window=10, receipts=receipts, retry_min_s=1, retry_max_s=4)
        m1, m2 = send(d, [1, 2])
        assert d.puback(m1, 0x10, T0) is None  # No matching subscribers: not accepted
        assert d.is_paused(T0 + 0.5)
        assert d.window_room(T0 + 0.5) == 0
        assert d.puback(m2, 0x10, T0) is None
        assert d.counts.refusals == 2
        assert d.to_resend(T0 + 1) == [1, 2]
        mids = send(d, [1, 2], now=T0 + 1, first_mid=3)
        d.puback(mids[0], 0x10, T0 + 1)  # refused again: the next pause is twice as long
        assert d.is_paused(T0 + 2.5)
        assert not d.is_paused(T0 + 3)
        freed = d.puback(mids[1], 0, T0 + 3)
        assert freed == (None if receipts else 2)
        assert d.unreceipted == (2 if receipts else 1)


def test_without_receipts_a_success_puback_frees_the_message() -> None:
    d = Delivery(window=10, receipts=False)
    (mid,) = send(d, [7])
    assert d.puback(mid, 0, T0) == 7
    assert d.unreceipted == 0
    assert d.counts.freed == 1


def test_unreceipted_messages_are_bounded() -> None:
    d = Delivery(window=4, receipts=True, max_unreceipted=6)
    for mid in send(d, [1, 2, 3, 4]):
        d.puback(mid, 0, T0)
    assert d.new_room(T0) == 2  # the window is free, but only 6 may wait for a receipt
    send(d, [5, 6], first_mid=5)
    assert d.new_room(T0) == 0
    d.receipt(receipt(3), T0)
    assert d.new_room(T0) == 2


def test_evicted_messages_are_forgotten_and_resend_targets_held_ones() -> None:
    d = Delivery(window=10, receipts=True)
    send(d, [1, 2, 3])
    d.forget([2])
    assert d.receipt(receipt(3), T0) == [1, 3]
    d.resend([9])  # above what was ever sent: goes out as a new message anyway
    assert d.to_resend(T0) == []
    send(d, [4, 5], first_mid=4)
    d.resend([4])  # a backfill request for a held seq
    assert d.to_resend(T0) == [4]


def test_unsent_from_is_the_lowest_seq_the_broker_has_not_accepted() -> None:
    d = Delivery(window=10, receipts=True)
    assert d.unsent_from() == 1
    m = send(d, [1, 2, 3])
    d.puback(m[0], 0, T0)
    assert d.unsent_from() == 2  # 2 and 3 await their PUBACK
    d.puback(m[1], 0, T0)
    d.puback(m[2], 0, T0)
    assert d.unsent_from() == 4
    d.connected(T0)
    assert d.unsent_from() == 1  # a new connection: all of them go again


def test_window_must_fit_in_the_unreceipted_bound() -> None:
    with pytest.raises(ValueError, match="window"):
        Delivery(window=10, receipts=True, max_unreceipted=5)


@settings(max_examples=200, deadline=None)
@given(
    sent=st.sets(st.integers(1, 60), max_size=40),
    through=st.integers(0, 60),
    extra=st.lists(st.integers(1, 80), max_size=10),
)
def test_a_receipt_frees_exactly_the_sent_seqs_it_covers(
    sent: set[int], through: int, extra: list[int]
) -> None:
    ranges = [(a, a) for a in sorted(set(extra)) if a > through + 1]
    merged: list[tuple[int, int]] = []
    for a, b in ranges:  # keep them canonical: a gap between consecutive ranges
        if merged and a <= merged[-1][1] + 1:
            continue
        merged.append((a, b))
    if through == 0 and not merged:
        return
    d = Delivery(window=100, receipts=True)
    send(d, sorted(sent))
    r = receipt(through, *merged)
    freed = d.receipt(r, T0)
    assert freed == sorted(s for s in sent if r.covers(s))
    assert d.unreceipted == len(sent) - len(freed)
