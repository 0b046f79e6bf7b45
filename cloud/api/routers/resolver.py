"""The GS1 Digital Link resolver: ``GET /01/{gtin}/10/{lot}/21/{serial}?k=…&s=…``.

Answers a phone with an HTML page (no JavaScript, Chinese and English by
``Accept-Language``) and a client asking for ``application/json`` with JSON. Every request
is a recorded scan: the client may give ``lat``/``lon`` (and ``acc`` in metres) or
``region``; otherwise the region comes from an edge header (``X-Region``,
``CF-IPCountry``) set by a proxy in ``CT_TRUSTED_PROXIES`` (from anyone else these
headers, and ``X-Forwarded-Host``, never reach this route: see
:mod:`cloud.api.middleware.proxies`). IP addresses are never stored (the public rate limit
keys on a salted hash of the client address, in memory only). The code is verified as
printed: the URI is rebuilt from the request's host (``X-Forwarded-Host`` behind a trusted
proxy) and raw path with the ``https`` scheme, because codes are printed ``https`` and TLS
ends at the proxy.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cloud.api.deps import Conn, RateLimited
from cloud.provenance.page import preferred_language, render_page, resolution_json
from cloud.provenance.resolver import ScanPlace, resolve_scan

__all__ = ["router", "scan_clock"]

_logger = logging.getLogger(__name__)

router = APIRouter(tags=["resolver"])

_CODE_PARAMS = ("k", "s")
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'none'; frame-ancestors 'none'",
    "Vary": "Accept, Accept-Language",
}


def scan_clock() -> datetime:
    """The time a scan is recorded at (a dependency: tests replay a week of scans)."""
    return datetime.now(UTC)


def _scanned_code(request: Request, host: str | None) -> str:
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.decode("latin-1").split("?", 1)[0]
    query = [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True)]
    code_query = urlencode([(k, v) for k, v in query if k in _CODE_PARAMS])
    authority = (host or request.headers.get("host") or "").split(",")[0].strip()
    return f"https://{authority}{path}" + (f"?{code_query}" if code_query else "")


def _wants_json(accept: str | None) -> bool:
    text = (accept or "").lower()
    return "application/json" in text and "text/html" not in text


@router.get(
    "/01/{gtin}/10/{lot}/21/{serial}",
    summary="Resolve a trace code (a consumer scan)",
    response_model=None,
    dependencies=[RateLimited],
    responses={200: {"content": {"text/html": {}, "application/json": {}}}, 429: {}},
)
def resolve(
    request: Request,
    conn: Conn,
    now: Annotated[datetime, Depends(scan_clock)],
    gtin: str,
    lot: str,
    serial: str,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    acc: Annotated[float | None, Query(ge=0, le=1_000_000, description="metres")] = None,
    region: Annotated[str | None, Query(max_length=24)] = None,
    accept: Annotated[str | None, Header()] = None,
    accept_language: Annotated[str | None, Header()] = None,
    x_region: Annotated[str | None, Header()] = None,
    cf_ipcountry: Annotated[str | None, Header()] = None,
    x_forwarded_host: Annotated[str | None, Header()] = None,
) -> Response:
    del gtin, lot, serial  # verified from the exact path, not from decoded parameters
    place = ScanPlace.from_request(lat, lon, acc, [region, x_region, cf_ipcountry])
    resolution = resolve_scan(conn, _scanned_code(request, x_forwarded_host), place, now=now)
    if _wants_json(accept):
        return JSONResponse(resolution_json(resolution), headers=_HEADERS)
    lang = preferred_language(accept_language)
    return HTMLResponse(render_page(resolution, lang), headers=_HEADERS)
