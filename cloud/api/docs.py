"""The API's own documentation pages (``/docs``, ``/redoc``) with assets it serves itself.

FastAPI's defaults load Swagger UI and ReDoc from a CDN: blank pages on a network without
internet (a warehouse, an air-gapped site) and third-party scripts on our origin. The
assets come from the installed ``fastapi-offline`` package (Swagger UI and ReDoc builds)
and are served under :data:`ASSETS_PATH`; a Content-Security-Policy keeps the pages from
fetching anything elsewhere.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_PATH", "mount_docs"]

ASSETS_PATH: Final = "/docs/static"
_ASSETS = files("fastapi_offline") / "static"
# Everything from this origin only. ReDoc's sidebar always shows a logo from its vendor's
# CDN; the policy keeps the browser from fetching it (the image hides itself on error).
# The pages start with an inline script and ReDoc styles itself inline; its search runs
# in a worker made from a blob.
_POLICY: Final = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def mount_docs(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve Swagger UI at ``docs_url`` and ReDoc at ``redoc_url`` (create the app with
    ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are not added)."""
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or f"{docs_url}/oauth2-redirect"
    app.mount(ASSETS_PATH, StaticFiles(directory=str(_ASSETS)), name="docs-static")

    def asset(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{ASSETS_PATH}/{name}"

    @app.get(docs_url, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=asset(request, "swagger-ui-bundle.js"),
            swagger_css_url=asset(request, "swagger-ui.css"),
            swagger_favicon_url=asset(request, "favicon.png"),
            # No badge from validator.swagger.io: nothing leaves for another host.
            swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
        )
        page.headers.update(_POLICY)
        return page

    @app.get(redirect_url, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=asset(request, "redoc.standalone.js"),
            redoc_favicon_url=asset(request, "favicon.png"),
            with_google_fonts=False,
        )
        page.headers.update(_POLICY)
        return page
