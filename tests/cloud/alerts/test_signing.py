"""Webhook signatures (Standard Webhooks) and retry back-off with jitter."""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from cloud.alerts.signing import (
    ID_HEADER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    backoff,
    new_secret,
    signed_headers,
    verify,
)

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
BODY = b'{"event":"alert.opened"}'


def test_a_stock_receiver_verifies_our_headers() -> None:
    now = int(time.time())
    headers = signed_headers(SECRET, "msg_1", BODY, now)
    assert Webhook(SECRET).verify(BODY, headers) == {"event": "alert.opened"}
    assert headers[TIMESTAMP_HEADER] == str(now)
    assert headers[ID_HEADER] == headers[IDEMPOTENCY_HEADER] == "msg_1"
    assert headers[SIGNATURE_HEADER].startswith("v1,")
    assert verify(SECRET, BODY, headers)


def test_the_specifications_example_vector() -> None:
    # From the Standard Webhooks specification's test vectors.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    headers = signed_headers(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", body, 1614265330)
    assert headers[SIGNATURE_HEADER] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_tampering_another_secret_and_staleness_are_refused() -> None:
    now = int(time.time())
    headers = signed_headers(SECRET, "msg_1", BODY, now)
    assert not verify(SECRET, b'{"event":"alert.resolved"}', headers)
    assert not verify(new_secret(), BODY, headers)
    assert not verify(SECRET, BODY, {**headers, ID_HEADER: "msg_2"})
    assert not verify(SECRET, BODY, signed_headers(SECRET, "msg_1", BODY, now - 3600))
    assert not verify(SECRET, BODY, {})


def test_a_secret_from_before_the_specification_still_signs() -> None:
    old = "webhook-secret-for-tests-0123456789"
    headers = signed_headers(old, "msg_1", BODY, int(time.time()))
    assert Webhook(old.encode()).verify(BODY, headers, json_parse=False) is None
    assert verify(old, BODY, headers)


def test_new_secrets_are_in_the_specifications_form_and_unique() -> None:
    first, second = new_secret(), new_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_backoff_grows_to_the_cap_with_jitter() -> None:
    base, cap = timedelta(seconds=10), timedelta(seconds=60)
    for attempt, low in [(1, 10), (2, 20), (3, 40)]:
        delay = backoff(attempt, base=base, cap=cap).total_seconds()
        assert low <= delay <= min(60, low + 10)
    assert backoff(1000, base=base, cap=cap) == cap
    spread = {backoff(2, base=base, cap=cap) for _ in range(50)}
    assert len(spread) > 1  # not in lockstep: many failing together retry at different times
    with pytest.raises(ValueError, match="attempt"):
        backoff(0, base=base, cap=cap)
