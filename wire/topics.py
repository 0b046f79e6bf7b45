"""Topic names: ``ct/v1/{tenant}/{site}/{device}/{kind}``.

Segments are restricted to a small safe alphabet so that they can never carry
MQTT wildcards (``+``, ``#``), separators or the ``$`` prefix of system topics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from wire.errors import TopicError

__all__ = [
    "CLOUD_KINDS",
    "DEVICE_KINDS",
    "PREFIX",
    "SEGMENT_PATTERN",
    "Kind",
    "Topic",
    "check_segment",
    "subscription",
]

PREFIX = "ct/v1"
SEGMENT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class Kind(StrEnum):
    """What a topic carries; the last topic segment."""

    TELEMETRY = "telemetry"  # environment readings
    STOCK = "stock"  # counts and scan events
    EVENTS = "events"  # custody events (EPCIS 2.0)
    STATE = "state"  # birth / death (last will) / heartbeat, retained
    CONFIG = "config"  # cloud -> device, retained
    RECEIPT = "receipt"  # cloud -> device, retained: what the cloud has stored
    BACKFILL = "backfill"  # cloud -> device: resend these seqs if you still hold them


#: What devices publish (and ingest workers subscribe to), and what only the cloud publishes.
DEVICE_KINDS: tuple[Kind, ...] = (Kind.TELEMETRY, Kind.STOCK, Kind.EVENTS, Kind.STATE)
CLOUD_KINDS: tuple[Kind, ...] = (Kind.CONFIG, Kind.RECEIPT, Kind.BACKFILL)


def check_segment(value: str, what: str) -> str:
    """Return ``value`` if it is a valid topic segment, else raise :class:`TopicError`."""
    if not isinstance(value, str) or not SEGMENT_PATTERN.fullmatch(value):
        raise TopicError(
            f"{what} must match {SEGMENT_PATTERN.pattern} (1-64 of A-Z a-z 0-9 _ . -, "
            f"starting with a letter or digit); got {value!r}"
        )
    return value


@dataclass(frozen=True, slots=True)
class Topic:
    """One device's topic for one kind of message."""

    tenant: str
    site: str
    device: str
    kind: Kind

    def __post_init__(self) -> None:
        check_segment(self.tenant, "tenant")
        check_segment(self.site, "site")
        check_segment(self.device, "device")
        if not isinstance(self.kind, Kind):
            raise TopicError(f"kind must be a wire.Kind; got {self.kind!r}")

    def __str__(self) -> str:
        return f"{PREFIX}/{self.tenant}/{self.site}/{self.device}/{self.kind.value}"

    def with_kind(self, kind: Kind) -> Topic:
        """The same device's topic for another kind."""
        return Topic(self.tenant, self.site, self.device, kind)

    @classmethod
    def parse(cls, topic: str) -> Topic:
        """Parse a concrete topic name; wildcards and unknown kinds are rejected."""
        if not isinstance(topic, str):
            raise TopicError(f"topic must be a string; got {type(topic).__name__}")
        parts = topic.split("/")
        if len(parts) != 6 or "/".join(parts[:2]) != PREFIX:
            raise TopicError(
                f"expected {PREFIX}/{{tenant}}/{{site}}/{{device}}/{{kind}}; got {topic!r}"
            )
        tenant, site, device, kind = parts[2:]
        try:
            parsed_kind = Kind(kind)
        except ValueError:
            known = ", ".join(k.value for k in Kind)
            raise TopicError(
                f"unknown kind {kind!r} in {topic!r}; expected one of {known}"
            ) from None
        return cls(tenant, site, device, parsed_kind)


def subscription(
    kind: Kind | None = None,
    *,
    tenant: str | None = None,
    share_group: str | None = None,
) -> str:
    """A subscription filter over all devices, optionally one kind, tenant or shared group.

    ``share_group`` gives an MQTT 5 shared subscription (``$share/{group}/...``) so
    that any number of ingest workers split the stream between them.
    """
    tenant_part = check_segment(tenant, "tenant") if tenant is not None else "+"
    kind_part = kind.value if kind is not None else "+"
    filter_ = f"{PREFIX}/{tenant_part}/+/+/{kind_part}"
    if share_group is not None:
        check_segment(share_group, "share group")
        return f"$share/{share_group}/{filter_}"
    return filter_
