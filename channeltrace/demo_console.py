"""Demo section: the console, used the way a person would (a login form, a cookie, pages).

Creates a brand user for the demo's tenant, logs in through ``/console/login`` over HTTP,
and reads the channel map and the alert inbox the way a browser would (plain HTML).
"""

from __future__ import annotations

import http.cookiejar
import re
import secrets
import urllib.parse
import urllib.request
from collections import Counter
from typing import Any

from channeltrace.demo_fleet import TENANT

__all__ = ["run_console"]

_USER = "manager@acme-wines"


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )


def _get(opener: urllib.request.OpenerDirector, url: str) -> str:
    with opener.open(url, timeout=30) as response:  # our own http://127.0.0.1 URL
        return str(response.read().decode())


def run_console(
    database_url: str, base_url: str, say: Any, *, tenant: str = TENANT
) -> list[tuple[str, list[str]]]:
    import psycopg

    from cloud.auth.users import create_user

    password = secrets.token_urlsafe(12)
    with psycopg.connect(database_url, autocommit=True) as conn:
        create_user(conn, tenant_id=tenant, username=_USER, password=password, role="brand")
    opener = _opener()
    form = urllib.parse.urlencode({"username": _USER, "password": password}).encode()
    request = urllib.request.Request(f"{base_url}/console/login", data=form)  # noqa: S310
    with opener.open(request, timeout=30) as response:  # follows the 303 to the map
        page = response.read().decode()
    statuses = Counter(re.findall(r'data-site="[^"]+" data-status="([^"]+)"', page))
    inbox = _get(opener, f"{base_url}/console/alerts")
    kinds = Counter(re.findall(r'data-alert-id="\d+" data-kind="([^"]+)"', inbox))
    say("console: logged in through the login form; map and alert inbox rendered")
    sites = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none"
    alerts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"
    return [
        (
            "Console (docs/console.md)",
            [
                f"{base_url}/console/ — user {_USER}, password {password}"
                " (while the demo runs; --serve keeps it up)",
                f"channel map: {sum(statuses.values())} sites ({sites})",
                f"alert inbox: {alerts} open",
            ],
        )
    ]
