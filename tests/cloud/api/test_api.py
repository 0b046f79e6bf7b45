"""The read API against real PostgreSQL, with data written by the real ingest store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.auth.apikeys import create_api_key
from cloud.ingest.prepare import Accepted
from cloud.ingest.store import write_batch
from cloud.migrate import migrate
from cloud.registry import register_device
from cloud.settings import Settings
from wire import Kind, StockBatch, StockCount

from .._messages import GTIN, Device, state, telemetry

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(autouse=True)
def _now_when_the_test_starts() -> None:
    """The suite runs for many minutes after this module is imported; "now" is per test."""
    global NOW  # noqa: PLW0603 - module constant the helpers and tests read
    NOW = datetime.now(UTC).replace(microsecond=0)
GW1 = Device("gw-0001")
GW2 = Device("gw-0002")
OTHER = Device("gw-0100", site="wh-bj-02")


def _store(url: str, *items: Accepted) -> None:
    with psycopg.connect(url) as conn:
        write_batch(conn, list(items), [])


@pytest.fixture
def db(database_url: str) -> str:
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        for device in (GW1, GW2, OTHER):
            register_device(conn, device.registration)
    t = NOW - timedelta(minutes=10)
    # gw-0001: seq 1..3 and 6 (4 and 5 never arrive), readings one second apart.
    for seq in (1, 2, 3, 6):
        batch = telemetry(4.0 + seq, 5.0 + seq, ts=t + timedelta(seconds=10 * seq), sent_at=t)
        _store(database_url, GW1.accept(GW1.inbound(Kind.TELEMETRY, seq, batch, received_at=NOW)))
    _store(
        database_url,
        GW1.accept(
            GW1.inbound(Kind.STATE, 7, state("online", will_seq=8, ts=NOW), received_at=NOW)
        ),
    )
    stock_batch = StockBatch(
        sent_at=t,
        counts=[
            StockCount(ts=t, gtin=GTIN, quantity=100, location="A-01"),
            StockCount(ts=t + timedelta(minutes=1), gtin=GTIN, quantity=90, location="A-01"),
            StockCount(ts=t, gtin=GTIN, quantity=40, location="B-02"),
        ],
    )
    _store(database_url, GW2.accept(GW2.inbound(Kind.STOCK, 1, stock_batch, received_at=NOW)))
    return database_url


@pytest.fixture
def client(db: str) -> Iterator[TestClient]:
    with psycopg.connect(db, autocommit=True) as conn:
        key = create_api_key(conn, tenant_id="acme", role="brand", label="tests")
    app = create_app(Settings(database_url=db))
    with TestClient(app, headers={"X-API-Key": key}) as test_client:
        yield test_client


def get(client: TestClient, path: str, status: int = 200, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    return response.json()


def test_sites_and_unknown_names(client: TestClient) -> None:
    sites = get(client, "/v1/tenants/acme/sites")
    assert [(s["id"], s["devices"]) for s in sites] == [("wh-bj-02", 1), ("wh-sh-01", 2)]
    assert get(client, "/v1/tenants/acme/sites/wh-sh-01")["name"] == "wh-sh-01"
    assert "wh-nowhere" in get(client, "/v1/tenants/acme/sites/wh-nowhere", 404)["detail"]
    assert "tenant" in get(client, "/v1/tenants/nobody/sites", 404)["detail"]


def test_devices_with_online_state(client: TestClient) -> None:
    devices = {d["id"]: d for d in get(client, "/v1/tenants/acme/devices", site="wh-sh-01")}
    assert set(devices) == {"gw-0001", "gw-0002"}
    assert devices["gw-0001"]["status"] == "online"
    assert devices["gw-0001"]["online_state"] == "online"
    assert devices["gw-0001"]["last_state"]["will_seq"] == 8
    assert get(client, "/v1/tenants/acme/devices/gw-0100")["online_state"] == "never_seen"
    get(client, "/v1/tenants/acme/devices/gw-9999", 404)


def test_latest_reading_per_sensor_and_metric(client: TestClient) -> None:
    latest = get(client, "/v1/tenants/acme/sites/wh-sh-01/readings/latest")
    assert [(r["device_id"], r["sensor"], r["metric"], r["value"]) for r in latest] == [
        ("gw-0001", "probe-1", "temperature_c", 11.0)  # seq 6: 4+6 at t, 5+6 one second later
    ]
    assert get(client, "/v1/tenants/acme/sites/wh-bj-02/readings/latest") == []
    get(client, "/v1/tenants/acme/sites/wh-sh-01/readings/latest", 422, within_hours=0)


def test_series_from_raw_readings_when_no_rollup_exists(client: TestClient) -> None:
    start, end = NOW - timedelta(hours=1), NOW
    series = get(
        client, "/v1/tenants/acme/sites/wh-sh-01/readings/series",
        metric="temperature_c", start=start.isoformat(), end=end.isoformat(), bucket_seconds=3600,
    )  # fmt: skip
    assert series["source"] == "raw"
    assert sum(p["count"] for p in series["points"]) == 8
    assert min(p["min"] for p in series["points"]) == 5.0
    assert max(p["max"] for p in series["points"]) == 11.0


def test_series_uses_the_rollup_and_raw_readings_after_it(client: TestClient, db: str) -> None:
    day = (NOW - timedelta(days=9)).replace(hour=0, minute=0, second=0)  # 1-minute rollup range
    with psycopg.connect(db) as conn:  # rows as the scheduler's refresh job would write them
        conn.execute(
            "INSERT INTO readings_1m (bucket, tenant_id, site_id, device_id, sensor, metric,"
            " n, min, max, avg) VALUES"
            " (%s, 'acme', 'wh-sh-01', 'gw-0001', 'probe-1', 'temperature_c', 3, 8, 12, 10),"
            " (%s, 'acme', 'wh-sh-01', 'gw-0001', 'probe-1', 'temperature_c', 1, 20, 20, 20)",
            (day + timedelta(hours=1), day + timedelta(hours=1, minutes=1)),
        )
    # Raw readings of the test device fall after the rollup's newest bucket: merged in.
    series = get(
        client, "/v1/tenants/acme/sites/wh-sh-01/readings/series", metric="temperature_c",
        start=day.isoformat(), end=(NOW + timedelta(hours=1)).isoformat(),
        bucket_seconds=86400,
    )  # fmt: skip
    assert series["source"] == "readings_1m"
    first = series["points"][0]
    assert (first["time"][:10], first["avg"], first["min"], first["max"], first["count"]) == (
        day.date().isoformat(), 12.5, 8, 20, 4,
    )  # fmt: skip
    assert sum(p["count"] for p in series["points"][1:]) == 8


def test_series_refuses_unservable_ranges(client: TestClient) -> None:
    path = "/v1/tenants/acme/sites/wh-sh-01/readings/series"
    too_long = get(client, path, 422, metric="temperature_c", start="2025-01-01T00:00:00Z",
                   end="2026-06-01T00:00:00Z")  # fmt: skip
    assert "400-day" in too_long["detail"]
    get(client, path, 422, metric="pressure_hpa", start="2026-01-01T00:00:00Z",
        end="2026-01-02T00:00:00Z")  # fmt: skip
    get(client, "/v1/tenants/acme/sites/wh-none/readings/series", 404, metric="temperature_c",
        start="2026-01-01T00:00:00Z", end="2026-01-02T00:00:00Z")  # fmt: skip


def test_current_stock_is_the_latest_count_per_location(client: TestClient) -> None:
    (level,) = get(client, "/v1/tenants/acme/stock")
    assert (level["site_id"], level["gtin"], level["quantity"]) == ("wh-sh-01", GTIN, 130)
    assert {(x["location"], x["quantity"]) for x in level["locations"]} == {
        ("A-01", 90), ("B-02", 40)
    }  # fmt: skip
    assert get(client, "/v1/tenants/acme/stock", site="wh-bj-02") == []
    get(client, "/v1/tenants/acme/stock", 422, gtin="123")
    get(client, "/v1/tenants/acme/stock", 404, site="wh-none")


def test_completeness_reports_sequence_gaps(client: TestClient) -> None:
    report = get(
        client, "/v1/tenants/acme/devices/gw-0001/completeness",
        start=(NOW - timedelta(hours=1)).isoformat(), end=(NOW + timedelta(hours=1)).isoformat(),
    )  # fmt: skip
    assert (report["messages"], report["first_seq"], report["last_seq"]) == (5, 1, 7)
    assert report["missing"] == 2
    assert [(g["after_seq"], g["next_seq"], g["missing"]) for g in report["gaps"]] == [(3, 6, 2)]
    assert report["ratio"] == pytest.approx(5 / 7)
    path = "/v1/tenants/acme/devices/gw-0001/completeness"
    get(client, path, 422, start="2026-01-01T00:00:00Z", end="2026-03-01T00:00:00Z")
    get(client, "/v1/tenants/acme/devices/gw-9999/completeness", 404,
        start="2026-01-01T00:00:00Z", end="2026-01-02T00:00:00Z")  # fmt: skip


def test_openapi_documents_every_route_with_typed_responses(client: TestClient) -> None:
    spec = get(client, "/openapi.json")
    paths = spec["paths"]
    for path in (
        "/v1/tenants/{tenant}/sites", "/v1/tenants/{tenant}/sites/{site}",
        "/v1/tenants/{tenant}/devices", "/v1/tenants/{tenant}/devices/{device}",
        "/v1/tenants/{tenant}/devices/{device}/completeness",
        "/v1/tenants/{tenant}/sites/{site}/readings/latest",
        "/v1/tenants/{tenant}/sites/{site}/readings/series", "/v1/tenants/{tenant}/stock",
    ):  # fmt: skip
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema, path
    assert {"Series", "Device", "StockLevel", "Completeness"} <= set(spec["components"]["schemas"])
