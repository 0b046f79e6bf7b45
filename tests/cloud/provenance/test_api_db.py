"""The EPCIS capture/query/export and audit routes of the app, against real PostgreSQL."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.api.routers.provenance import MAX_CAPTURE_EVENTS, MAX_LISTED_ERRORS
from cloud.app import create_app
from cloud.auth.apikeys import create_api_key
from cloud.migrate import migrate
from cloud.provenance.brands import map_location
from cloud.provenance.epcis import document_issues
from cloud.provenance.events import EPCIS_CONTEXT, document_events
from cloud.provenance.prefixes import add_prefix
from cloud.provenance.reconciliation import record_discrepancies
from cloud.settings import Settings

from ._events import DC_A, UNITS
from ._events import supply_chain as supply_chain_events
from .conftest import example_params, load_example
from .test_capture_db import document

pytestmark = pytest.mark.integration

# Every GS1 company prefix the official EPCIS examples (and ._events, 9506000) use.
EXAMPLE_PREFIXES = ("0614141", "4000001", "4012345", "4023333", "9506000", "9520001",
                    "9520053", "9525208")  # fmt: skip


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')")
        for prefix in EXAMPLE_PREFIXES:  # a brand captures only under its own prefixes
            add_prefix(conn, "acme", prefix)
        key = create_api_key(conn, tenant_id="acme", role="brand", label="tests")
    app = create_app(Settings(database_url=database_url))
    with TestClient(app, headers={"X-API-Key": key}) as test_client:
        yield test_client


@pytest.mark.parametrize("path", example_params())
def test_official_example_captured_and_exported_valid(client: TestClient, path: Path) -> None:
    # One database per example: two official examples share an eventID with different
    # content, which one log rightly refuses (409).
    response = client.post(
        "/epcis/capture", content=path.read_bytes(), headers={"Content-Type": "application/ld+json"}
    )
    assert response.status_code == 202, response.text
    answer = response.json()
    events = document_events(load_example(path))
    assert answer["captured"] == len(events)
    assert [e["ledger_index"] for e in answer["events"]] == list(range(len(events)))
    exported = client.get("/epcis/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/ld+json")
    doc = exported.json()
    assert document_issues(doc) == ()
    assert len(doc["epcisBody"]["eventList"]) == len({e["event_id"] for e in answer["events"]})
    # the exported document captures again as exactly the same events
    again = client.post("/epcis/capture", json=doc)
    assert again.status_code == 200
    assert again.json()["new"] == 0


def test_shared_event_id_with_other_content_is_a_conflict(client: TestClient) -> None:
    event = {
        "type": "ObjectEvent",
        "eventTime": "2025-03-01T08:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "epcList": UNITS[:1],
        "action": "ADD",
        "bizStep": "commissioning",
        "eventID": "urn:uuid:2d1f3c1e-0000-4000-8000-000000000001",
    }
    assert client.post("/epcis/capture", json=document([event])).status_code == 202
    changed = dict(event, bizStep="shipping", action="OBSERVE")
    response = client.post("/epcis/capture", json=document([changed]))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "epcisException:ResourceAlreadyExistsException"
    assert problem["event_ids"] == [event["eventID"]]
    assert problem["instance"] == "/epcis/capture"


def _corruptions(example: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    out = []
    bad_time = copy.deepcopy(example)
    document_events(bad_time)[0]["eventTime"] = "2025-13-45T99:00:00Z"
    out.append(("bad eventTime", bad_time, "/epcisBody/eventList/0/eventTime"))
    no_type = copy.deepcopy(example)
    del document_events(no_type)[0]["type"]
    out.append(("event without type", no_type, "/epcisBody/eventList/0"))
    bad_action = copy.deepcopy(example)
    document_events(bad_action)[0]["action"] = "SOMETIMES"
    out.append(("bad action", bad_action, "/epcisBody/eventList/0"))
    no_body = copy.deepcopy(example)
    del no_body["epcisBody"]
    out.append(("no epcisBody", no_body, ""))
    return out


@pytest.mark.parametrize("case", range(4))
def test_corrupted_documents_rejected_with_pointers(client: TestClient, case: int) -> None:
    example = document(
        [
            {
                "type": "ObjectEvent",
                "eventTime": "2025-03-01T08:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "epcList": UNITS[:1],
                "action": "ADD",
                "bizStep": "commissioning",
                "bizLocation": {"id": DC_A},
            },
        ]
    )
    name, corrupted, pointer = _corruptions(example)[case]
    response = client.post("/epcis/capture", json=corrupted)
    assert response.status_code == 400, name
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["type"], problem["status"]) == ("epcisException:ValidationException", 400)
    assert problem["detail"].startswith("invalid EPCIS document: ")
    errors = problem["errors"]
    assert errors
    assert all(e.keys() == {"pointer", "detail"} for e in errors)
    assert any(e["pointer"].startswith(pointer) for e in errors), (name, errors)
    assert client.get("/epcis/export").json()["epcisBody"]["eventList"] == []


def test_bad_check_digit_and_non_documents_rejected(client: TestClient) -> None:
    bad = document(
        [
            {
                "type": "ObjectEvent",
                "eventTime": "2025-03-01T08:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "action": "OBSERVE",
                "epcList": ["https://id.gs1.org/01/09506000134353/21/1"],
            }
        ]
    )
    response = client.post("/epcis/capture", json=bad)
    assert response.status_code == 400
    assert "check digit" in response.text
    not_an_object = client.post("/epcis/capture", json=[1, 2])
    assert not_an_object.status_code == 422
    assert not_an_object.json()["errors"][0]["pointer"] == ""
    standalone = {"@context": EPCIS_CONTEXT, **bad["epcisBody"]["eventList"][0]}
    refused = client.post("/epcis/capture", json=standalone)
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {
            "pointer": "/type",
            "detail": "expected EPCISDocument or EPCISQueryDocument, got 'ObjectEvent'",
        }
    ]


def test_at_most_a_hundred_violations_are_listed(client: TestClient) -> None:
    event = {"type": "ObjectEvent", "eventTime": "yesterday", "eventTimeZoneOffset": "+00:00"}
    response = client.post("/epcis/capture", json=document([event] * 60))
    assert response.status_code == 400
    problem = response.json()
    assert len(problem["errors"]) == MAX_LISTED_ERRORS
    assert problem["errors"][0] == {
        "pointer": "/epcisBody/eventList/0",
        "detail": "missing required member 'action'",
    }
    assert problem["detail"].endswith("(and 117 more)")  # 2 per event: action, eventTime


def test_too_many_events_are_refused_before_validation(client: TestClient) -> None:
    events = [{"type": "ObjectEvent"}] * (MAX_CAPTURE_EVENTS + 1)
    response = client.post("/epcis/capture", json=document(events))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["GS1-EPCIS-Capture-Limit"] == str(MAX_CAPTURE_EVENTS)
    problem = response.json()
    assert problem["type"] == "epcisException:CaptureLimitExceededException"
    assert problem["detail"] == f"at most {MAX_CAPTURE_EVENTS} events per capture; got 10001"


def test_query_timeline_and_reconciliation(client: TestClient, database_url: str) -> None:
    from ._events import supply_chain

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO sites (tenant_id, id, name) VALUES ('acme', 'dc-a', 'DC A')")
        map_location(conn, DC_A, "acme", "dc-a")
    response = client.post(
        "/epcis/capture", params={"tenant": "acme"}, json=document(supply_chain())
    )
    assert response.status_code == 202
    indexes = [e["ledger_index"] for e in response.json()["events"]]
    assert indexes == list(range(len(indexes)))
    own = client.get("/epcis/events", params={"epc": UNITS[1]}).json()["events"]
    with_containers = client.get(
        "/epcis/events", params={"epc": UNITS[1], "containers": "true"}
    ).json()["events"]
    assert len(own) == 2
    assert len(with_containers) > len(own)
    assert client.get("/epcis/events", params={"epc": "urn:epc:id:sgtin:1.2.3"}).status_code == 422
    timeline = client.get("/audit/timeline", params={"epc": UNITS[1]}).json()
    assert timeline["custody"]["status"] == "at_site"
    assert [e["biz_step"] for e in timeline["timeline"]][-1] == "receiving"  # pallet, via
    exported = client.get("/epcis/export", params={"epc": UNITS[0]}).json()
    assert len(exported["epcisBody"]["eventList"]) == 5  # commission, pack, ship, receive, sell
    # 3 units at dc-a by the ledger; the shelf counts 1: 2 missing
    now = datetime.now(UTC)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO stock_counts (time, received_at, tenant_id, site_id, device_id, seq,"
            " gtin, quantity, location, method) VALUES (%s, %s, 'acme', 'dc-a', 'gw', 1,"
            " '09506000134352', 1, 'A-01', 'rfid')",
            (now - timedelta(minutes=5), now),
        )
        assert record_discrepancies(conn, now=now - timedelta(hours=2)) == (1, 0)
    found = client.get("/audit/reconciliation", params={"tenant": "acme"}).json()
    assert [(d["site_id"], d["implied"], d["sensed"], d["difference"]) for d in found] == [
        ("dc-a", 3, 1, -2)
    ]
    assert found[0]["age_seconds"] >= 7_000


def test_thresholds_per_brand(client: TestClient, database_url: str) -> None:
    path = "/audit/brands/acme/thresholds"
    assert client.get(path).json()["max_speed_kmh"] == 900
    assert (
        client.put(path, json={"max_speed_kmh": 300, "max_scans_per_window": 10}).status_code == 200
    )
    assert client.get(path).json()["max_speed_kmh"] == 300
    assert client.put(path, json={"home_radius_km": 40}).status_code == 422  # 2 × 40 > 50
    assert client.put(path, json={"speed": 1}).status_code == 422
    assert client.put("/audit/brands/nobody/thresholds", json={}).status_code == 404


def test_company_prefix_routes(client: TestClient, database_url: str) -> None:
    base = "/v1/tenants/acme/prefixes"
    listed = client.get(base).json()
    assert [p["prefix"] for p in listed] == sorted(EXAMPLE_PREFIXES)
    assert listed[0]["tenant_id"] == "acme"
    created = client.post(base, json={"prefix": "9521234"})
    assert created.status_code == 201, created.text
    assert created.json()["created_by"]  # the caller (the API key's subject)
    assert client.post(base, json={"prefix": "9521234"}).status_code == 200  # already yours
    clash = client.post(base, json={"prefix": "95212345"})
    assert clash.status_code == 409
    assert clash.headers["content-type"].startswith("application/problem+json")
    assert "overlaps your prefix 9521234" in clash.json()["detail"]
    for bad, word in (("12345", "prefix"), ("2012345", "restricted"), ("95060a0", "prefix")):
        response = client.post(base, json={"prefix": bad})
        assert response.status_code == 422, (bad, response.text)
        assert word in response.text
    assert client.post(base, json={"prefix": "9521299", "extra": 1}).status_code == 422
    assert client.delete(f"{base}/9521234").status_code == 204
    assert client.delete(f"{base}/9521234").status_code == 404
    with psycopg.connect(database_url) as conn:  # both changes logged, by whom and how
        log = conn.execute(
            "SELECT action, via, actor FROM channel_changes"
            " WHERE entity = 'prefix' AND key = '9521234' ORDER BY id"
        ).fetchall()
    assert [(a, v) for a, v, _ in log] == [("create", "api"), ("delete", "api")]
    assert client.delete(f"{base}/12").status_code == 422
    capture = client.post("/epcis/capture", json=document(supply_chain_events()[:1]))
    assert capture.status_code == 202
    in_use = client.delete(f"{base}/9506000")
    assert in_use.status_code == 409
    assert "unit(s)" in in_use.json()["detail"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO distributors (tenant_id, id, name) VALUES ('acme', 'd', 'D')")
        key = create_api_key(
            conn, tenant_id="acme", role="distributor", distributor_id="d", label="x"
        )
    distributor = {"X-API-Key": key}
    assert client.get(base, headers=distributor).status_code == 403
    assert client.post(base, json={"prefix": "9521236"}, headers=distributor).status_code == 403
    assert client.get("/v1/tenants/zeta/prefixes").status_code == 404


def test_capture_names_the_first_epc_it_may_not_capture(client: TestClient) -> None:
    foreign = "urn:epc:id:sgtin:9521234.054321.7"  # under no prefix of acme's
    event = dict(supply_chain_events()[0], epcList=[UNITS[0], foreign])
    response = client.post("/epcis/capture", json=document([event]))
    assert response.status_code == 403
    problem = response.json()
    assert problem["type"] == "epcisException:SecurityException"
    assert problem["epc"] == "https://id.gs1.org/01/09521234543213/21/7"
    assert "no company prefix registered to tenant acme" in problem["detail"]
    assert response.headers["gs1-epcis-version"] == "2.0.0"
    assert client.get("/epcis/export").json()["epcisBody"]["eventList"] == []


def test_corroboration_and_custody_thresholds(client: TestClient) -> None:
    path = "/audit/brands/acme/thresholds"
    assert client.get(path).json()["min_independent_clients"] == 2
    set_ = client.put(path, json={"min_independent_clients": 3, "custody_radius_km": 150})
    assert set_.status_code == 200, set_.text
    assert (set_.json()["min_independent_clients"], set_.json()["custody_radius_km"]) == (3, 150)
    for bad in ({"min_independent_clients": 1}, {"min_independent_clients": 9},
                {"max_scans_per_window": 64}, {"custody_radius_km": 0}):  # fmt: skip
        assert client.put(path, json=bad).status_code == 422, bad
