"""The API documentation renders in real Chromium with every other host unreachable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cloud.migrate import migrate

pytestmark = pytest.mark.integration


@pytest.fixture
def offline_page(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A page that can reach 127.0.0.1 only; the other requests it tried are listed."""
    context = browser.new_context()
    context.set_default_timeout(15_000)
    elsewhere: list[str] = []

    def only_loopback(route: Any) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "data:", "blob:")):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    context.route("**/*", only_loopback)
    try:
        yield context.new_page(), elsewhere
    finally:
        context.close()


def test_swagger_ui_and_redoc_render_without_internet(
    database_url: str, serve: Callable[[str], str], offline_page: tuple[Any, list[str]]
) -> None:
    migrate(database_url)
    base = serve(database_url)
    page, elsewhere = offline_page
    page.goto(f"{base}/docs")
    title = page.locator(".swagger-ui .info .title")
    title.wait_for()
    assert "ChannelTrace read API" in title.inner_text()
    page.locator(".opblock-summary-path", has_text="/auth/token").first.wait_for()
    page.goto(f"{base}/redoc")
    heading = page.locator("h1", has_text="ChannelTrace read API")
    heading.wait_for()
    assert elsewhere == []  # nothing was fetched from another host
