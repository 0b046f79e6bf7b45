"""/docs and /redoc load every script and stylesheet from the app itself, never a CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from cloud.api.docs import ASSETS_PATH
from cloud.app import create_app
from cloud.settings import Settings

_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.fixture
def client() -> Iterator[TestClient]:
    # The pages touch no table: a database that is not there is fine (the pool waits).
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:9/none")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
        ("/redoc", {"redoc.standalone.js", "favicon.png"}),
    ],
)
def test_documentation_pages_reference_only_our_own_assets(
    client: TestClient, page: str, assets: set[str]
) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    assert "cdn." not in html
    assert "googleapis" not in html
    references = set(_REFERENCE.findall(html))
    assert references == {f"{ASSETS_PATH}/{name}" for name in assets}
    for reference in references:
        asset = client.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 1_000, reference  # the real build, not a placeholder
    assert "/openapi.json" in html
    # The browser itself is told: nothing from any other origin.
    policy = response.headers["content-security-policy"]
    assert policy.startswith("default-src 'self';")
    assert "img-src 'self' data:;" in policy


def test_the_assets_are_the_real_swagger_ui_and_redoc(client: TestClient) -> None:
    swagger = client.get(f"{ASSETS_PATH}/swagger-ui-bundle.js")
    assert swagger.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert b"SwaggerUIBundle" in swagger.content
    assert b"Redoc" in client.get(f"{ASSETS_PATH}/redoc.standalone.js").content
    css = client.get(f"{ASSETS_PATH}/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css")
    # Swagger UI is told not to fetch a validity badge from validator.swagger.io.
    assert '"validatorUrl": null' in client.get("/docs").text
