"""The console's pages against real PostgreSQL: login, scoping, map, site, explorer, scans."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.app import create_app
from cloud.settings import Settings

from .world import PASSWORD, World, build_world

pytestmark = pytest.mark.integration


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> World:
    return build_world(database_url, tmp_path / "keys")


@pytest.fixture
def app_client(world: World) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=world.database_url))
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture
def logged_in(app_client: TestClient) -> TestClient:
    login(app_client, "ana@acme")
    return app_client


def login(client: TestClient, user: str, password: str = PASSWORD, next_url: str = "") -> None:
    form = {"username": user, "password": password}
    if next_url:
        form["next"] = next_url
    response = client.post("/console/login", data=form)
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert "ct_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def test_pages_redirect_to_login_until_logged_in(app_client: TestClient) -> None:
    response = app_client.get("/console/sites/wh-sh?range=7d")
    assert response.status_code == 303
    assert response.headers["location"] == (
        "/console/login?next=%2Fconsole%2Fsites%2Fwh-sh%3Frange%3D7d"
    )
    assert app_client.get("/console/login").status_code == 200
    refused = app_client.post("/console/login", data={"username": "ana@acme", "password": "wrong"})
    assert refused.status_code == 401
    assert "wrong password" in refused.text
    assert "set-cookie" not in refused.headers
    login(app_client, "ana@acme", next_url="/console/sites/wh-sh?range=7d")
    assert app_client.get("/console/sites/wh-sh?range=7d").status_code == 200


def test_login_never_redirects_off_the_console(app_client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/console//evil.example"):
        response = app_client.post(
            "/console/login",
            data={"username": "ana@acme", "password": PASSWORD, "next": target},
        )
        assert response.headers["location"] == "/console/map"


def test_brand_sees_its_sites_coloured_by_status(app_client: TestClient) -> None:
    login(app_client, "ana@acme")
    page = app_client.get("/console/map").text
    rows = dict(re.findall(r'data-site="([^"]+)" data-status="([^"]+)"', page))
    assert rows == {"factory": "unmonitored", "wh-sh": "ok", "wh-gz": "offline"}
    assert "wh-rival" not in page
    assert '<svg class="map"' in page
    assert page.count('<circle class="pt st-') == 6  # on the wide map and the phone's
    assert 'name="viewport"' in page


def test_distributor_sees_only_its_own_sites(app_client: TestClient) -> None:
    login(app_client, "dan@east")
    page = app_client.get("/console/map").text
    assert re.findall(r'data-site="([^"]+)"', page) == ["wh-sh"]
    assert app_client.get("/console/sites/wh-gz").status_code == 404
    assert app_client.get("/console/sites/wh-rival").status_code == 404
    assert app_client.get("/console/sites/wh-sh").status_code == 200


def test_site_page_charts_band_stock_and_devices(app_client: TestClient) -> None:
    login(app_client, "ana@acme")
    for span in ("6h", "24h", "7d", "30d", "nonsense"):
        page = app_client.get(f"/console/sites/wh-sh?range={span}")
        assert page.status_code == 200
    html = app_client.get("/console/sites/wh-sh").text
    assert html.count('<svg class="chart"') == 4  # each metric for a wide screen and a phone
    assert html.count('<rect class="band"') == 4  # 10–18 °C and 50–75 % from the product
    assert "<polyline" in html
    assert "Time: China Standard Time (UTC+08:00)" in html
    assert "Reserve Red 750 ml" in html
    # Custody (3 bottles received) beside the count (120), and the difference marked.
    assert re.search(r'<td class="num">3</td>\s*<td class="num">120</td>', html)
    assert re.search(r'<td class="num diff"><strong>\+117</strong></td>', html)
    assert "gw-sh" in html
    assert app_client.get("/console/sites/wh-rival").status_code == 404  # another brand's


def test_explorer_finds_units_by_code_serial_and_lot(app_client: TestClient, world: World) -> None:
    login(app_client, "ana@acme")
    code = world.codes[0]
    for query in (code.code.uri, f"{code.link.gtin.value} {code.serial}", world.unit_epcs[0]):
        response = app_client.get("/console/units", params={"q": query})
        assert response.status_code == 303, query
        expected = f"/console/unit?epc={quote(world.unit_epcs[0], safe='')}"
        assert response.headers["location"] == expected
    page = app_client.get("/console/units", params={"q": "L2026-11"}).text
    assert page.count('href="/console/unit?epc=') == 3
    unit = app_client.get("/console/unit", params={"epc": world.unit_epcs[1]})
    assert unit.status_code == 200
    text = unit.text
    assert "Reserve Red 750 ml" in text
    assert text.count("proof bundle") == 3  # commissioning, shipping, receiving
    assert "receiving" in text
    assert "Shanghai warehouse" in text
    assert 'id="minutes-outside"' in text  # exposure computed from wh-sh readings
    assert "suspected_clone" in text  # its consumer scans
    assert "pending" in text  # no checkpoint signed in this world
    bad = app_client.get("/console/units", params={"q": "https://x.example/01/123/21/1"})
    assert bad.status_code == 400


def test_other_brand_cannot_open_units(app_client: TestClient, world: World) -> None:
    login(app_client, "rob@rival")
    assert app_client.get("/console/unit", params={"epc": world.unit_epcs[0]}).status_code == 404
    page = app_client.get("/console/units", params={"q": "L2026-11"}).text
    assert "/console/unit?epc=" not in page
    scans = app_client.get("/console/scans").text
    assert "suspected_clone" not in scans.split("Suspicious clusters")[1]


def test_scan_map_shows_clusters(app_client: TestClient) -> None:
    login(app_client, "ana@acme")
    page = app_client.get("/console/scans?days=7").text
    assert page.count("cluster v-") == 2  # one clone, one diversion cluster
    assert "clone (1)" in page
    assert "diversion (1)" in page


def test_logout_needs_the_csrf_token(app_client: TestClient) -> None:
    login(app_client, "ana@acme")
    page = app_client.get("/console/map").text
    assert app_client.post("/console/logout", data={"csrf": "0" * 64}).status_code == 403
    out = app_client.post("/console/logout", data={"csrf": csrf_of(page)})
    assert out.status_code == 303
    app_client.cookies.clear()
    assert app_client.get("/console/map").status_code == 303


ODD_INPUT_ROUTES = [
    "/console/sites/{}", "/console/sites/wh-sh?range={}", "/console/alerts?state={}",
    "/console/alerts?kind={}&site={}", "/console/units?q={}", "/console/unit?epc={}",
    "/console/scans?days={}", "/console/login?next={}",
]  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    route=st.sampled_from(ODD_INPUT_ROUTES),
    text=st.text(max_size=40),
)
def test_console_pages_never_fail_on_odd_input(
    logged_in: TestClient, route: str, text: str
) -> None:
    path = route.format(quote(text, safe=""), quote(text, safe=""))
    if route.startswith("/console/sites/{}"):
        path = route.format(quote(text, safe="") or "x")
    response = logged_in.get(path)
    assert response.status_code < 500, (path, response.text[:300])


def test_login_with_a_nul_character_is_refused(app_client: TestClient) -> None:
    response = app_client.post("/console/login", data={"username": "ana\x00", "password": "x"})
    assert response.status_code == 401
