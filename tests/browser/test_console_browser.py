"""The console in real headless Chromium: log in, watch an excursion alert appear after the
simulator's compressor failure heats a cold room (and the real ``alerts.evaluate`` job
runs), acknowledge it, open a unit's provenance; and the same pages on a phone."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cloud.console.world import (
    PASSWORD,
    World,
    add_cold_room,
    build_world,
    heat_cold_room,
    run_alert_evaluation,
)

pytestmark = pytest.mark.integration

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> World:
    world = build_world(database_url, tmp_path / "keys")
    add_cold_room(database_url)
    return world


@pytest.fixture
def base_url(world: World, serve: Callable[[str], str]) -> str:
    return serve(world.database_url)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def log_in(page: Any, base_url: str, user: str, start: str = "/console/map") -> None:
    page.goto(base_url + start)
    assert "/console/login" in page.url  # not logged in yet: sent to the form
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base_url + start)


def test_excursion_alert_acknowledged_then_unit_provenance(
    page: Any, base_url: str, world: World
) -> None:
    log_in(page, base_url, "dan@east")
    cold = page.locator('tr[data-site="cold-sh"]')
    assert cold.get_attribute("data-status") == "ok"
    page.goto(base_url + "/console/alerts")
    assert page.locator('li[data-kind="excursion"]').count() == 0

    heat_cold_room(world.database_url)  # the simulator's compressor failure, 2.5 h of it
    run_alert_evaluation(world.database_url)

    page.goto(base_url + "/console/map")
    assert cold.get_attribute("data-status") == "alert"
    page.get_by_role("link", name="Alerts").click()
    alert = page.locator('li[data-kind="excursion"]')
    assert alert.count() == 1
    assert alert.get_attribute("data-state") == "open"
    assert "cold-sh" in alert.inner_text()
    alert.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(base_url + "/console/alerts?state=open")
    assert page.locator('li[data-kind="excursion"]').count() == 0  # no longer open
    page.get_by_label("State").select_option("acknowledged")
    page.get_by_role("button", name="Filter").click()
    acknowledged = page.locator('li[data-kind="excursion"]')
    assert acknowledged.get_attribute("data-state") == "acknowledged"
    assert "by user:dan@east" in acknowledged.inner_text()

    page.get_by_role("link", name="Units").click()
    page.get_by_label("Trace code, EPC, GTIN + serial, GTIN or lot").fill(world.codes[1].code.uri)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/console/unit?epc=*")
    assert page.locator("#custody-status").inner_text() == "at_site"
    # A distributor sees the custody events at its own sites (docs/security.md).
    timeline = page.locator("ol.timeline li")
    assert timeline.count() >= 1
    assert "Shanghai warehouse" in timeline.last.inner_text()
    assert page.get_by_role("link", name="proof bundle").count() == timeline.count()


def test_phone_sized_pages_fit_the_screen(browser: Any, base_url: str) -> None:
    context = browser.new_context(**PHONE)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        log_in(page, base_url, "ana@acme")
        assert page.locator("table.sites").is_visible()
        assert page.locator("#map-phone svg.map").is_visible()  # drawn for the phone's width
        assert not page.locator("#map-wide svg.map").is_visible()
        for path in ("/console/map", "/console/sites/wh-sh", "/console/alerts",
                     "/console/scans", "/console/units?q=L2026-11"):  # fmt: skip
            page.goto(base_url + path)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
        page.goto(base_url + "/console/sites/wh-sh")
        chart = page.locator("#chart-temperature-phone svg").bounding_box()
        assert chart is not None
        assert 300 < chart["width"] <= 390
    finally:
        context.close()
