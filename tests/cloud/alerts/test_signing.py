"""Webhook signatures and retry back-off."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cloud.alerts.signing import backoff, sign, verify

SECRET = "s" * 32


def test_signature_verifies_and_detects_tampering_and_staleness() -> None:
    header = sign(SECRET, b'{"a":1}', 1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert verify(SECRET, b'{"a":1}', header, now=1_700_000_010)
    assert not verify(SECRET, b'{"a":2}', header, now=1_700_000_010)
    assert not verify("x" * 32, b'{"a":1}', header, now=1_700_000_010)
    assert not verify(SECRET, b'{"a":1}', header, now=1_700_001_000)
    assert not verify(SECRET, b'{"a":1}', "garbage", now=1_700_000_000)


def test_known_vector() -> None:
    # echo -n '1.{}' | openssl dgst -sha256 -hmac key
    assert sign("key", b"{}", 1) == (
        "t=1,v1=" + "1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
    )


def test_backoff_doubles_up_to_the_cap() -> None:
    base, cap = timedelta(seconds=10), timedelta(seconds=60)
    assert [backoff(n, base=base, cap=cap).total_seconds() for n in range(1, 6)] == [
        10, 20, 40, 60, 60,
    ]  # fmt: skip
    assert backoff(1000, base=base, cap=cap) == cap
    with pytest.raises(ValueError, match="attempt"):
        backoff(0, base=base, cap=cap)
