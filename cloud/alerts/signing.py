"""Webhook signatures per the Standard Webhooks specification, and retry back-off.

Every delivery carries the three Standard Webhooks headers, so receivers can verify it with
a stock library (``standardwebhooks`` for Python, ``svix`` and others elsewhere):

- ``webhook-id``: the notification's idempotency key, the same on every retry;
- ``webhook-timestamp``: unix seconds of this attempt (receivers refuse stale ones: replay);
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``.

``Idempotency-Key`` repeats the id for receivers that deduplicate on that header. Secrets
are ``whsec_<base64 of 32 random bytes>`` (the specification's form); a secret of another
form (subscriptions created before this format) is used as its UTF-8 bytes, so old
receivers keep verifying while the brand rotates to a new subscription.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta

import tenacity
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

__all__ = [
    "EVENT_HEADER",
    "IDEMPOTENCY_HEADER",
    "ID_HEADER",
    "SECRET_PREFIX",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "backoff",
    "new_secret",
    "signed_headers",
    "verify",
]

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-ChannelTrace-Event"
SECRET_PREFIX = "whsec_"  # noqa: S105 (the specification's prefix, not a secret)
_SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh subscription secret in the Standard Webhooks form."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def _webhook(secret: str) -> Webhook:
    if secret.startswith(SECRET_PREFIX):
        return Webhook(secret)
    return Webhook(secret.encode("utf-8"))  # a pre-specification secret: its bytes are the key


def signed_headers(secret: str, message_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The Standard Webhooks headers (plus ``Idempotency-Key``) for one attempt."""
    at = datetime.fromtimestamp(timestamp, UTC)
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: _webhook(secret).sign(message_id, at, body),
        IDEMPOTENCY_HEADER: message_id,
    }


def verify(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    """Whether ``headers`` sign ``body`` with ``secret``, the library's way (it also refuses
    timestamps more than five minutes from now)."""
    try:
        _webhook(secret).verify(body, headers, json_parse=False)
    except WebhookVerificationError:
        return False
    return True


def backoff(attempt: int, *, base: timedelta, cap: timedelta) -> timedelta:
    """Delay after failed attempt number ``attempt`` (1-based): exponential from ``base`` up
    to ``cap``, with random jitter so that many notifications failing together (a receiver
    down) do not all retry in the same second.

    The delay is scheduled in the database (the outbox survives restarts), so only the
    strategy comes from tenacity, not its in-process retry loop.
    """
    if attempt < 1:
        raise ValueError(f"expected attempt >= 1, got {attempt}")
    strategy = tenacity.wait_exponential_jitter(
        multiplier=base.total_seconds(), max=cap.total_seconds(), jitter=base.total_seconds()
    )
    state = tenacity.RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    return timedelta(seconds=strategy(state))
