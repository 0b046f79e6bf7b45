"""The alert inbox against real PostgreSQL: a simulated compressor failure, the real
``alerts.evaluate`` job, then acknowledge and resolve through the console's forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.settings import Settings

from .test_pages_db import csrf_of, login
from .world import World, add_cold_room, build_world, heat_cold_room, run_alert_evaluation

pytestmark = pytest.mark.integration


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> World:
    world = build_world(database_url, tmp_path / "keys")
    add_cold_room(database_url)
    heat_cold_room(database_url)
    run_alert_evaluation(database_url)
    return world


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=world.database_url))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def _excursion_id(html: str) -> str:
    found = re.search(r'data-alert-id="(\d+)" data-kind="excursion"', html)
    assert found, "no excursion alert in the inbox"
    return found.group(1)


def test_excursion_is_acknowledged_then_resolved(client: TestClient, world: World) -> None:
    login(client, "dan@east")
    page = client.get("/console/map").text
    assert 'data-site="cold-sh" data-status="alert"' in page
    inbox = client.get("/console/alerts").text
    alert = _excursion_id(inbox)
    site = client.get("/console/sites/cold-sh").text
    assert "excursion" in site.split('id="alerts"')[1]
    refused = client.post(f"/console/alerts/{alert}/acknowledge", data={"csrf": "f" * 64})
    assert refused.status_code == 403
    done = client.post(
        f"/console/alerts/{alert}/acknowledge",
        data={"csrf": csrf_of(inbox), "back": "/console/alerts?state=acknowledged"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/console/alerts?state=acknowledged"
    acknowledged = client.get(done.headers["location"]).text
    assert _excursion_id(acknowledged) == alert
    assert "by user:dan@east" in acknowledged
    client.post(f"/console/alerts/{alert}/resolve", data={"csrf": csrf_of(inbox)})
    with psycopg.connect(world.database_url) as conn:
        row = conn.execute(
            "SELECT state, acknowledged_by, resolved_by FROM alerts WHERE id = %s", (int(alert),)
        ).fetchone()
    assert row == ("resolved", "user:dan@east", "user:dan@east")


def test_alerts_of_other_distributors_stay_hidden(client: TestClient) -> None:
    login(client, "sam@south")  # dist-south: wh-gz only
    inbox = client.get("/console/alerts").text
    assert 'data-kind="excursion"' not in inbox
    login(client, "ana@acme")
    alert = _excursion_id(client.get("/console/alerts").text)
    login(client, "sam@south")
    csrf = csrf_of(client.get("/console/map").text)
    missing = client.post(f"/console/alerts/{alert}/acknowledge", data={"csrf": csrf})
    assert missing.status_code == 404
    login(client, "rob@rival")
    assert "data-alert-id" not in client.get("/console/alerts?state=open").text
