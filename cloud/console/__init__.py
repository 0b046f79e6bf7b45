"""The brand owner's and distributors' console: server-rendered pages of the API app.

:func:`mount_console` adds the pages (``/console/...``), the console's own stylesheet
(``/console/static``) and the answers to "not logged in" (a redirect to the login form)
and "bad CSRF token" (403) to an app made by :func:`cloud.app.create_app`.
The console may import :mod:`cloud.api` helpers; :mod:`cloud.api` never imports the console.
See docs/console.md.
"""

from __future__ import annotations

import html
from importlib.resources import files
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cloud.console.errors import BadInput, CsrfError, LoginRequired
from cloud.console.routes import router
from cloud.console.setup_routes import router as setup_router

__all__ = ["mount_console"]


def mount_console(app: FastAPI) -> None:
    app.include_router(router)
    app.include_router(setup_router)  # the brand's channel setup (docs/channel-setup.md)
    app.mount(
        "/console/static",
        StaticFiles(directory=str(files("cloud.console") / "static")),
        name="console-static",
    )

    @app.exception_handler(LoginRequired)
    async def login_required(_request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(
            f"/console/login?{urlencode({'next': exc.next_url})}", status_code=303
        )

    @app.exception_handler(BadInput)
    async def bad_input(_request: Request, exc: BadInput) -> Response:
        return HTMLResponse(
            f"<!doctype html><title>Bad request</title><p>{html.escape(str(exc))}</p>"
            '<p><a href="/console/map">Back to the console</a></p>',
            status_code=400,
        )

    @app.exception_handler(CsrfError)
    async def bad_csrf(_request: Request, exc: CsrfError) -> Response:
        return HTMLResponse(
            "<!doctype html><title>Refused</title><p>Refused: the form was stale or not "
            'sent by this console. <a href="/console/map">Back to the console</a></p>',
            status_code=403,
        )
