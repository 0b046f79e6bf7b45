from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloud.provenance.epcis import (
    SCHEMA_ENV,
    default_schema_path,
    document_issues,
    event_issues,
    load_validators,
    validate_document,
    validate_event,
)
from cloud.provenance.errors import EpcisSchemaUnavailable, EpcisValidationError
from cloud.provenance.events import (
    EPCIS_CONTEXT,
    NormalisedEvent,
    document_events,
    normalise_document,
)
from cloud.provenance.export import export_document

from .conftest import example_params, load_example


@pytest.mark.parametrize("path", example_params())
def test_official_example_validates_normalises_and_round_trips(
    path: Path, schema_path: Path
) -> None:
    document = load_example(path)
    assert document_issues(document, schema_path) == ()
    events = normalise_document(document)
    assert len(events) == len(document_events(document))
    for event, raw in zip(events, document_events(document), strict=True):
        assert NormalisedEvent.from_canonical(event.canonical) == event
        assert event.event_type == raw["type"]
        if "eventID" in raw:
            assert event.event_id == raw["eventID"]
        assert event_issues(raw, schema_path) == ()
    exported = export_document(events, creation_date=datetime(2025, 1, 1, tzinfo=UTC))
    assert document_issues(exported, schema_path) == ()
    assert normalise_document(exported) == events  # same leaf bytes, ids and fields


def _object_example(schema_path: Path) -> dict[str, Any]:
    return load_example(schema_path.parent / "examples" / "Example_9.6.1-ObjectEvent.jsonld")


@pytest.mark.parametrize(
    ("corrupt", "pointer", "fragment"),
    [
        (lambda d: d.pop("creationDate"), "", "'creationDate' is a required property"),
        (
            lambda d: d["epcisBody"]["eventList"][0].pop("action"),
            "/epcisBody/eventList/0",
            "'action' is a required property",
        ),
        (
            lambda d: d.update(creationDate="2005-13-11T11:30:47Z"),
            "/creationDate",
            "is not a 'date-time'",
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(eventTime="2005-04-03 20:33:31"),
            "/epcisBody/eventList/0/eventTime",
            "is not a 'date-time'",
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0]["readPoint"].update(id="not a uri"),
            "/epcisBody/eventList/0/readPoint/id",
            "is not a 'uri'",
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(epcList="urn:epc:id:sgtin:1.2.3"),
            "/epcisBody/eventList/0/epcList",
            "is not of type 'array'",
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(action="MOVE"),
            "/epcisBody/eventList/0/action",
            "is not one of",
        ),
        (
            lambda d: d["epcisBody"]["eventList"][0].update(bizStep="urn:epcglobal:cbv:bizstep:x"),
            "/epcisBody/eventList/0/bizStep",
            "",
        ),
    ],
)
def test_corrupted_documents_are_rejected_with_paths(
    schema_path: Path, corrupt: Any, pointer: str, fragment: str
) -> None:
    document = _object_example(schema_path)
    corrupt(document)
    issues = document_issues(document, schema_path)
    assert any(i.pointer == pointer and fragment in i.message for i in issues), issues
    with pytest.raises(EpcisValidationError) as caught:
        validate_document(document, schema_path)
    assert (pointer, next(i.message for i in issues if i.pointer == pointer)) in caught.value.errors


def test_malformed_dates_and_uris_are_caught_by_format_checkers(schema_path: Path) -> None:
    event = copy.deepcopy(_object_example(schema_path)["epcisBody"]["eventList"][0])
    validate_event(event, schema_path)
    for field, value in (("eventTime", "2005-02-30T20:33:31Z"), ("eventTime", "yesterday")):
        bad = dict(event, **{field: value})
        assert event_issues(bad, schema_path)
    bad_uri = dict(event, epcList=["urn:epc:id:sgtin:0614141.107346.2017", "http://exa mple"])
    issues = event_issues(bad_uri, schema_path)
    assert ("/epcList/1", "'http://exa mple' is not a 'uri'") in issues


def test_standalone_event_needs_a_context(schema_path: Path) -> None:
    event = _object_example(schema_path)["epcisBody"]["eventList"][0]
    assert document_issues(event, schema_path)  # standalone: @context required
    assert event_issues(event, schema_path) == ()  # inside a document: fine
    event_with_context = dict(event, **{"@context": EPCIS_CONTEXT})
    assert document_issues(event_with_context, schema_path) == ()


def test_schema_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_schema_path({SCHEMA_ENV: str(tmp_path / "s.json")}) == tmp_path / "s.json"
    assert default_schema_path({}).name == "EPCIS-JSON-Schema.json"
    with pytest.raises(EpcisSchemaUnavailable, match=SCHEMA_ENV):
        load_validators(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(EpcisSchemaUnavailable, match="cannot read"):
        load_validators(broken)


def test_bad_check_digit_in_an_epc_fails_normalisation(schema_path: Path) -> None:
    document = _object_example(schema_path)
    document["epcisBody"]["eventList"][0]["epcList"] = ["https://id.gs1.org/01/09506000134353/21/1"]
    assert document_issues(document, schema_path) == ()  # the schema cannot know
    with pytest.raises(EpcisValidationError, match="check digit") as caught:
        normalise_document(document)
    assert caught.value.errors[0][0] == "/epcisBody/eventList/0"
