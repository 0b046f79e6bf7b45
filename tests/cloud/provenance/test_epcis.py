from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloud.provenance import epcis_models
from cloud.provenance.epcis import (
    SchemaIssue,
    document_issues,
    event_issues,
    pointer,
    validate_document,
    validate_event,
)
from cloud.provenance.errors import EpcisValidationError
from cloud.provenance.events import (
    EPCIS_CONTEXT,
    NormalisedEvent,
    document_events,
    normalise_document,
)
from cloud.provenance.export import export_document

from .conftest import example_params, load_example

UNIT = "urn:epc:id:sgtin:0614141.107346.2017"
SITE = "urn:epc:id:sgln:0614141.07346.1234"


def _document(**event: Any) -> dict[str, Any]:
    base = {
        "type": "ObjectEvent",
        "eventTime": "2005-04-03T20:33:31.116-06:00",
        "eventTimeZoneOffset": "-06:00",
        "epcList": [UNIT],
        "action": "OBSERVE",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "readPoint": {"id": SITE},
    }
    return {
        "@context": [EPCIS_CONTEXT, {"example": "https://ns.example.com/epcis/"}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2005-07-11T11:30:47.0Z",
        "epcisBody": {"eventList": [{**base, **event}]},
    }


def _event(**members: Any) -> dict[str, Any]:
    event: dict[str, Any] = _document(**members)["epcisBody"]["eventList"][0]
    return event


@pytest.mark.parametrize("path", example_params())
def test_official_example_validates_normalises_and_round_trips(path: Path) -> None:
    document = load_example(path)
    assert document_issues(document) == ()
    events = normalise_document(document)
    assert len(events) == len(document_events(document))
    for event, raw in zip(events, document_events(document), strict=True):
        assert NormalisedEvent.from_canonical(event.canonical) == event
        assert event.event_type == raw["type"]
        if "eventID" in raw:
            assert event.event_id == raw["eventID"]
        assert event_issues(raw) == ()
    exported = export_document(events, creation_date=datetime(2025, 1, 1, tzinfo=UTC))
    assert document_issues(exported) == ()
    assert normalise_document(exported) == events  # same leaf bytes, ids and fields


def test_a_valid_document_and_its_typed_model() -> None:
    document = _document(**{"example:temperature": {"value": 4}})
    assert document_issues(document) == ()
    model = epcis_models.DOCUMENT.validate_python(document)
    assert isinstance(model, epcis_models.EpcisDocument)
    event = model.epcis_body.event_list[0]
    assert isinstance(event, epcis_models.ObjectEvent)
    assert (event.action, event.epc_list, event.read_point and event.read_point.id) == (
        "OBSERVE",
        [UNIT],
        SITE,
    )
    assert event.model_extra == {"example:temperature": {"value": 4}}


def _at(document: dict[str, Any], change: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    change(changed)
    return changed


EVENT = "/epcisBody/eventList/0"


@pytest.mark.parametrize(
    ("change", "issue"),
    [
        (lambda d: d.pop("creationDate"), ("", "missing required member 'creationDate'")),
        (
            lambda d: d["epcisBody"]["eventList"][0].pop("action"),
            (EVENT, "missing required member 'action'"),
        ),
        (
            lambda d: d.update(creationDate="2005-13-11T11:30:47Z"),
            (
                "/creationDate",
                "expected an RFC 3339 date-time with a time zone, such as "
                "'2024-05-01T12:00:00.000Z', got '2005-13-11T11:30:47Z'",
            ),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0]["readPoint"].update(id="not a uri"),
            (
                f"{EVENT}/readPoint/id",
                "expected an absolute URI (RFC 3986, such as 'urn:epc:id:sgtin:…' or "
                "'https://id.gs1.org/…'), got 'not a uri'",
            ),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(epcList=UNIT),
            (f"{EVENT}/epcList", f"expected an array, got '{UNIT}'"),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(action="MOVE"),
            (f"{EVENT}/action", "expected OBSERVE, ADD or DELETE, got 'MOVE'"),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(
                bizStep="urn:epcglobal:cbv:bizstep:shipping"
            ),
            (
                f"{EVENT}/bizStep",
                "EPCIS 2.0 JSON writes CBV bizStep values bare ('shipping'), got "
                "'urn:epcglobal:cbv:bizstep:shipping'",
            ),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(disposition="sold"),
            (
                f"{EVENT}/disposition",
                "expected a standard disposition ('active', 'available', 'completeness_inferred'"
                ", …) or a URI of your own not under urn:epcglobal:cbv or "
                "https://ns.gs1.org/cbv/, got 'sold'",
            ),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(eventTime=None),
            (
                f"{EVENT}/eventTime",
                "expected an RFC 3339 date-time with a time zone, such as "
                "'2024-05-01T12:00:00.000Z', got null",
            ),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(bizLocation=None),
            (f"{EVENT}/bizLocation", "got null: leave the member out instead of sending null"),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(notes="fragile"),
            (
                f"{EVENT}/notes",
                "'notes' is not a member defined here; an extension member is named by a URI "
                "or a prefixed name such as 'example:myField'",
            ),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(
                quantityList=[{"epcClass": UNIT, "quantity": "2"}]
            ),
            (f"{EVENT}/quantityList/0/quantity", "expected a number, got '2'"),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(
                quantityList=[{"epcClass": UNIT, "count": 2}]
            ),
            (
                f"{EVENT}/quantityList/0/count",
                "unexpected member 'count': this object takes no other members",
            ),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(epcList=[UNIT, UNIT]),
            (f"{EVENT}/epcList", f"items must be distinct; '{UNIT}' is listed twice"),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(eventTimeZoneOffset="+15:00"),
            (
                f"{EVENT}/eventTimeZoneOffset",
                "expected a time zone offset from '-14:00' to '+14:00', such as '+01:00', "
                "got '+15:00'",
            ),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(ilmd={"example:lot": "1"}),
            (EVENT, "'ilmd' (master data of new objects) needs action ADD, got 'OBSERVE'"),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].pop("epcList"),
            (
                EVENT,
                "an ObjectEvent names what it is about: 'epcList', a non-empty 'quantityList', "
                "or a non-empty 'sensorElementList' with a 'readPoint'",
            ),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(type="Objectevent"),
            (
                f"{EVENT}/type",
                "expected ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, "
                "AssociationEvent or a URI naming an extension event type, got 'Objectevent'",
            ),
        ),
        (
            lambda d: d["epcisBody"]["eventList"].append(7),
            ("/epcisBody/eventList/1", "expected an object, got the number 7"),
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(
                sensorElementList=[{"sensorReport": []}]
            ),
            (
                f"{EVENT}/sensorElementList/0/sensorReport",
                "expected at least 1 item, got an empty array",
            ),
        ),
        (lambda d: d.update(schemaVersion="2"), None),  # valid: one number is a version
    ],
)
def test_violations_are_reported_at_their_pointer_with_what_was_expected(
    change: Any, issue: tuple[str, str] | None
) -> None:
    document = _at(_document(), change)
    issues = document_issues(document)
    if issue is None:
        assert issues == ()
        return
    assert issues == (SchemaIssue(*issue),)
    with pytest.raises(EpcisValidationError) as caught:
        validate_document(document)
    assert caught.value.errors == (issue,)
    assert str(caught.value) == f"invalid EPCIS document: {issue[0] or '/'}: {issue[1]}"


def test_every_violation_is_listed_and_the_message_says_how_many() -> None:
    document = _document(action="MOVE", eventTime="yesterday", bizStep=5, foo=1)
    issues = document_issues(document)
    assert [i.pointer for i in issues] == [
        f"{EVENT}/action",
        f"{EVENT}/bizStep",
        f"{EVENT}/eventTime",
        f"{EVENT}/foo",
    ]
    with pytest.raises(EpcisValidationError, match=r"\(and 1 more\)$"):
        validate_document(document)


def test_the_five_event_types_and_extension_events() -> None:
    when = {"eventTime": "2025-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00"}
    children = {"parentID": SITE, "childEPCs": [UNIT], "action": "ADD"}
    valid = [
        _event(),
        {"type": "AggregationEvent", **when, **children},
        {"type": "AssociationEvent", **when, **children},
        {
            "type": "TransactionEvent",
            **when,
            "action": "OBSERVE",
            "epcList": [UNIT],
            "bizTransactionList": [{"type": "po", "bizTransaction": "urn:epcglobal:cbv:bt:1:2"}],
        },
        {
            "type": "TransformationEvent",
            **when,
            "inputEPCList": [UNIT],
            "transformationID": "urn:uuid:8d1c4d0e-8f1a-4c55-9c6e-2f9d3b7f5a11",
        },
        {"type": "https://ns.example.com/epcis/MyEvent", **when, "anything": [1]},
    ]
    for event in valid:
        assert event_issues(event) == (), event
    inputs_only = {k: v for k, v in valid[4].items() if k != "transformationID"}
    assert event_issues(inputs_only) == (
        (
            "",
            "a TransformationEvent needs inputs ('inputEPCList' or 'inputQuantityList') and "
            "outputs ('outputEPCList' or 'outputQuantityList'), or a 'transformationID' with "
            "at least one of them",
        ),
    )
    no_children = {k: v for k, v in valid[1].items() if k != "childEPCs"}
    assert event_issues(no_children) == (
        (
            "",
            "an AggregationEvent with action ADD needs a non-empty 'childEPCs' or "
            "'childQuantityList' (only DELETE may leave them out)",
        ),
    )
    assert event_issues({**no_children, "action": "DELETE"}) == ()


def test_a_standalone_event_needs_a_context() -> None:
    event = _event()
    assert document_issues(event) == (("", "missing required member '@context'"),)
    assert event_issues(event) == ()  # inside a document: fine
    validate_event(event)
    assert document_issues(dict(event, **{"@context": EPCIS_CONTEXT})) == ()


def test_not_an_object_at_all() -> None:
    assert document_issues([1, 2]) == (("", "expected an object, got an array of 2 items"),)
    assert event_issues("ObjectEvent") == (("", "expected an object, got 'ObjectEvent'"),)


def test_pointer_escapes_per_rfc_6901() -> None:
    assert pointer(["a/b", "m~n", 0]) == "/a~1b/m~0n/0"
    assert pointer([]) == ""
    issues = event_issues(_event(**{"a/b~": 1}))
    assert [i.pointer for i in issues] == ["/a~1b~0"]


def test_bad_check_digit_in_an_epc_fails_normalisation() -> None:
    document = _document(epcList=["https://id.gs1.org/01/09506000134353/21/1"])
    assert document_issues(document) == ()  # EPCIS 2.0 JSON itself cannot know
    with pytest.raises(EpcisValidationError, match="check digit") as caught:
        normalise_document(document)
    assert caught.value.errors[0][0] == EVENT


_PROBE = """
import json, sys
from cloud.provenance.epcis import document_issues
opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
issues = document_issues(json.loads(sys.argv[1]))
oracle = ("jsonschema", "rfc3987", "rfc3339_validator")
loaded = sorted(m for m in sys.modules if m.split(".")[0] in oracle)
print(json.dumps({"issues": issues, "loaded": loaded, "opened": opened}))
"""


def test_validation_reads_no_schema_file_and_needs_no_jsonschema(tmp_path: Path) -> None:
    # What a user's clone has: nothing beside the repository, no dev extra installed.
    document = json.dumps(_document(action="MOVE"))
    root = Path(__file__).resolve().parents[3]
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, document],
        cwd=tmp_path,
        env={"PYTHONPATH": str(root), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(run.stdout)
    assert result["issues"] == [[f"{EVENT}/action", "expected OBSERVE, ADD or DELETE, got 'MOVE'"]]
    assert result["loaded"] == []
    assert result["opened"] == []  # no schema file, nothing from ../shared
