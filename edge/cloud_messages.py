"""Opening what the cloud signs for this device: storage receipts and backfill requests.

Like remote config (edge/remote_config.py) these are envelopes signed with a cloud key the
agent trusts from its config file, opened the one way every cloud-signed message is
(`wire.open_signed`: envelope structure, addressed to this device, signature over this
exact topic, payload schema), plus one rule of their own: the envelope seq is the highest
seq the payload names, so the signed header and the payload cannot disagree.

Receipts and backfill requests need no replay protection: a receipt states facts that stay
true (what is stored stays stored) and a replayed backfill request only makes the agent
publish again what it still holds, which the cloud absorbs as duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence

from wire import BackfillRequest, MalformedMessage, Receipt, Topic, open_signed
from wire.envelope import SignatureCheck

__all__ = ["open_backfill", "open_receipt"]


def open_receipt(topic: Topic, data: bytes, checks: Sequence[SignatureCheck]) -> Receipt:
    """A verified receipt received on this device's ``receipt`` topic; `WireError` if not."""
    opened = open_signed(topic, data, checks)
    receipt = opened.payload
    if not isinstance(receipt, Receipt):  # pragma: no cover - the topic kind fixes the model
        raise MalformedMessage(f"expected a receipt on {topic}, got {receipt.type}")
    if opened.envelope.seq != receipt.highest:
        raise MalformedMessage(
            f"receipt envelope seq {opened.envelope.seq} must equal the highest seq it covers"
            f" ({receipt.highest})"
        )
    return receipt


def open_backfill(
    topic: Topic, data: bytes, checks: Sequence[SignatureCheck]
) -> tuple[int, BackfillRequest]:
    """A verified backfill request and its envelope seq; `WireError` if not."""
    opened = open_signed(topic, data, checks)
    request = opened.payload
    if not isinstance(request, BackfillRequest):  # pragma: no cover - fixed by the kind
        raise MalformedMessage(f"expected a backfill request on {topic}, got {request.type}")
    if opened.envelope.seq != request.highest:
        raise MalformedMessage(
            f"backfill envelope seq {opened.envelope.seq} must equal the highest seq it asks"
            f" for ({request.highest})"
        )
    return opened.envelope.seq, request
