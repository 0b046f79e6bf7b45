"""The GS1 Digital Link resolver: ``/01/{gtin}/10/{lot}/21/{serial}?k=…&s=…`` and friends.

A scan (``GET`` of a signed code) answers a phone with the verdict page (no JavaScript,
Chinese and English, ``Accept-Language`` first) and ``Accept: application/json`` with
JSON; it is judged on the event loop and recorded off the response path
(:class:`cloud.provenance.resolver.ScanService`). The client may give ``lat``/``lon`` (and
``acc`` in metres; the point is placed at its GB/T 2260 district offline) or ``region``;
otherwise the region comes from an edge header (``X-Region``, ``CF-IPCountry``) set by a
proxy in ``CT_TRUSTED_PROXIES`` (from anyone else these headers, and
``X-Forwarded-Host``, never reach this route: :mod:`cloud.api.middleware.proxies`). IP
addresses are never stored. The code is verified as printed: the URI is rebuilt from the
request's host and raw path with the ``https`` scheme.

GS1-Conformant resolver behaviour (:mod:`cloud.provenance.gs1resolver`): ``HEAD`` and
``OPTIONS`` (neither records a scan), CORS, 400 for a syntactically invalid Digital Link,
linksets (``?linkType=linkset``/``all``, ``Accept: application/linkset+json``), a ``Link``
header on every answer, compressed Digital Links, ``/.well-known/gs1resolver``. A
product-level link (``/01/{gtin}``, ``/01/{gtin}/10/{lot}``) answers the product page.
Shoppers can report a suspected fake from the verdict page (``POST /report``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from cloud.api.deps import check_rate
from cloud.auth.tokens import token_secret
from cloud.channel.geocode import default_geocoder
from cloud.provenance import gs1resolver as gs1
from cloud.provenance.i18n import preferred_language
from cloud.provenance.pages import (
    ReportForm,
    render_not_a_code,
    render_page,
    render_product,
    resolution_json,
    resolver_links,
)
from cloud.provenance.proofpage import ProofView, proof_view, render_proof
from cloud.provenance.reports import ReportToken, make_token, read_token, store_report
from cloud.provenance.resolver import Resolution, ScanPlace, ScanService
from cloud.provenance.scanlog import client_tag
from cloud.provenance.scanwriter import ScanQueueFull
from wire.digital_link import DigitalLink
from wire.errors import IdentifierError
from wire.gs1 import MAX_LOT_LENGTH, MAX_SERIAL_LENGTH

__all__ = ["compressed_router", "router", "scan_clock"]

_logger = logging.getLogger(__name__)

router = APIRouter(tags=["resolver"])
#: Mounted last by the app: one path segment that may be a compressed Digital Link.
compressed_router = APIRouter(tags=["resolver"])

_CODE_PARAMS = ("k", "s")
_OWN_PARAMS = frozenset({"k", "s", "lat", "lon", "acc", "region", "linkType"})
#: Bytes of query parameters other than ours a scan may carry (a campaign tag, not a file).
MAX_OTHER_QUERY_BYTES = 512
_CLIENT_KEY_CONTEXT = b"channeltrace/scan-client-key/v1"
_METHODS: Final = "GET, HEAD, OPTIONS"
_BASE_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Vary": "Accept, Accept-Language",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": _METHODS,
    "Access-Control-Allow-Headers": "Accept, Accept-Language",
    "Access-Control-Expose-Headers": "Link, Location, Content-Type",
}


_BASE_RAW: Final = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in _BASE_HEADERS.items()]  # fmt: skip


async def scan_clock() -> datetime:
    """The time a scan is recorded at (a dependency: tests replay a week of scans)."""
    return datetime.now(UTC)


def _service(request: Request) -> ScanService:
    service: ScanService = request.app.state.scans
    return service


@lru_cache(maxsize=4)
def _geocoder(path: str | None) -> Any:
    return default_geocoder(path)


def _locate(request: Request) -> Any:
    path = getattr(request.app.state.settings, "geocoder_data", None)
    geocoder = _geocoder(None if path is None else str(path))

    def locate(lat: float, lon: float) -> str | None:
        place = geocoder.locate(lat, lon)
        return None if place is None else place.code

    return locate


def _raw_path(request: Request) -> str:
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    return str(raw_path.decode("latin-1").split("?", 1)[0])


def _query(request: Request) -> str:
    """The raw query string (what ``request.url.query`` gives, without building the URL)."""
    raw: bytes = request.scope.get("query_string", b"")
    return raw.decode()


def _authority(request: Request) -> str:
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or ""
    return host.split(",")[0].strip()


def _headers(anchor: str, *, same_as: str | None = None, context: bool = False) -> dict[str, str]:
    return {**_BASE_HEADERS, "Link": gs1.link_header(anchor, same_as=same_as, context=context)}


def _not_a_code(
    path: str, query: list[tuple[str, str]], authority: str
) -> tuple[str | None, DigitalLink | None]:
    """Why ``path`` (with ``query``) is not a Digital Link of this resolver (``None``: it
    is), and the link it is (on ``authority``)."""
    segments = path.split("/")
    for ai, name, limit in (("10", "lot (AI 10)", MAX_LOT_LENGTH),
                            ("21", "serial (AI 21)", MAX_SERIAL_LENGTH)):  # fmt: skip
        for i in range(1, len(segments) - 1):
            if segments[i] == ai and len(segments[i + 1]) > 3 * limit:
                got = len(segments[i + 1])
                return f"{name} is at most {limit} characters; got {got} bytes", None
    try:
        link = DigitalLink.parse(f"https://{authority or 'resolver.invalid'}{path}")
    except IdentifierError as exc:
        return str(exc), None
    other = sum(len(k) + len(v) + 2 for k, v in query if k not in _OWN_PARAMS)
    if other > MAX_OTHER_QUERY_BYTES:
        return (
            f"query parameters other than {', '.join(sorted(_OWN_PARAMS))} may take "
            f"{MAX_OTHER_QUERY_BYTES} bytes; got {other}"
        ), None
    return None, link


def _wants(request: Request, media: str) -> bool:
    accept = (request.headers.get("accept") or "").lower()
    return media in accept and "text/html" not in accept


def _bad_request(request: Request, problem: str, anchor: str) -> Response:
    _logger.info("not a trace code: %s", problem)
    headers = _headers(anchor)
    if _wants(request, "json"):
        from cloud.api.errors import NotATraceCode, problem_response

        return problem_response(
            request, 400, f"not a trace code of this resolver: {problem}",
            problem_type=NotATraceCode.problem_type, title=NotATraceCode.title, headers=headers,
        )  # fmt: skip
    lang = preferred_language(request.headers.get("accept-language"))
    return HTMLResponse(render_not_a_code(problem, lang), status_code=400, headers=headers)


def _client(request: Request, gtin: str, serial: str) -> str:
    address = request.client.host if request.client is not None else "unknown"
    return client_tag(_client_key(request), address, gtin, serial)


def _client_key(request: Request) -> bytes:
    key: bytes | None = getattr(request.app.state, "scan_client_key", None)
    if key is None:
        secret = token_secret(request.app.state.settings)
        key = hmac.new(secret, _CLIENT_KEY_CONTEXT, hashlib.sha256).digest()
        request.app.state.scan_client_key = key
    return key


def _rate_limited(request: Request) -> Response | None:
    check = check_rate(request)
    if check.allowed:
        return None
    from cloud.api.errors import problem_response

    return problem_response(
        request, 429, f"rate limit {check.limit} exceeded; retry in {check.retry_after_s} s",
        headers={**_BASE_HEADERS, "Retry-After": str(check.retry_after_s)},
    )  # fmt: skip


async def _answer(  # noqa: PLR0911 - the resolver's answers, in the standard's order
    request: Request, path: str, now: datetime, *, same_as: str | None = None,
    query_string: str | None = None,
) -> Response:  # fmt: skip
    """Everything a Digital Link path answers, for GET, HEAD and OPTIONS."""
    if path.endswith("/") and len(path) > 1:  # GS1: tolerate a trailing slash
        path = path.rstrip("/")
    authority = _authority(request)
    anchor = f"https://{authority}{path}"
    if request.method == "OPTIONS":
        return Response(status_code=204, headers={**_headers(anchor), "Allow": _METHODS})
    if (limited := _rate_limited(request)) is not None:
        return limited
    query = parse_qsl(
        _query(request) if query_string is None else query_string, keep_blank_values=True
    )
    problem, link = _not_a_code(path, query, authority)
    if problem is not None or link is None:
        return _bad_request(request, problem or "not a Digital Link", anchor)
    headers = _headers(anchor, same_as=same_as)
    link_type = gs1.wanted_link_type(dict(query).get("linkType"))
    if link_type is None and _wants(request, gs1.LINKSET_TYPE):
        link_type = "linkset"
    code_query = urlencode([(k, v) for k, v in query if k in _CODE_PARAMS])
    scanned = anchor + (f"?{code_query}" if code_query else "")
    service = _service(request)
    lang = preferred_language(request.headers.get("accept-language"))
    if link_type is not None and link_type not in ("defaultLink", "verificationService"):
        return await _link_answer(request, service, link, link_type, anchor, scanned, lang,
                                  same_as)  # fmt: skip
    if link.serial is None:  # a product, not a pack: no scan to judge
        return await _product(request, service, link, headers, lang)
    if request.method == "HEAD":  # link checkers: the headers of the page, no scan recorded
        media = "application/json" if _wants(request, "json") else "text/html; charset=utf-8"
        return Response(headers=headers, media_type=media)
    return await _scan(request, service, link, scanned, now, headers, lang, query)


async def _link_answer(
    request: Request, service: ScanService, link: DigitalLink, link_type: str, anchor: str,
    scanned: str, lang: str, same_as: str | None,
) -> Response:  # fmt: skip
    """The linkset, or a redirect to the link of ``link_type`` (no scan is recorded)."""
    headers = _headers(anchor, same_as=same_as)
    context = await service.context(link)
    if context.owner is None:
        return _not_found(request, headers, "no brand has registered this GTIN")
    passport = context.passport
    if passport is None and context.has_unit and link.serial is not None:
        passport = await service.passport(context.owner, link)
    proof = None if passport is None else passport.proof_url
    links = resolver_links(
        f"https://{_authority(request)}", link, scanned if link.serial else None, proof, lang
    )
    if link_type == "linkset":
        described = await service.product(context.owner, link)
        body = gs1.linkset(anchor, links, None if described is None else described.product("en"))
        linkset_headers = _headers(anchor, same_as=same_as, context=True)
        if request.method == "HEAD":
            return Response(headers=linkset_headers, media_type=gs1.LINKSET_TYPE)
        return JSONResponse(body, headers=linkset_headers, media_type=gs1.LINKSET_TYPE)
    target = next((x for x in links if x.rel == link_type), None)
    if target is None:
        return _not_found(request, headers, f"this identifier has no link of type {link_type}")
    return RedirectResponse(target.href, status_code=307, headers=headers)


def _not_found(request: Request, headers: dict[str, str], detail: str) -> Response:
    from cloud.api.errors import problem_response

    return problem_response(request, 404, detail, headers=headers)


async def _product(
    request: Request, service: ScanService, link: DigitalLink, headers: dict[str, str], lang: str
) -> Response:
    context = await service.context(link)
    described = None if context.owner is None else await service.product(context.owner, link)
    if described is None:
        return _not_found(request, headers, "no brand has registered this GTIN")
    if request.method == "HEAD":
        return Response(headers=headers, media_type="text/html; charset=utf-8")
    if _wants(request, "json"):
        return JSONResponse(
            {"gtin": link.gtin.value, "lot": link.lot, "brand": described.brand,
             "product": described.product("en"), "product_zh": described.product("zh")},
            headers=headers,
        )  # fmt: skip
    timezone = request.app.state.settings.console_timezone
    return HTMLResponse(render_product(described, lang, timezone=timezone), headers=headers)


async def _scan(
    request: Request, service: ScanService, link: DigitalLink, scanned: str, now: datetime,
    headers: dict[str, str], lang: str, query: list[tuple[str, str]],
) -> Response:  # fmt: skip
    params = dict(query)
    lat, lon, acc = (_float(params.get(n), lo, hi) for n, lo, hi in
                     (("lat", -90, 90), ("lon", -180, 180), ("acc", 0, 1_000_000)))  # fmt: skip
    region = (params.get("region") or "")[:24] or None
    place = ScanPlace.from_request(
        lat, lon, acc,
        [region, request.headers.get("x-region"), request.headers.get("cf-ipcountry")],
        locate=_locate(request),
    )  # fmt: skip
    client = _client(request, link.gtin.value, link.serial or "")
    try:
        resolution = await service.resolve(scanned, place, client=client, now=now)
    except ScanQueueFull as exc:
        from cloud.api.errors import problem_response

        return problem_response(request, 503, str(exc), headers={**headers, "Retry-After": "5"})
    if _wants(request, "json"):
        return JSONResponse(resolution_json(resolution), headers=headers)
    settings = request.app.state.settings
    report = _report_form(request, resolution, client)
    page = render_page(resolution, lang, timezone=settings.console_timezone, report=report)
    response = HTMLResponse(page)
    # The constant headers encoded once (Starlette would encode all 12 per page); ``headers``
    # is _headers(): those and this answer's Link.
    response.raw_headers.extend(_BASE_RAW)
    response.raw_headers.append((b"link", headers["Link"].encode("latin-1")))
    return response


def _float(raw: str | None, low: float, high: float) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if low <= value <= high else None


def _report_form(request: Request, r: Resolution, client: str) -> ReportForm | None:
    if r.scan_id is None or r.tenant is None or r.link is None:
        return None
    token = ReportToken(
        verified=r.passport is not None, scan_id=r.scan_id, tenant=r.tenant,
        gtin=r.link.gtin.value, lot=r.link.lot, serial=r.link.serial, client=client,
        verdict=r.verdict.kind.value, at=int(r.scanned_at.timestamp()),
        region=r.scan.region,
        point=None if r.scan.point is None else (r.scan.point.lat, r.scan.point.lon,
                                                 r.scan.point.accuracy_km),
    )  # fmt: skip
    worried = r.verdict.kind.value not in ("genuine", "genuine_seen_before")
    return ReportForm("/report", make_token(_client_key(request), token), open=worried)


# --- routes -----------------------------------------------------------------------------

def _clock(request: Request) -> datetime:
    """:func:`scan_clock`, or what the app's dependency overrides put in its place (tests
    replay a week of scans); called directly: a scan pays for no dependency machinery."""
    clock = request.app.dependency_overrides.get(scan_clock)
    return datetime.now(UTC) if clock is None else clock()


def _param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


# Documented here, read from the exact request (the code is verified as printed).
_DL_PARAMETERS = [
    _param("k", "key id of the brand key that signed the code", {"type": "string"}),
    _param("s", "signature of the code (base64url)", {"type": "string"}),
    _param("lat", "latitude of the phone (WGS-84)", {"type": "number", "minimum": -90,
                                                     "maximum": 90}),
    _param("lon", "longitude of the phone (WGS-84)", {"type": "number", "minimum": -180,
                                                      "maximum": 180}),
    _param("acc", "accuracy of lat/lon, metres", {"type": "number", "minimum": 0}),
    _param("region", "region code (GB/T 2260 or ISO 3166-2)", {"type": "string",
                                                               "maxLength": 24}),
    _param("linkType", "linkset, or a GS1 link type (gs1:pip, gs1:traceability, ...)",
           {"type": "string", "maxLength": 200}),
]  # fmt: skip


@router.api_route(
    "/01/{path:path}", methods=["HEAD", "OPTIONS"], include_in_schema=False, response_model=None
)
@router.get(
    "/01/{path:path}",
    summary="Resolve a GS1 Digital Link (a consumer scan of a trace code, or a product); "
    "HEAD and OPTIONS too",
    response_model=None,
    openapi_extra={"parameters": _DL_PARAMETERS},
    responses={
        200: {"content": {"text/html": {}, "application/json": {}, gs1.LINKSET_TYPE: {}}},
        204: {"description": "OPTIONS: the methods and CORS headers"},
        307: {"description": "?linkType= of a link this identifier has"},
        400: {"description": "Not a Digital Link of this resolver (nothing is recorded)"},
        404: {"description": "No brand registered this GTIN, or no link of that type"},
        429: {},
        503: {"description": "Scans cannot be recorded right now; retry"},
    },
)
async def resolve(request: Request) -> Response:
    return await _answer(request, _raw_path(request), _clock(request))


@compressed_router.api_route(
    "/{segment}", methods=["HEAD", "OPTIONS"], include_in_schema=False, response_model=None
)
@compressed_router.get(
    "/{segment}",
    summary="Resolve a compressed GS1 Digital Link; HEAD and OPTIONS too",
    response_model=None,
)
async def resolve_compressed(request: Request, segment: str) -> Response:
    authority = _authority(request)
    base = f"https://{authority}"
    uncompressed = gs1.decompress(base, segment)
    if uncompressed is None:
        return _not_found(request, dict(_BASE_HEADERS), f"nothing at /{segment}")
    parts = urlsplit(uncompressed)
    if not parts.path.startswith("/01/"):
        return _not_found(request, dict(_BASE_HEADERS), "only GTINs (AI 01) are resolved here")
    # The compressed code is answered like the uncompressed one, query and all.
    query = "&".join(x for x in (parts.query, _query(request)) if x)
    return await _answer(
        request, parts.path, _clock(request), same_as=uncompressed, query_string=query
    )


@router.api_route(
    "/proof/{index}", methods=["HEAD"], include_in_schema=False, response_model=None
)
@router.get(
    "/proof/{index}",
    summary="The public proof of one journey step (HTML; JSON: the public proof bundle)",
    response_model=None,
)
async def proof_page(
    request: Request,
    index: Annotated[int, Path(ge=0, le=2**62)],
    format: Annotated[str | None, Query(pattern="^(json|html)$")] = None,
) -> Response:
    if (limited := _rate_limited(request)) is not None:
        return limited
    pool = request.app.state.pool

    def read() -> ProofView | None:
        with pool.connection() as conn:
            return proof_view(conn, index)

    view = await asyncio.to_thread(read)
    headers = {k: v for k, v in _BASE_HEADERS.items() if k != "Cache-Control"}
    headers["Cache-Control"] = "public, max-age=60"
    if view is None:
        return _not_found(request, headers, f"no ledger entry {index}")
    if format == "json" or (format is None and _wants(request, "json")):
        if view.bundle is None:
            from cloud.api.errors import problem_response

            return problem_response(
                request, 409, f"entry {index} is not covered by a confirmed anchor yet",
                headers={**headers, "Retry-After": "60"},
            )  # fmt: skip
        return JSONResponse(view.bundle, headers=headers)
    settings = request.app.state.settings
    lang = preferred_language(request.headers.get("accept-language"))
    page = render_proof(
        view, lang, timezone=settings.console_timezone,
        explorer_tx_url=settings.chain_explorer_tx_url,
    )  # fmt: skip
    return HTMLResponse(page, headers=headers)


@router.get("/.well-known/gs1resolver", summary="GS1 resolver description file")
async def resolver_description(request: Request) -> JSONResponse:
    root = f"https://{_authority(request)}"
    return JSONResponse(
        gs1.description(root, "ChannelTrace resolver"),
        headers={k: v for k, v in _BASE_HEADERS.items() if k != "Cache-Control"},
    )


@router.post("/report", summary="Report a suspected fake (the verdict page's form)")
async def report_fake(request: Request) -> Response:
    lang = preferred_language(request.headers.get("accept-language"))
    if (limited := _rate_limited_report(request)) is not None:
        return limited
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site == "cross-site" or (origin and urlsplit(origin).netloc != _authority(request)):
        from cloud.api.errors import problem_response

        return problem_response(request, 403, "reports are taken from this resolver's own pages")
    form = await request.form()
    lang = str(form.get("lang") or lang)
    lang = lang if lang in ("en", "zh") else "en"
    token = read_token(_client_key(request), str(form.get("token") or ""))
    address = request.client.host if request.client is not None else "unknown"
    now = datetime.now(UTC)
    from cloud.provenance.pages import render_report_answer

    if token is None or not token.fresh(now) or token.client != client_tag(
        _client_key(request), address, token.gtin, token.serial or ""
    ):
        return HTMLResponse(
            render_report_answer(lang, accepted=False), status_code=400, headers=_BASE_HEADERS
        )
    try:
        await store_report(
            _service(request).writer.pool, token,
            reason=str(form.get("reason") or "other"), seller=str(form.get("seller") or ""),
            note=str(form.get("note") or ""),
        )  # fmt: skip
    except ValueError as exc:
        from cloud.api.errors import problem_response

        return problem_response(request, 422, str(exc))
    return HTMLResponse(render_report_answer(lang, accepted=True), headers=_BASE_HEADERS)


def _rate_limited_report(request: Request) -> Response | None:
    from cloud.auth.ratelimit import RateLimiter

    limiter: RateLimiter | None = getattr(request.app.state, "report_limiter", None)
    if limiter is None:
        limiter = RateLimiter(request.app.state.settings.public_report_rate_limit)
        request.app.state.report_limiter = limiter
    address = request.client.host if request.client is not None else "unknown"
    verdict = limiter.hit(address, bucket="report")
    if verdict.allowed:
        return None
    from cloud.api.errors import problem_response

    return problem_response(
        request, 429, f"at most {limiter.limit} reports; retry in {verdict.retry_after_s} s",
        headers={"Retry-After": str(verdict.retry_after_s)},
    )  # fmt: skip
