"""Custody of serialised objects, computed from their EPCIS events (pure).

Per EPC: where it is (``site`` = the last ``bizLocation``), who owns and who holds it (the
``owning_party`` / ``possessing_party`` of the last transfer), what it is packed in (unit →
case → pallet via AggregationEvent ADD/OBSERVE/DELETE and ``packing``/``unpacking``), its
status and its custody intervals. An event about a container applies to everything inside it,
recursively: receiving a pallet receives its cases and their units. Only instance-level EPCs
are tracked (quantity lists are class-level). Events an error declaration retracts (EPCIS
2.0 §7.4.1.2: a re-sent event with the same eventID and ``errorDeclaration``) are ignored.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from cloud.provenance.events import NormalisedEvent

__all__ = ["CustodyInterval", "CustodyStatus", "UnitCustody", "compute_custody"]

_logger = logging.getLogger(__name__)


class CustodyStatus(enum.StrEnum):
    COMMISSIONED = "commissioned"
    IN_TRANSIT = "in_transit"
    AT_SITE = "at_site"
    SOLD = "sold"
    DECOMMISSIONED = "decommissioned"


_SHIP = frozenset({"shipping", "departing", "transporting", "loading"})
_RECEIVE = frozenset({"receiving", "arriving", "accepting", "unloading", "stocking", "storing"})
_SELL = frozenset({"retail_selling", "dispensing"})
_END = frozenset({"decommissioning", "destroying", "killing"})
_END_DISPOSITIONS = frozenset({"destroyed", "disposed", "inactive", "dispensed"})


@dataclass(frozen=True, slots=True)
class CustodyInterval:
    """``site`` held the object from ``start`` to ``end`` (``None``: still does).

    ``site`` is ``None`` while in transit between sites.
    """

    site: str | None
    start: datetime
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class UnitCustody:
    epc: str
    status: CustodyStatus
    site: str | None
    owner: str | None
    possessor: str | None
    parent: str | None
    children: tuple[str, ...]
    shipped_to: str | None
    shipped_to_location: str | None
    intervals: tuple[CustodyInterval, ...]
    last_event_id: str
    last_event_time: datetime
    recalled_at: datetime | None = None


@dataclass(slots=True)
class _State:
    epc: str
    status: CustodyStatus = CustodyStatus.COMMISSIONED
    site: str | None = None
    owner: str | None = None
    possessor: str | None = None
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    shipped_to: str | None = None
    shipped_to_location: str | None = None
    intervals: list[CustodyInterval] = field(default_factory=list)
    last_event_id: str = ""
    last_event_time: datetime | None = None
    recalled_at: datetime | None = None

    def move(self, site: str | None, at: datetime) -> None:
        if self.intervals and self.intervals[-1].end is None:
            if self.intervals[-1].site == site:
                return
            last = self.intervals[-1]
            self.intervals[-1] = CustodyInterval(last.site, last.start, at)
        self.intervals.append(CustodyInterval(site, at))
        self.site = site

    def close(self, at: datetime) -> None:
        if self.intervals and self.intervals[-1].end is None:
            last = self.intervals[-1]
            self.intervals[-1] = CustodyInterval(last.site, last.start, at)


_Get = Callable[[str], _State]


def _party(parties: tuple[tuple[str, str], ...], kind: str) -> str | None:
    return next((p for t, p in parties if t == kind), None)


def compute_custody(events: Iterable[NormalisedEvent]) -> dict[str, UnitCustody]:
    """Custody of every instance-level EPC named in ``events`` (sorted by event time)."""
    ordered = sorted(enumerate(events), key=lambda pair: (pair[1].event_time, pair[0]))
    retracted = {e.event_id for _, e in ordered if e.error_declared}
    states: dict[str, _State] = {}

    def state(epc: str) -> _State:
        return states.setdefault(epc, _State(epc))

    for _, event in ordered:
        if event.event_id in retracted:
            continue
        _aggregate(event, state)
        targets = list(event.all_epcs)
        if event.event_type == "TransformationEvent":
            for epc in event.input_epcs:
                _end(state(epc), event)
            targets = list(event.output_epcs)
        for epc in _with_contents(targets, state):
            _apply(state(epc), event, contained=epc not in targets)
    return {epc: _freeze(s) for epc, s in sorted(states.items()) if s.last_event_time is not None}


def _with_contents(epcs: list[str], get: _Get) -> list[str]:
    """``epcs`` and, depth-first, everything packed inside them."""
    seen: dict[str, None] = {}
    stack = list(reversed(epcs))
    while stack:
        epc = stack.pop()
        if epc not in seen:
            seen[epc] = None
            stack.extend(reversed(get(epc).children))
    return list(seen)


def _aggregate(event: NormalisedEvent, get: _Get) -> None:
    """Update parent/child links for packing (ADD, OBSERVE) and unpacking (DELETE)."""
    if event.event_type not in ("AggregationEvent", "ObjectEvent") or event.action is None:
        return
    unpack = event.action == "DELETE" or event.biz_step == "unpacking"
    parents = [event.parent_id] if event.parent_id else []
    if event.event_type == "ObjectEvent":
        if event.biz_step != "unpacking":
            return
        parents = list(event.epcs)  # unpacking an object: everything leaves it
    for parent_epc in parents:
        parent = get(parent_epc)
        children = list(event.child_epcs) or (list(parent.children) if unpack else [])
        for child_epc in children:
            child = get(child_epc)
            if child.parent is not None:  # an object is in one container at a time
                old = get(child.parent)
                old.children = [c for c in old.children if c != child_epc]
            child.parent = None
            if not unpack and child_epc != parent_epc:
                child.parent = parent_epc
                parent.children.append(child_epc)


def _end(s: _State, event: NormalisedEvent) -> None:
    s.status = CustodyStatus.DECOMMISSIONED
    s.close(event.event_time)
    s.last_event_id, s.last_event_time = event.event_id, event.event_time


def _apply(s: _State, event: NormalisedEvent, *, contained: bool) -> None:
    step, at = event.biz_step, event.event_time
    terminal = (step in _END or event.disposition in _END_DISPOSITIONS) and event.action != "ADD"
    terminal = terminal or (event.event_type == "ObjectEvent" and event.action == "DELETE")
    if s.status is CustodyStatus.DECOMMISSIONED and not (step == "commissioning" and not contained):
        return
    if terminal and contained:
        return  # decommissioning a pallet label does not decommission its contents
    if terminal:
        _end(s, event)
        return
    if event.disposition == "recalled" and s.recalled_at is None:
        s.recalled_at = at  # a recall of a case or pallet recalls what is in it
    if step in _SHIP or event.disposition == "in_transit":
        s.status = CustodyStatus.IN_TRANSIT
        s.shipped_to = _party(event.destinations, "owning_party") or s.shipped_to
        s.shipped_to_location = _party(event.destinations, "location") or s.shipped_to_location
        s.move(None, at)
    elif step in _SELL or event.disposition == "retail_sold":
        s.status = CustodyStatus.SOLD
        if event.biz_location:
            s.move(event.biz_location, at)
        s.close(at)
    elif step == "commissioning" and event.action == "ADD":
        s.status = CustodyStatus.COMMISSIONED
        s.move(event.biz_location, at)
    elif event.biz_location and s.status is not CustodyStatus.SOLD:
        if s.status is CustodyStatus.IN_TRANSIT and step not in _RECEIVE:
            pass  # an observation en route (e.g. a border inspection) is not a delivery
        else:
            s.status = CustodyStatus.AT_SITE
            s.move(event.biz_location, at)
    if step in _RECEIVE or step == "commissioning":
        s.owner = _party(event.destinations, "owning_party") or s.owner
        s.possessor = _party(event.destinations, "possessing_party") or s.possessor
    s.last_event_id, s.last_event_time = event.event_id, at


def _freeze(s: _State) -> UnitCustody:
    assert s.last_event_time is not None  # filtered by the caller
    return UnitCustody(
        epc=s.epc,
        status=s.status,
        site=s.site,
        owner=s.owner,
        possessor=s.possessor,
        parent=s.parent,
        children=tuple(s.children),
        shipped_to=s.shipped_to,
        shipped_to_location=s.shipped_to_location,
        intervals=tuple(s.intervals),
        last_event_id=s.last_event_id,
        last_event_time=s.last_event_time,
        recalled_at=s.recalled_at,
    )
