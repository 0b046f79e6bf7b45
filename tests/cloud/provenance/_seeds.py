"""Valid EPCIS 2.0 documents of our own for what the 47 official examples leave out.

Master data in a document header and in query results, extension event types, extension
members on documents, headers and error declarations, a persistent disposition that only
unsets, events that say what they are about in the less common ways (quantities only,
sensor data at a read point, DELETE without children), a transformation with a
``transformationID`` and inputs only, certification info as one URI, and query documents.
The conformance tests first check that the official schema accepts every one of them.
"""

from __future__ import annotations

from typing import Any

from cloud.provenance.events import EPCIS_CONTEXT

CONTEXT: list[Any] = [EPCIS_CONTEXT, {"example": "https://ns.example.com/epcis/"}]
SHOP = "urn:epc:id:sgln:9506000.00030.0"
UNIT = "https://id.gs1.org/01/09506000134352/21/1"
CASE = "urn:epc:id:sscc:9506000.0000000001"
LOT = "urn:epc:class:lgtin:9506000.013435.L1"


def _event(kind: str, **members: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "eventTime": "2025-03-01T08:00:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        **members,
    }


EVENTS: list[dict[str, Any]] = [
    _event(
        "ObjectEvent",
        action="OBSERVE",
        quantityList=[{"epcClass": LOT, "quantity": 12, "uom": "KGM"}],
        persistentDisposition={"unset": ["completeness_verified"]},
        certificationInfo="https://cert.example.com/organic/42",
        bizStep="https://ref.gs1.org/cbv/BizStep-inspecting",
    ),
    _event(
        "ObjectEvent",
        action="OBSERVE",
        readPoint={"id": SHOP, "example:shelf": "A3"},
        sensorElementList=[
            {
                "sensorMetadata": {"time": "2025-03-01T07:59:00Z", "example:firmware": "1.2"},
                "sensorReport": [
                    {"type": "Temperature", "value": 4.5, "uom": "CEL", "component": "x"},
                    {"type": "https://ns.example.com/voc/Ethylene", "stringValue": "low"},
                ],
            }
        ],
    ),
    _event(
        "ObjectEvent",
        action="ADD",
        epcList=[UNIT],
        ilmd={"example:bestBefore": "2026-01-01", "cbvmda:lotNumber": "L1"},
        errorDeclaration={
            "declarationTime": "2025-03-02T08:00:00Z",
            "reason": "https://ns.example.com/epcis/reason/typo",
            "correctiveEventIDs": ["urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8"],
            "example:note": "scanned twice",
        },
    ),
    _event("AggregationEvent", action="DELETE", parentID=CASE),
    _event("AssociationEvent", action="DELETE", parentID="urn:epc:id:grai:9506000.00000.1"),
    _event(
        "TransactionEvent",
        action="DELETE",
        bizTransactionList=[{"bizTransaction": "urn:epcglobal:cbv:bt:9506000000001:PO1"}],
    ),
    _event(
        "TransformationEvent",
        transformationID="urn:uuid:f2c2bdb4-c06a-4dbc-8a8e-a2e1fc6b3d6a",
        inputQuantityList=[{"epcClass": LOT}],
        persistentDisposition={"set": ["completeness_inferred"], "unset": ["active"]},
    ),
    _event(
        "https://ns.example.com/epcis/TemperatureExcursionEvent",
        eventID="ni:///sha-256;abc?ver=CBV2.0",
        recordTime="2025-03-01T08:00:01Z",
        anything=[1, {"nested": True}],
    ),
]

_VOCABULARIES = [
    {
        "type": "urn:epcglobal:epcis:vtype:BusinessLocation",
        "vocabularyElementList": [
            {
                "id": SHOP,
                "attributes": [
                    {"id": "urn:epcglobal:cbv:mda#name", "attribute": "Shop 3"},
                    {"id": "urn:epcglobal:cbv:mda#floor", "attribute": 2},
                    {"id": "example:address", "attribute": {"city": "Shanghai"}},
                ],
                "children": ["urn:epc:id:sgln:9506000.00030.1"],
                "example:note": "open late",
            }
        ],
    }
]


def documents() -> list[dict[str, Any]]:
    """An EPCISDocument with a master-data header and an EPCISQueryDocument."""
    return [
        {
            "@context": CONTEXT,
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2025-03-01T09:00:00Z",
            "instanceIdentifier": "1",
            "sender": "urn:epc:id:pgln:9506000.00000",
            "receiver": "urn:epc:id:pgln:9506000.00001",
            "example:batch": "B-7",
            "epcisHeader": {
                "epcisMasterData": {"vocabularyList": _VOCABULARIES},
                "example:origin": "erp",
            },
            "epcisBody": {"eventList": EVENTS, "comment": "bodies take any member"},
        },
        {
            "@context": EPCIS_CONTEXT,
            "type": "EPCISQueryDocument",
            "example:page": 1,
            "epcisBody": {
                "queryResults": {
                    "queryName": "SimpleEventQuery",
                    "subscriptionID": "sub-1",
                    "resultsBody": {"eventList": EVENTS[:2], "vocabularyList": _VOCABULARIES},
                }
            },
        },
    ]


def standalone(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of ``document`` as standalone JSON-LD documents (with its ``@context``)."""
    body = document["epcisBody"]
    events = body.get("eventList") or body["queryResults"]["resultsBody"]["eventList"]
    return [{"@context": document["@context"], **event} for event in events]
