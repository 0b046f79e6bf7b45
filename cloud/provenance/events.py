"""EPCIS 2.0 events normalised for custody and the ledger.

A :class:`NormalisedEvent` keeps the event exactly as captured, made standalone (the
document's ``@context`` is attached so the event means the same thing on its own), as
RFC 8785 canonical JSON: those bytes are the ledger leaf. Beside them it holds the fields
custody needs, normalised: EPCs mapped to one key per object (:func:`canonical_epc`), CBV
terms to their bare words, times to UTC.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785

from cloud.provenance.errors import EpcisValidationError
from cloud.provenance.vocab import (
    normalise_biz_step,
    normalise_disposition,
    normalise_source_dest_type,
)
from wire.epc import canonical_epc
from wire.errors import IdentifierError

__all__ = [
    "EPCIS_CONTEXT",
    "NormalisedEvent",
    "Quantity",
    "document_events",
    "minimal_context",
    "normalise_document",
    "normalise_event",
]

_logger = logging.getLogger(__name__)

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


@dataclass(frozen=True, slots=True)
class Quantity:
    epc_class: str
    quantity: float | None = None
    uom: str | None = None


@dataclass(frozen=True, slots=True)
class NormalisedEvent:
    """One EPCIS event: its canonical bytes plus the fields custody reasons about."""

    canonical: bytes
    event_id: str
    event_type: str
    event_time: datetime
    action: str | None = None
    biz_step: str | None = None
    disposition: str | None = None
    read_point: str | None = None
    biz_location: str | None = None
    epcs: tuple[str, ...] = ()
    parent_id: str | None = None
    child_epcs: tuple[str, ...] = ()
    input_epcs: tuple[str, ...] = ()
    output_epcs: tuple[str, ...] = ()
    quantities: tuple[Quantity, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()
    destinations: tuple[tuple[str, str], ...] = ()
    error_declared: bool = False

    def __post_init__(self) -> None:
        if self.event_time.tzinfo is None:
            raise EpcisValidationError(f"event {self.event_id} time must be timezone-aware")

    @property
    def document(self) -> dict[str, Any]:
        """The standalone event as JSON (a fresh copy, safe to modify)."""
        value: dict[str, Any] = json.loads(self.canonical)
        return value

    @property
    def all_epcs(self) -> tuple[str, ...]:
        """Every instance-level EPC the event names (parent first)."""
        parent = (self.parent_id,) if self.parent_id else ()
        return (*parent, *self.epcs, *self.child_epcs, *self.input_epcs, *self.output_epcs)

    @classmethod
    def from_canonical(cls, data: bytes) -> NormalisedEvent:
        """Re-derive an event from its ledger leaf bytes (the round trip of ``canonical``)."""
        event = json.loads(data)
        context = event.pop("@context", EPCIS_CONTEXT)
        return normalise_event(event, context)


def document_events(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The events of an EPCISDocument or EPCISQueryDocument, in document order."""
    body = document.get("epcisBody", {})
    if document.get("type") == "EPCISQueryDocument":
        body = body.get("queryResults", {}).get("resultsBody", {})
    events = body.get("eventList", [])
    if not isinstance(events, list):
        raise EpcisValidationError("epcisBody eventList must be a list", (("/epcisBody", ""),))
    return events


def normalise_document(document: Mapping[str, Any]) -> list[NormalisedEvent]:
    """Normalise every event of an (already schema-valid) document."""
    context = document.get("@context", EPCIS_CONTEXT)
    return [
        normalise_event(e, context, f"{_events_pointer(document)}/{i}")
        for i, e in enumerate(document_events(document))
    ]


def _events_pointer(document: Mapping[str, Any]) -> str:
    if document.get("type") == "EPCISQueryDocument":
        return "/epcisBody/queryResults/resultsBody/eventList"
    return "/epcisBody/eventList"


def _epcs(event: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(canonical_epc(e) for e in event.get(key, ()))


def _quantities(event: Mapping[str, Any]) -> tuple[Quantity, ...]:
    keys = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
    found: list[Quantity] = []
    for key in keys:
        for q in event.get(key, ()):
            amount = q.get("quantity")
            epc_class = canonical_epc(q["epcClass"])
            value = None if amount is None else float(amount)
            found.append(Quantity(epc_class, value, q.get("uom")))
    return tuple(found)


def _parties(items: Sequence[Mapping[str, str]], field: str) -> tuple[tuple[str, str], ...]:
    return tuple((normalise_source_dest_type(i["type"]), i[field]) for i in items)


def _time(value: str, event_id: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:
        raise EpcisValidationError(
            f"event {event_id}: eventTime {value!r} is not RFC 3339"
        ) from None
    if parsed.tzinfo is None:
        raise EpcisValidationError(f"event {event_id}: eventTime {value!r} lacks a UTC offset")
    return parsed.astimezone(UTC)


def normalise_event(
    event: Mapping[str, Any], context: object = EPCIS_CONTEXT, where: str = ""
) -> NormalisedEvent:
    """Normalise one schema-valid event; ``context`` is its document's ``@context``.

    Raises :class:`EpcisValidationError` (pointing at ``where``) when an SGTIN/SSCC in it is
    not a valid GS1 key, e.g. a Digital Link with a wrong check digit.
    """
    try:
        return _normalise(event, context)
    except IdentifierError as exc:
        raise EpcisValidationError(f"{where or '/'}: {exc}", ((where, str(exc)),)) from None


def _used_prefixes(value: object, found: set[str]) -> set[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key != "@context":
                _used_prefixes(key, found)
                _used_prefixes(item, found)
    elif isinstance(value, list):
        for item in value:
            _used_prefixes(item, found)
    elif isinstance(value, str) and ":" in value:
        found.add(value.split(":", 1)[0])
    return found


def minimal_context(context: object, event: Mapping[str, Any]) -> list[Any]:
    """``context`` reduced to the remote contexts plus the prefixes ``event`` uses.

    This makes an event's standalone form independent of the document it came in, so a
    re-exported event has the same canonical bytes as when it was first captured.
    """
    items = context if isinstance(context, list) else [context]
    used = _used_prefixes(event, set())
    urls = [i for i in items if isinstance(i, str)]
    terms = {k: v for i in items if isinstance(i, Mapping) for k, v in i.items() if k in used}
    return [*urls, terms] if terms else urls


def _normalise(event: Mapping[str, Any], context: object) -> NormalisedEvent:
    standalone = dict(event)
    if "@context" not in standalone:
        standalone["@context"] = minimal_context(context, event)
    canonical = rfc8785.dumps(standalone)
    # Identity without @context: the same event keeps its id whatever document carried it.
    without_context = {k: v for k, v in event.items() if k != "@context"}
    event_id = event.get("eventID") or (
        "ni:///sha-256;" + hashlib.sha256(rfc8785.dumps(without_context)).hexdigest() + "?ver=CT1"
    )
    read_point = event.get("readPoint", {}).get("id")
    biz_location = event.get("bizLocation", {}).get("id")
    parent = event.get("parentID")
    return NormalisedEvent(
        canonical=canonical,
        event_id=event_id,
        event_type=event["type"],
        event_time=_time(event["eventTime"], event_id),
        action=event.get("action"),
        biz_step=normalise_biz_step(event["bizStep"]) if "bizStep" in event else None,
        disposition=(
            normalise_disposition(event["disposition"]) if "disposition" in event else None
        ),
        read_point=read_point,
        biz_location=biz_location,
        epcs=_epcs(event, "epcList"),
        parent_id=canonical_epc(parent) if parent else None,
        child_epcs=_epcs(event, "childEPCs"),
        input_epcs=_epcs(event, "inputEPCList"),
        output_epcs=_epcs(event, "outputEPCList"),
        quantities=_quantities(event),
        sources=_parties(event.get("sourceList", ()), "source"),
        destinations=_parties(event.get("destinationList", ()), "destination"),
        error_declared="errorDeclaration" in event,
    )
