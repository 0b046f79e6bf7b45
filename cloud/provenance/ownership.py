"""Who may capture what: the ownership rule of every capture (API and gateways).

* A **brand** captures events only about identifiers under its registered GS1 company
  prefixes: every EPC and class an event names (``epcList``, ``parentID``,
  ``childEPCs``, ``inputEPCList``, ``outputEPCList`` and every quantity list's
  ``epcClass``), in any form (SGTIN, SSCC, LGTIN, SGLN, GRAI, GIAI, … as URN or Digital
  Link). An identifier that is not a GS1 key (``urn:uuid:``, a GID, a private URI) has no
  owner anyone can check, so it is refused too.
* A **distributor** (or a gateway at a distributor's site) additionally captures only
  units that were shipped to it (the shipment's owning party is the distributor, or its
  destination one of its sites) or that are at one of its sites, and only events located
  (``bizLocation``, else ``readPoint``) at its own sites.
* A **gateway** records events at its own site only: a ``bizLocation`` (else ``readPoint``)
  it names must be mapped to that site (an event naming none happened where the gateway
  is).

The first offending identifier is named (:class:`OwnershipError`), and the capture stores
nothing. Checks run inside the capture's transaction, after the ledger lock, so the custody
they read is the custody the events are applied to.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from cloud.provenance.errors import OwnershipError
from cloud.provenance.events import NormalisedEvent
from cloud.provenance.prefixes import owners_of
from wire.epc import company_prefix_digits
from wire.errors import IdentifierError

__all__ = ["Capturer", "check_capture", "distributor_locations", "named_identifiers"]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class Capturer:
    """Who captures: a brand (``distributor`` None) or one of its distributors; for a
    gateway, also the site it stands at (its events must be located there)."""

    tenant: str
    distributor: str | None = None
    site: str | None = None

    @property
    def who(self) -> str:
        if self.site is not None:
            return f"the gateway at site {self.site}"
        return "you" if self.distributor is None else f"distributor {self.distributor}"


def named_identifiers(events: Sequence[NormalisedEvent]) -> Iterator[tuple[str, bool]]:
    """``(identifier, is_instance)`` for everything the events name, in order, once each."""
    seen: set[str] = set()
    for event in events:
        for epc in event.all_epcs:
            if epc not in seen:
                seen.add(epc)
                yield epc, True
        for quantity in event.quantities:
            if quantity.epc_class not in seen:
                seen.add(quantity.epc_class)
                yield quantity.epc_class, False


def _prefix_owners(conn: Conn, capturer: Capturer, named: list[tuple[str, bool]]) -> None:
    digits: dict[str, str] = {}
    for identifier, _ in named:
        try:
            found = company_prefix_digits(identifier)
        except IdentifierError:
            found = None
        if found is None:
            raise OwnershipError(
                f"{identifier} is not a GS1 key with a company prefix; a capture names only "
                f"identifiers under the company prefixes registered to tenant {capturer.tenant}",
                identifier,
            )
        digits[identifier] = found
    owners = owners_of(conn, digits.values())
    for identifier, _ in named:
        owner = owners.get(digits[identifier])
        if owner == capturer.tenant:
            continue
        where = (
            "a company prefix of another brand"
            if owner is not None
            else f"no company prefix registered to tenant {capturer.tenant}"
        )
        raise OwnershipError(f"{identifier} is under {where}", identifier)


def distributor_locations(conn: Conn, tenant: str, distributor: str) -> frozenset[str]:
    """The distributor's sites (ids) and the EPCIS locations mapped to them."""
    rows = conn.execute(
        "SELECT s.id FROM sites s WHERE s.tenant_id = %(t)s AND s.distributor_id = %(d)s"
        " UNION SELECT l.location FROM epcis_locations l JOIN sites s"
        "   ON (s.tenant_id, s.id) = (l.tenant_id, l.site_id)"
        " WHERE s.tenant_id = %(t)s AND s.distributor_id = %(d)s",
        {"t": tenant, "d": distributor},
    ).fetchall()
    return frozenset(str(r[0]) for r in rows)


def _site_locations(conn: Conn, tenant: str, site: str) -> frozenset[str]:
    rows = conn.execute(
        "SELECT location FROM epcis_locations WHERE tenant_id = %s AND site_id = %s",
        (tenant, site),
    ).fetchall()
    return frozenset({site, *(str(r[0]) for r in rows)})


def _places(
    capturer: Capturer,
    events: Sequence[NormalisedEvent],
    allowed: frozenset[str],
    *,
    required: bool,
) -> None:
    for event in events:
        place = event.biz_location or event.read_point
        if place is None and not required:
            continue
        if place is None:
            raise OwnershipError(
                f"event {event.event_id} names no bizLocation or readPoint; events of "
                f"{capturer.who} must be located at its own sites",
                event.event_id,
                kind="location",
            )
        if place not in allowed:
            raise OwnershipError(
                f"{place} (event {event.event_id}) is not a location of {capturer.who}'s sites",
                place,
                kind="location",
            )


def _shipped_or_held(
    conn: Conn, capturer: Capturer, named: list[tuple[str, bool]], locations: frozenset[str]
) -> None:
    assert capturer.distributor is not None
    units = [identifier for identifier, instance in named if instance]
    if not units:
        return
    rows = conn.execute(
        "SELECT u.epc FROM units u WHERE u.tenant_id = %(t)s AND u.epc = ANY(%(epcs)s)"
        " AND (u.site = ANY(%(locations)s) OR u.shipped_to_location = ANY(%(locations)s)"
        "      OR u.shipped_to IN (SELECT p.party FROM epcis_parties p"
        "                          WHERE p.tenant_id = %(t)s AND p.distributor_id = %(d)s))",
        {"t": capturer.tenant, "d": capturer.distributor, "epcs": units,
         "locations": sorted(locations)},
    ).fetchall()  # fmt: skip
    reachable = {str(r[0]) for r in rows}
    for unit in units:
        if unit not in reachable:
            raise OwnershipError(
                f"{unit} was not shipped to distributor {capturer.distributor} and is not at "
                "one of its sites",
                unit,
            )


def check_capture(conn: Conn, events: Sequence[NormalisedEvent], capturer: Capturer) -> None:
    """Raise :class:`OwnershipError` (naming the first offending identifier or location)
    unless ``capturer`` may capture every one of ``events``."""
    named = list(named_identifiers(events))
    gateway = capturer.site is not None
    if capturer.site is not None:
        own = _site_locations(conn, capturer.tenant, capturer.site)
        _places(capturer, events, own, required=False)
    locations: frozenset[str] = frozenset()
    if capturer.distributor is not None:
        locations = distributor_locations(conn, capturer.tenant, capturer.distributor)
        _places(capturer, events, locations, required=not gateway)
    _prefix_owners(conn, capturer, named)
    if capturer.distributor is not None:
        _shipped_or_held(conn, capturer, named, locations)
