"""API metrics: bounded labels (route templates, status classes), then the real app scraped."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from cloud.api.metrics import UNMATCHED, ApiMetrics, RequestMetricsMiddleware, status_class
from cloud.app import create_app
from cloud.auth.apikeys import create_api_key
from cloud.metrics import serve_metrics
from cloud.migrate import migrate
from cloud.settings import Settings


def count(metrics: ApiMetrics, method: str, route: str, status: str) -> float | None:
    return metrics.registry.get_sample_value(
        "ct_api_requests_total", {"method": method, "route": route, "status": status}
    )


@pytest.mark.parametrize(
    ("status", "klass"), [(200, "2xx"), (204, "2xx"), (303, "3xx"), (404, "4xx"), (503, "5xx")]
)
def test_status_class(status: int, klass: str) -> None:
    assert status_class(status) == klass


def test_status_outside_http_range_is_other() -> None:
    assert status_class(99) == "other"
    assert status_class(600) == "other"


@pytest.fixture
def tiny() -> Iterator[tuple[TestClient, ApiMetrics]]:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/broken")
    def broken() -> None:
        raise RuntimeError("boom")

    metrics = ApiMetrics.create(CollectorRegistry())
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, metrics


def test_requests_are_labelled_by_route_template_not_raw_path(
    tiny: tuple[TestClient, ApiMetrics],
) -> None:
    client, metrics = tiny
    for item_id in (1, 2, 3):
        assert client.get(f"/items/{item_id}").status_code == 200
    assert client.get("/items/not-a-number").status_code == 422
    assert count(metrics, "GET", "/items/{item_id}", "2xx") == 3
    assert count(metrics, "GET", "/items/{item_id}", "4xx") == 1
    histogram = metrics.registry.get_sample_value(
        "ct_api_request_duration_seconds_count", {"route": "/items/{item_id}", "status": "2xx"}
    )
    assert histogram == 3
    routes = {
        s.labels["route"]
        for family in metrics.registry.collect()
        for s in family.samples
        if "route" in s.labels
    }
    assert routes == {"/items/{item_id}"}


def test_unmatched_paths_share_one_label_and_errors_count_as_5xx(
    tiny: tuple[TestClient, ApiMetrics],
) -> None:
    client, metrics = tiny
    for path in ("/nope", "/nope/again", "/x/y/z"):
        assert client.get(path).status_code == 404
    assert client.get("/broken").status_code == 500
    assert count(metrics, "GET", UNMATCHED, "4xx") == 3
    assert count(metrics, "GET", "/broken", "5xx") == 1


def test_a_method_the_route_lacks_keeps_the_template(
    tiny: tuple[TestClient, ApiMetrics],
) -> None:
    client, metrics = tiny
    assert client.post("/items/1").status_code == 405
    assert count(metrics, "POST", "/items/{item_id}", "4xx") == 1


def test_unknown_methods_are_folded(tiny: tuple[TestClient, ApiMetrics]) -> None:
    client, metrics = tiny
    client.request("BREW", "/items/1")
    assert count(metrics, "other", "/items/{item_id}", "4xx") == 1


# ------------------------------------------------------------------ integration


@pytest.mark.integration
def test_the_api_app_exports_request_metrics_on_its_own_port(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')")
        key = create_api_key(conn, tenant_id="acme", role="brand", label="tests")
    metrics = ApiMetrics.create(CollectorRegistry())
    app = create_app(Settings(database_url=database_url), metrics)
    server = serve_metrics(metrics.registry, 0)
    try:
        with TestClient(app, headers={"X-API-Key": key}) as client:
            assert client.get("/v1/tenants/acme/sites").status_code == 200
            for site in ("wh-1", "wh-2"):
                assert client.get(f"/v1/tenants/acme/sites/{site}").status_code == 404
            # Routes that are not FastAPI's own: the OpenAPI document, a static mount.
            assert client.get("/openapi.json").status_code == 200
            assert client.get("/console/static/console.css").status_code == 200
            # The public app has no /metrics route: the path is a one-segment compressed
            # Digital Link for the resolver, and not a valid one.
            assert client.get("/metrics").status_code == 404
            assert client.get("/no/route/has/this/path").status_code == 404
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    got = {
        (s.labels.get("route"), s.labels.get("status")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "ct_api_requests_total"
    }
    assert got[("/v1/tenants/{tenant}/sites", "2xx")] == 1
    assert got[("/v1/tenants/{tenant}/sites/{site}", "4xx")] == 2
    assert got[("/openapi.json", "2xx")] == 1
    assert got[("/console/static", "2xx")] == 1
    assert got[("/{segment}", "4xx")] == 1
    assert got[(UNMATCHED, "4xx")] == 1
