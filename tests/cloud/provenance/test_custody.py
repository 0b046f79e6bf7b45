from __future__ import annotations

import random
from datetime import timedelta

from cloud.provenance.custody import CustodyInterval, CustodyStatus, compute_custody
from cloud.provenance.events import normalise_event
from cloud.provenance.export import export_document
from wire.epc import canonical_epc

from ._events import (
    CASE,
    DC_A,
    DIST_A,
    FACTORY,
    PALLET,
    SHOP,
    T0,
    UNITS,
    aggregation,
    loc,
    normalised,
    object_event,
    supply_chain,
)

U = [canonical_epc(u) for u in UNITS]
C, P = canonical_epc(CASE), canonical_epc(PALLET)


def test_chain_validates() -> None:
    from cloud.provenance.epcis import document_issues

    assert document_issues(export_document(normalised(supply_chain()))) == ()


def test_receiving_a_pallet_moves_its_contents() -> None:
    custody = compute_custody(normalised(supply_chain()[:5]))
    for epc in (P, C, *U):
        assert custody[epc].status is CustodyStatus.AT_SITE
        assert custody[epc].site == DC_A
        assert custody[epc].owner == DIST_A
        assert custody[epc].shipped_to == DIST_A
    assert custody[U[0]].parent == C
    assert custody[C].parent == P
    assert custody[P].children == (C,)
    assert custody[U[0]].intervals == (
        CustodyInterval(FACTORY, T0, T0 + timedelta(hours=3)),
        CustodyInterval(None, T0 + timedelta(hours=3), T0 + timedelta(hours=27)),
        CustodyInterval(DC_A, T0 + timedelta(hours=27)),
    )


def test_in_transit_while_shipped() -> None:
    custody = compute_custody(normalised(supply_chain()[:4]))
    assert custody[U[2]].status is CustodyStatus.IN_TRANSIT
    assert custody[U[2]].site is None


def test_full_chain() -> None:
    custody = compute_custody(normalised(supply_chain()))
    sold = custody[U[0]]
    assert sold.status is CustodyStatus.SOLD
    assert sold.parent is None
    assert sold.intervals[-1] == CustodyInterval(
        SHOP, T0 + timedelta(hours=32), T0 + timedelta(hours=40)
    )
    assert custody[U[1]].status is CustodyStatus.AT_SITE
    assert custody[U[1]].site == DC_A
    assert custody[C].children == ()
    assert custody[P].status is CustodyStatus.DECOMMISSIONED
    assert custody[U[1]].status is CustodyStatus.AT_SITE  # pallet label retired, units not


def test_independent_of_input_order() -> None:
    events = normalised(supply_chain())
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    assert compute_custody(shuffled) == compute_custody(events)


def test_decommissioned_unit_stays_decommissioned() -> None:
    events = [
        object_event(0, UNITS[:1], "ADD", "commissioning", **loc(FACTORY)),
        object_event(1, UNITS[:1], "DELETE", "decommissioning", **loc(FACTORY)),
        object_event(2, UNITS[:1], "OBSERVE", "receiving", **loc(DC_A)),
    ]
    assert compute_custody(normalised(events))[U[0]].status is CustodyStatus.DECOMMISSIONED


def test_repacking_moves_a_unit_between_cases() -> None:
    other = "urn:epc:id:sscc:9506000.0000000002"
    events = [
        object_event(0, UNITS[:2], "ADD", "commissioning", **loc(FACTORY)),
        aggregation(1, CASE, UNITS[:2], "ADD", "packing", **loc(FACTORY)),
        aggregation(2, other, UNITS[:1], "ADD", "packing", **loc(FACTORY)),
    ]
    custody = compute_custody(normalised(events))
    assert custody[U[0]].parent == canonical_epc(other)
    assert custody[C].children == (U[1],)


def test_error_declaration_retracts_an_event() -> None:
    wrong = object_event(5, UNITS[:1], "OBSERVE", "receiving", eventID="urn:uuid:1", **loc(SHOP))
    declared = dict(wrong, errorDeclaration={"declarationTime": "2025-03-02T00:00:00Z"})
    events = [
        object_event(0, UNITS[:1], "ADD", "commissioning", **loc(FACTORY)),
        wrong,
        declared,
    ]
    custody = compute_custody([normalise_event(e) for e in events])
    assert custody[U[0]].site == FACTORY
    assert custody[U[0]].status is CustodyStatus.COMMISSIONED
