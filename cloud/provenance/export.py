"""Export normalised events as an EPCIS 2.0 ``EPCISDocument`` (validates against the schema).

Each event is written exactly as captured (its canonical JSON, the ledger leaf), so what a
brand exports is byte-for-byte what the ledger proves. The JSON-LD context is hoisted: the
document carries the EPCIS 2.0 context plus every namespace prefix the events use; an event
whose prefixes clash with another event's keeps its own ``@context``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from cloud.provenance.events import EPCIS_CONTEXT, NormalisedEvent

__all__ = ["export_document"]

_logger = logging.getLogger(__name__)


def _context_parts(context: object) -> tuple[list[str], dict[str, Any]]:
    items = context if isinstance(context, list) else [context]
    urls = [i for i in items if isinstance(i, str)]
    terms: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict):
            terms.update(item)
    return urls, terms


def export_document(
    events: Iterable[NormalisedEvent],
    *,
    creation_date: datetime | None = None,
    document_id: str | None = None,
    sender: str | None = None,
) -> dict[str, Any]:
    """An EPCISDocument holding ``events`` in the order given."""
    urls: list[str] = [EPCIS_CONTEXT]
    terms: dict[str, Any] = {}
    body: list[dict[str, Any]] = []
    for event in events:
        data = event.document
        context = data.pop("@context", EPCIS_CONTEXT)
        event_urls, event_terms = _context_parts(context)
        clash = any(k in terms and terms[k] != v for k, v in event_terms.items())
        if clash:
            _logger.debug("event %s keeps its own @context (prefix clash)", event.event_id)
            data["@context"] = context
        else:
            terms.update(event_terms)
            urls.extend(u for u in event_urls if u not in urls)
        body.append(data)
    created = (creation_date or datetime.now(UTC)).astimezone(UTC)
    document: dict[str, Any] = {
        "@context": [*urls, terms] if terms else urls,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "epcisBody": {"eventList": body},
    }
    if document_id is not None:
        document["id"] = document_id
    if sender is not None:
        document["sender"] = sender
    return document
