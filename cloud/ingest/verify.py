"""Topic names on the ingest's hot path, parsed once per name.

Messages are opened by :func:`wire.open_envelope`, the one path every receiver uses (the
ingest with each cached identity's verifiers, ``DeviceIdentity.checks``; the gateway with
the cloud's key). Topic names repeat for every message of a device, so the ingest parses
each name once (bounded cache; a bad name is not cached).
"""

from __future__ import annotations

from functools import lru_cache

from wire.topics import Topic

__all__ = ["parse_topic"]

_TOPIC_CACHE = 8_192  # distinct topic names remembered (a fleet has several kinds each)


@lru_cache(maxsize=_TOPIC_CACHE)
def parse_topic(topic: str) -> Topic:
    """:meth:`wire.Topic.parse`, memoised (``Topic`` is frozen; errors are not cached)."""
    return Topic.parse(topic)
