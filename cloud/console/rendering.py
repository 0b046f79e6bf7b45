"""Rendering the console's pages: the templates, and what every page's context holds — the
session, the viewer's time zone (charts and tables show times in it, and say which), the
Grafana link when configured, and a filter that writes a time in that zone."""

from __future__ import annotations

from datetime import datetime, tzinfo
from importlib.resources import files
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from cloud.console.svg import zone_label
from cloud.settings import ApiSection

__all__ = ["TZ_COOKIE", "ZONES", "render", "templates", "viewer_zone"]

TZ_COOKIE: Final = "ct_tz"
# The zones offered to a viewer (any IANA name works through ?tz=).
ZONES: Final = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo",
                "UTC", "Europe/London", "Europe/Berlin", "America/New_York",
                "America/Los_Angeles")  # fmt: skip

templates = Jinja2Templates(directory=str(files("cloud.console") / "templates"))


def _at(value: datetime | None, tz: tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time in the viewer's zone (naive times are taken as UTC, as PostgreSQL gives)."""
    if value is None:
        return "—"
    return value.astimezone(tz).strftime(fmt)


templates.env.filters["at"] = _at


def zone_named(name: str | None) -> ZoneInfo | None:
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def viewer_zone(request: Request) -> ZoneInfo:
    """The zone the viewer chose (cookie), else the console's (``CT_CONSOLE_TIMEZONE``)."""
    settings: ApiSection = request.app.state.settings
    return zone_named(request.cookies.get(TZ_COOKIE)) or ZoneInfo(settings.console_timezone)


def render(
    request: Request, name: str, session: Any, status: int = 200, **context: Any
) -> Response:
    settings: ApiSection = request.app.state.settings
    tz = viewer_zone(request)
    now = datetime.now(tz)
    return templates.TemplateResponse(
        request,
        name,
        {
            "session": session,
            "tz": tz,
            "tz_name": tz.key,
            "tz_label": zone_label(tz, now),
            "zones": ZONES,
            "grafana_url": settings.grafana_url,
            **context,
        },
        status_code=status,
    )
