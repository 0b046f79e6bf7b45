"""Builders of EPCIS 2.0 events for custody and cold-chain tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.provenance.events import NormalisedEvent, normalise_event

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
BRAND, DIST_A = "urn:epc:id:pgln:9506000.00000", "urn:epc:id:pgln:9506000.00001"
FACTORY, DC_A, SHOP = (
    "urn:epc:id:sgln:9506000.00010.0",
    "urn:epc:id:sgln:9506000.00020.0",
    "urn:epc:id:sgln:9506000.00030.0",
)
UNITS = [f"urn:epc:id:sgtin:9506000.013435.{n}" for n in range(1, 5)]
CASE = "urn:epc:id:sscc:9506000.0000000001"
PALLET = "urn:epc:id:sscc:9506000.0000000099"


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def object_event(
    hours: float, epcs: list[str], action: str, step: str, **extra: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": at(hours),
        "eventTimeZoneOffset": "+00:00",
        "epcList": epcs,
        "action": action,
        "bizStep": step,
    }
    event.update(extra)
    return event


def aggregation(
    hours: float, parent: str, children: list[str], action: str, step: str, **extra: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "AggregationEvent",
        "eventTime": at(hours),
        "eventTimeZoneOffset": "+00:00",
        "parentID": parent,
        "childEPCs": children,
        "action": action,
        "bizStep": step,
    }
    event.update(extra)
    return event


def loc(site: str) -> dict[str, Any]:
    return {"bizLocation": {"id": site}, "readPoint": {"id": site}}


def dest(owner: str, site: str) -> dict[str, Any]:
    return {
        "destinationList": [
            {"type": "owning_party", "destination": owner},
            {"type": "location", "destination": site},
        ]
    }


def supply_chain() -> list[dict[str, Any]]:
    """Commission 4 units, pack 2 cases... ship a pallet to distributor A, receive, unpack, sell."""
    return [
        object_event(0, UNITS, "ADD", "commissioning", **loc(FACTORY)),
        aggregation(1, CASE, UNITS, "ADD", "packing", **loc(FACTORY)),
        aggregation(2, PALLET, [CASE], "ADD", "packing", **loc(FACTORY)),
        object_event(
            3, [PALLET], "OBSERVE", "shipping", disposition="in_transit", **dest(DIST_A, DC_A)
        ),
        object_event(27, [PALLET], "OBSERVE", "receiving", **loc(DC_A), **dest(DIST_A, DC_A)),
        aggregation(28, PALLET, [], "DELETE", "unpacking", **loc(DC_A)),
        aggregation(29, CASE, [], "DELETE", "unpacking", **loc(DC_A)),
        object_event(30, UNITS[:1], "OBSERVE", "shipping", **dest(DIST_A, SHOP)),
        object_event(32, UNITS[:1], "OBSERVE", "receiving", **loc(SHOP)),
        object_event(
            40, UNITS[:1], "OBSERVE", "retail_selling", disposition="retail_sold", **loc(SHOP)
        ),
        object_event(41, [PALLET], "DELETE", "decommissioning", **loc(DC_A)),
    ]


def normalised(events: list[dict[str, Any]]) -> list[NormalisedEvent]:
    return [normalise_event(e) for e in events]
