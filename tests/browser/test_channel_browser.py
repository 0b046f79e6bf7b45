"""The channel pages in real headless Chromium, at a laptop's 1366 px and a phone's 390 px:
a brand manager sets up a distributor, a site and a product (and is told what is wrong),
checks then applies a spreadsheet; the channel map (province outlines, names, sites
without coordinates) and the stock view (custody beside counts, the difference marked);
a distributor's login sees its own sites only.

Screenshots go to ``$CT_SCREENSHOTS`` (a directory) when set, else the test's temp dir.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .channel_world import PASSWORD, ChannelWorld, build_channel_world, capture_custody

pytestmark = pytest.mark.integration

LAPTOP = {"viewport": {"width": 1366, "height": 900}}
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("CT_SCREENSHOTS") or tmp_path / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def world(database_url: str) -> ChannelWorld:
    return build_channel_world(database_url)


@pytest.fixture
def base_url(world: ChannelWorld, serve: Callable[[str], str]) -> str:
    url = serve(world.database_url)
    capture_custody(url, world)
    return url


@pytest.fixture(params=["laptop", "phone"])
def device(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def page(browser: Any, device: str) -> Iterator[Any]:
    context = browser.new_context(**(LAPTOP if device == "laptop" else PHONE))
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def log_in(page: Any, base_url: str, user: str, start: str) -> None:
    page.goto(base_url + start)
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base_url + start)


def no_sideways_scroll(page: Any) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px"


def shoot(page: Any, shots: Path, device: str, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}-{device}.png"), full_page=True)


def test_setup_pages(page: Any, base_url: str, world: ChannelWorld, device: str,
                     shots: Path) -> None:  # fmt: skip
    log_in(page, base_url, world.manager, "/console/setup")
    assert "1 without coordinates" in page.locator(".tiles").inner_text()
    assert page.locator("#unplaced a", has_text="Nanjing transit depot").count() == 1
    shoot(page, shots, device, "setup")
    no_sideways_scroll(page)

    page.get_by_role("link", name="Distributors", exact=True).first.click()
    row = page.locator('tr[data-distributor="dist-sh-retail"]')
    assert "华东酒业 East China Wines" in row.inner_text()  # its parent, by name
    assert "上海市" in row.inner_text()  # its region, by name
    add = page.locator("#add")
    add.get_by_label("Id").fill("dist-west")
    add.get_by_label("Name").fill("西部酒业 West China Wines")
    add.get_by_label("Authorised sales regions").fill("510100; 440304; 999999")
    add.get_by_role("button", name="Add distributor").click()
    problems = page.locator(".field.invalid .problem")
    assert problems.count() == 2
    assert "expected a province or city code, got '440304'" in problems.first.inner_text()
    assert add.get_by_label("Name").input_value() == "西部酒业 West China Wines"  # kept
    shoot(page, shots, device, "distributor-refused")
    no_sideways_scroll(page)
    add.get_by_label("Authorised sales regions").fill("510100; 500000")
    add.get_by_role("button", name="Add distributor").click()
    assert "distributor dist-west created" in page.locator(".saved").inner_text()

    page.goto(base_url + "/console/setup/sites/wh-nanjing")
    page.get_by_label("Latitude").fill("32.1")
    page.get_by_label("Longitude").fill("118.7")
    page.get_by_label("Region").fill("")
    page.get_by_role("button", name="Save").click()
    assert "site wh-nanjing updated" in page.locator(".saved").inner_text()
    assert "latitude: — → 32.1" in page.locator("table").last.inner_text()  # its history
    shoot(page, shots, device, "site-edited")

    page.goto(base_url + "/console/setup/import")
    bad = "kind,id,name,latitude,longitude\nsite,wh-chengdu,Chengdu DC,104.06,30.57\n"
    page.get_by_label("File (.xlsx or .csv)").set_input_files(
        files=[{"name": "sites.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    page.get_by_role("button", name="Upload").click()
    report = page.locator("#report")
    assert "nothing was written" in report.inner_text()
    assert "a number from -90 to 90" in report.locator("table.problems").inner_text()
    shoot(page, shots, device, "import-problems")
    no_sideways_scroll(page)
    good = "kind,id,name,latitude,longitude\nsite,wh-chengdu,Chengdu DC,30.57,104.06\n"
    page.get_by_label("File (.xlsx or .csv)").set_input_files(
        files=[{"name": "sites.csv", "mimeType": "text/csv", "buffer": good.encode()}]
    )
    page.get_by_role("button", name="Upload").click()
    assert "Checked: no problems" in page.locator("#report h2").inner_text()
    page.get_by_role("button", name="Apply sites.csv").click()
    assert page.locator("#report h2").inner_text() == "Imported"
    shoot(page, shots, device, "import-applied")

    page.goto(base_url + "/console/setup/prefixes")
    page.get_by_label("Company prefix").fill("95060001")  # inside the brand's own 9506000
    page.get_by_role("button", name="Register").click()
    assert "overlaps your prefix 9506000" in page.locator(".problem").inner_text()
    page.get_by_label("Company prefix").fill("6901234")
    page.get_by_role("button", name="Register").click()
    assert "prefix 6901234 registered" in page.locator(".saved").inner_text()
    assert page.locator('tr[data-prefix="9506000"]').count() == 1
    shoot(page, shots, device, "prefixes")
    no_sideways_scroll(page)

    page.goto(base_url + "/console/setup/changes")
    log = " ".join(page.locator("table.changes").inner_text().split())
    assert "create site wh-chengdu" in log
    assert "create distributor dist-west" in log
    assert "create prefix 6901234" in log
    shoot(page, shots, device, "changes")
    no_sideways_scroll(page)


def test_map_and_stock_view(page: Any, base_url: str, world: ChannelWorld, device: str,
                            shots: Path) -> None:  # fmt: skip
    log_in(page, base_url, world.manager, "/console/map")
    assert page.locator("#unplaced", has_text="Nanjing transit depot").count() == 1
    drawing = page.locator("#map-wide svg" if device == "laptop" else "#map-phone svg")
    assert drawing.is_visible()  # a drawing sized for the screen (legible text on a phone)
    assert drawing.locator("path.region").count() >= 10  # provinces around the sites
    names = drawing.locator("text.site-name").all_text_contents()
    assert "Beijing DC (Daxing)" in names
    assert drawing.locator(".cluster-count").count() >= 1  # Shanghai's sites crowd
    assert page.locator('tr[data-site="wh-guangzhou"] td').nth(2).inner_text() == (
        "华南酒业 South China Wines")  # fmt: skip
    shoot(page, shots, device, "map")
    no_sideways_scroll(page)

    page.get_by_role("link", name="Stock", exact=True).click()
    shanghai = page.locator('tr[data-site="wh-shanghai"][data-gtin="09506000134352"]')
    assert shanghai.get_attribute("class") == "missing"
    cells = shanghai.locator("td").all_inner_texts()
    assert cells[1:4] == ["6", "4", "-2"]  # custody says 6, counted 4
    shop = page.locator('tr[data-site="shop-sh-jingan"]')
    assert shop.locator("td").nth(2).inner_text() == "not counted"
    assert "Jing'an flagship shop" in page.locator("#site-shop-sh-jingan h2").inner_text()
    shoot(page, shots, device, "stock")
    no_sideways_scroll(page)

    page.goto(base_url + "/console/sites/cold-room-demo?range=24h")
    chart = page.locator("#chart-temperature svg")
    assert chart.locator("rect.excursion").count() >= 1
    assert "Time: China Standard Time (UTC+08:00)" in chart.inner_html()
    shoot(page, shots, device, "site")
    no_sideways_scroll(page)


def test_a_distributor_sees_its_own_sites(browser: Any, base_url: str, world: ChannelWorld,
                                          shots: Path) -> None:  # fmt: skip
    context = browser.new_context(**LAPTOP)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        log_in(page, base_url, world.distributor, "/console/map")
        sites = {s.get_attribute("data-site") for s in page.locator("tr[data-site]").all()}
        assert sites == {"wh-shanghai", "cold-room-demo", "wh-nanjing"}
        assert page.get_by_role("link", name="Setup").count() == 0
        page.goto(base_url + "/console/setup/sites")
        assert "Only the brand sets up the channel" in page.content()
        page.goto(base_url + "/console/stock")
        assert {r.get_attribute("data-site") for r in page.locator("tr[data-site]").all()} == {
            "wh-shanghai", "cold-room-demo"}  # fmt: skip
        shoot(page, shots, "laptop", "distributor-stock")
    finally:
        context.close()
