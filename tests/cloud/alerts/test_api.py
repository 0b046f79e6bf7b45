"""The alert routes through the real app and PostgreSQL: inbox, workflow, webhooks, scope."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.alerts import AlertKind, Condition, Severity, sync
from cloud.app import create_app
from cloud.auth.apikeys import create_api_key
from cloud.channel.bulk import ensure_tenants
from cloud.channel.changes import Actor
from cloud.channel.records import Distributor, Site
from cloud.channel.store import save_record
from cloud.migrate import migrate
from cloud.settings import Settings

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def _now_when_the_test_starts() -> None:
    """The suite runs for many minutes after this module is imported; "now" is per test."""
    global NOW  # noqa: PLW0603 - module constant the helpers and tests read
    NOW = datetime.now(UTC)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as c:
        actor = Actor("test:operator", "operator")  # the channel, through its store
        ensure_tenants(c, [("acme", "Acme"), ("zeta", "Zeta")], actor)
        for tenant, record in (
            ("acme", Distributor("d1", "D1")),
            ("acme", Distributor("d2", "D2")),
            ("acme", Site("wh-1", "WH1", distributor_id="d1")),
            ("acme", Site("wh-2", "WH2", distributor_id="d2")),
        ):
            save_record(c, tenant, record, actor)
        conditions = [
            Condition(AlertKind.DEVICE_OFFLINE, "acme", f"gw-{n}", Severity.WARNING, NOW,
                      site_id=f"wh-{n}")
            for n in (1, 2)
        ]  # fmt: skip
        sync(c, AlertKind.DEVICE_OFFLINE, conditions, now=NOW, resolve_after=None)
        yield c


@pytest.fixture
def client(conn: psycopg.Connection[Any], database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=database_url))) as test_client:
        yield test_client


def key(conn: psycopg.Connection[Any], distributor: str | None = None) -> dict[str, str]:
    role = "brand" if distributor is None else "distributor"
    return {"X-API-Key": create_api_key(conn, tenant_id="acme", role=role,
                                        distributor_id=distributor)}  # fmt: skip


def test_inbox_workflow_and_distributor_scope(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    brand, d1, d2 = key(conn), key(conn, "d1"), key(conn, "d2")
    url = "/v1/tenants/acme/alerts"
    assert [a["dedupe_key"] for a in client.get(url, headers=brand).json()] == ["gw-2", "gw-1"]
    assert [a["site_id"] for a in client.get(url, headers=d2).json()] == ["wh-2"]
    assert client.get(f"{url}?site=wh-1", headers=brand).json()[0]["dedupe_key"] == "gw-1"
    assert client.get(f"{url}?state=resolved", headers=brand).json() == []
    assert client.get("/v1/tenants/zeta/alerts", headers=brand).status_code == 404
    assert client.get(f"{url}/{2**63}", headers=brand).status_code == 422  # not a bigint
    assert client.get(f"{url}?site=%00", headers=brand).status_code == 422
    gw2 = client.get(f"{url}?site=wh-2", headers=brand).json()[0]["id"]
    # d1 cannot see, acknowledge or resolve d2's alert.
    assert client.get(f"{url}/{gw2}", headers=d1).status_code == 404
    assert client.post(f"{url}/{gw2}/acknowledge", headers=d1).status_code == 404
    acked = client.post(f"{url}/{gw2}/acknowledge", headers=d2)
    assert acked.status_code == 200
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"]  # the API key's subject
    assert client.post(f"{url}/{gw2}/acknowledge", headers=brand).status_code == 409
    done = client.post(f"{url}/{gw2}/resolve", headers=brand)
    assert done.status_code == 200
    assert (done.json()["state"], done.json()["resolution"]) == ("resolved", "manual")
    assert client.post(f"{url}/{gw2}/resolve", headers=brand).status_code == 409
    assert [a["id"] for a in client.get(f"{url}?state=resolved", headers=brand).json()] == [gw2]


def test_webhook_subscriptions(client: TestClient, conn: psycopg.Connection[Any]) -> None:
    brand, d1 = key(conn), key(conn, "d1")
    url = "/v1/tenants/acme/webhooks"
    made = client.post(url, headers=brand, json={"url": "https://hooks.example.com/a",
                                                 "kinds": ["excursion"]})  # fmt: skip
    assert made.status_code == 201
    assert len(made.json()["secret"]) >= 16
    mine = client.post(url, headers=d1, json={"url": "https://d1.example.com/"}).json()
    assert mine["distributor_id"] == "d1"
    other = {"url": "https://x.example/", "distributor_id": "d2"}
    assert client.post(url, headers=d1, json=other).status_code == 403
    assert client.post(url, headers=brand, json={"url": "ftp://x"}).status_code == 422
    listed = client.get(url, headers=brand).json()
    assert [w["url"] for w in listed] == ["https://hooks.example.com/a", "https://d1.example.com/"]
    assert all("secret" not in w for w in listed)
    assert [w["id"] for w in client.get(url, headers=d1).json()] == [mine["id"]]
    assert client.delete(f"{url}/{made.json()['id']}", headers=d1).status_code == 404
    assert client.delete(f"{url}/{made.json()['id']}", headers=brand).status_code == 204
    assert client.delete(f"{url}/{made.json()['id']}", headers=brand).status_code == 404


def test_webhook_deliveries_show_every_attempt(
    client: TestClient, conn: psycopg.Connection[Any]
) -> None:
    import httpx

    from cloud.alerts import DeliveryPolicy, deliver

    brand, d1 = key(conn), key(conn, "d1")
    hook = client.post(
        "/v1/tenants/acme/webhooks", headers=brand, json={"url": "http://127.0.0.1:9/closed"}
    ).json()
    gw1 = client.get("/v1/tenants/acme/alerts?site=wh-1", headers=brand).json()[0]["id"]
    assert client.post(f"/v1/tenants/acme/alerts/{gw1}/acknowledge", headers=d1).status_code == 200
    with httpx.Client() as http:
        stats = deliver(conn, http, DeliveryPolicy(allow_private=True, timeout_s=2.0))
    assert stats.retried == 1  # nothing listens on port 9
    url = f"/v1/tenants/acme/webhooks/{hook['id']}/deliveries"
    (delivery,) = client.get(url, headers=brand).json()
    assert (delivery["event"], delivery["status"], delivery["attempts"]) == (
        "acknowledged", "pending", 1,
    )  # fmt: skip
    (attempt,) = delivery["attempt_log"]
    assert attempt["status_code"] is None
    assert "Connect" in attempt["error"]
    assert client.get(url, headers=d1).status_code == 404  # the brand's subscription
