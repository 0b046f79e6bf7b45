"""The GS1 Digital Link resolver: ``GET /01/{gtin}/10/{lot}/21/{serial}?k=…&s=…``.

Answers a phone with an HTML page (no JavaScript, Chinese and English by
``Accept-Language``) and a client asking for ``application/json`` with JSON. Every request
is a recorded scan: the client may give ``lat``/``lon`` (and ``acc`` in metres; the point
is placed at its GB/T 2260 district offline, :mod:`cloud.channel.geocode`) or ``region``;
otherwise the region comes from an edge header (``X-Region``, ``CF-IPCountry``) set by a
proxy in ``CT_TRUSTED_PROXIES`` (from anyone else these headers, and
``X-Forwarded-Host``, never reach this route: see :mod:`cloud.api.middleware.proxies`). IP
addresses are never stored (the public rate limit keys on a salted hash of the client
address, in memory only). The code is verified as printed: the URI is rebuilt from the
request's host (``X-Forwarded-Host`` behind a trusted proxy) and raw path with the
``https`` scheme, because codes are printed ``https`` and TLS ends at the proxy.

A request that is not a Digital Link of this resolver (a GTIN of the wrong length or check
digit, a lot or serial longer than 20 characters or outside GS1 AI character set 82, more
than 512 bytes of other query parameters) is answered 400 with the reason (HTML or problem
JSON) and leaves nothing behind. The scanner's *client tag* (a keyed hash of its network
and the code, :func:`cloud.provenance.scanlog.client_tag`) tells independent scanners
apart for the verdict's corroboration rule.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cloud.api.channel_support import Geo
from cloud.api.deps import Conn, RateLimited
from cloud.api.errors import NotATraceCode
from cloud.auth.tokens import token_secret
from cloud.channel.geocode import Geocoder
from cloud.provenance.page import (
    preferred_language,
    render_not_a_code,
    render_page,
    resolution_json,
)
from cloud.provenance.resolver import ScanPlace, resolve_scan
from cloud.provenance.scanlog import client_tag
from wire.digital_link import DigitalLink
from wire.errors import IdentifierError
from wire.gs1 import MAX_LOT_LENGTH, MAX_SERIAL_LENGTH

__all__ = ["router", "scan_clock"]

_logger = logging.getLogger(__name__)

router = APIRouter(tags=["resolver"])

_CODE_PARAMS = ("k", "s")
_OWN_PARAMS = frozenset({"k", "s", "lat", "lon", "acc", "region"})
#: Bytes of query parameters other than ours a scan may carry (a campaign tag, not a file).
MAX_OTHER_QUERY_BYTES = 512
_CLIENT_KEY_CONTEXT = b"channeltrace/scan-client-key/v1"
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


def _raw_path(request: Request) -> str:
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    return str(raw_path.decode("latin-1").split("?", 1)[0])


def _scanned_code(request: Request, host: str | None) -> str:
    path = _raw_path(request)
    query = [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True)]
    code_query = urlencode([(k, v) for k, v in query if k in _CODE_PARAMS])
    authority = (host or request.headers.get("host") or "").split(",")[0].strip()
    return f"https://{authority}{path}" + (f"?{code_query}" if code_query else "")


def _not_a_code(request: Request, link_path: str) -> str | None:
    """Why this request is not a Digital Link of this resolver, or ``None`` when it is."""
    segments = link_path.split("/")
    for name, raw, limit in (("lot (AI 10)", segments[4], MAX_LOT_LENGTH),
                             ("serial (AI 21)", segments[6], MAX_SERIAL_LENGTH)):  # fmt: skip
        if len(raw) > 3 * limit:  # even fully percent-encoded it is too long
            return f"{name} is at most {limit} characters; got {len(raw)} bytes in the path"
    try:
        DigitalLink.parse(f"https://resolver.invalid{link_path}")
    except IdentifierError as exc:
        return str(exc)
    other = sum(
        len(k) + len(v) + 2 for k, v in parse_qsl(request.url.query, keep_blank_values=True)
        if k not in _OWN_PARAMS
    )  # fmt: skip
    if other > MAX_OTHER_QUERY_BYTES:
        return (
            f"query parameters other than {', '.join(sorted(_OWN_PARAMS))} may take "
            f"{MAX_OTHER_QUERY_BYTES} bytes; got {other}"
        )
    return None


def _client(request: Request, gtin: str, serial: str) -> str:
    key: bytes | None = getattr(request.app.state, "scan_client_key", None)
    if key is None:
        secret = token_secret(request.app.state.settings)
        key = hmac.new(secret, _CLIENT_KEY_CONTEXT, hashlib.sha256).digest()
        request.app.state.scan_client_key = key
    address = request.client.host if request.client is not None else "unknown"
    return client_tag(key, address, gtin, serial)


def _locator(geocoder: Geocoder) -> Callable[[float, float], str | None]:
    def locate(lat: float, lon: float) -> str | None:
        place = geocoder.locate(lat, lon)
        return None if place is None else place.code

    return locate


def _wants_json(accept: str | None) -> bool:
    text = (accept or "").lower()
    return "application/json" in text and "text/html" not in text


@router.get(
    "/01/{gtin}/10/{lot}/21/{serial}",
    summary="Resolve a trace code (a consumer scan)",
    response_model=None,
    dependencies=[RateLimited],
    responses={
        200: {"content": {"text/html": {}, "application/json": {}}},
        400: {"description": "Not a Digital Link of this resolver (nothing is recorded)"},
        429: {},
    },
)
def resolve(
    request: Request,
    conn: Conn,
    now: Annotated[datetime, Depends(scan_clock)],
    geocoder: Geo,
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
    link_path = _raw_path(request)
    lang = preferred_language(accept_language)
    if (problem := _not_a_code(request, link_path)) is not None:
        _logger.info("not a trace code: %s", problem)
        if _wants_json(accept):
            raise NotATraceCode(f"not a trace code of this resolver: {problem}", headers=_HEADERS)
        return HTMLResponse(render_not_a_code(problem, lang), status_code=400, headers=_HEADERS)
    place = ScanPlace.from_request(
        lat, lon, acc, [region, x_region, cf_ipcountry], locate=_locator(geocoder)
    )
    parsed = DigitalLink.parse(f"https://resolver.invalid{link_path}")
    client = _client(request, parsed.gtin.value, parsed.serial or "")
    code = _scanned_code(request, x_forwarded_host)
    resolution = resolve_scan(conn, code, place, client=client, now=now)
    if _wants_json(accept):
        return JSONResponse(resolution_json(resolution), headers=_HEADERS)
    return HTMLResponse(render_page(resolution, lang), headers=_HEADERS)
