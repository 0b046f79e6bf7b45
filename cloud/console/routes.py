"""The console's pages under ``/console`` (HTML for people; not part of the OpenAPI schema).

| route | page |
|---|---|
| ``GET/POST /console/login``, ``POST /console/logout`` | session cookie in and out |
| ``GET /console/map`` | channel map: sites coloured by status, and a table |
| ``GET /console/sites/{site}?range=`` | climate charts, storage band, stock, devices, alerts |
| ``GET /console/alerts``, ``POST /console/alerts/{id}/{action}`` | alert inbox |
| ``GET /console/units?q=``, ``GET /console/unit?epc=`` | provenance explorer |
| ``GET /console/scans?days=`` | consumer scans with clone/diversion clusters |
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from psycopg_pool import PoolTimeout

from cloud.api.deps import Catalog, Pool, SettingsDep, check_rate, database_errors
from cloud.api.errors import Unavailable
from cloud.auth.csrf import valid_csrf
from cloud.auth.tokens import login as token_login
from cloud.console import charts
from cloud.console.errors import BadInput, CsrfError
from cloud.console.explorer import find_units, proof_state, scan_map, unit_view
from cloud.console.lookup import BadLookup, parse_lookup
from cloud.console.names import channel_names
from cloud.console.pages import alerts_table_exists, channel_sites, list_alerts, site_detail
from cloud.console.rendering import render, templates, viewer_zone
from cloud.console.session import (
    ConsoleConn,
    ConsoleSession,
    Session,
    clear_session_cookie,
    set_session_cookie,
)
from cloud.console.workflow import AlertAction, apply_alert_action
from cloud.settings import ApiSection

__all__ = ["RANGES", "router", "templates"]

_logger = logging.getLogger(__name__)


def _no_nul(request: Request) -> None:
    """PostgreSQL text cannot hold NUL: refuse it in the path or query before any query."""
    if "\x00" in request.url.path or "%00" in request.url.query or "\x00" in request.url.query:
        raise BadInput("the request contains a NUL character")


router = APIRouter(prefix="/console", include_in_schema=False, dependencies=[Depends(_no_nul)])

RANGES: Final = {
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
ALERT_STATES: Final = ("open", "acknowledged", "resolved")
SCAN_DAYS: Final = (1, 7, 30, 90)


def _page(
    request: Request,
    name: str,
    session: ConsoleSession | None,
    status: int = 200,
    **context: Any,
) -> Response:
    return render(request, name, session, status, **context)


def _safe_next(target: str | None) -> str:
    """Only console paths: ``next`` must never send a person to another site."""
    if target and target.startswith("/console/") and not target.startswith("/console//"):
        return target
    return "/console/map"


# ----------------------------------------------------------------------------- session


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home() -> Response:
    return RedirectResponse("/console/map", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    return _page(request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    pool: Pool,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str | None, Form(max_length=2048)] = None,
) -> Response:
    # The same per-client budget as POST /auth/token: guessing passwords through the
    # console is no cheaper than through the API.
    rate = check_rate(request)
    if not rate.allowed:
        _logger.info("console login throttled (%s)", rate.limit)
        response = _page(
            request, "login.html", None, status=429, next=_safe_next(next), username=username,
            error=f"Too many attempts from your address; try again in {rate.retry_after_s} s.",
        )  # fmt: skip
        response.headers["Retry-After"] = str(rate.retry_after_s)
        return response
    credentials_ok = "\x00" not in username and "\x00" not in password  # never valid
    with database_errors():  # a connection for the lookup only, not for Argon2
        token = token_login(pool, settings, username, password) if credentials_ok else None
    if token is None:
        _logger.info("console login refused for %r", username)
        return _page(
            request, "login.html", None, status=401, next=_safe_next(next),
            error="Unknown user or wrong password.", username=username,
        )  # fmt: skip
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(response, request, token, settings.auth_token_ttl_seconds)
    return response


def _check_csrf(session: ConsoleSession, token: str | None) -> None:
    if not valid_csrf(session.token, token):
        raise CsrfError("the form's CSRF token does not match this session; reload the page")


@router.post("/logout")
def logout(
    request: Request, session: Session, csrf: Annotated[str | None, Form()] = None
) -> Response:
    _check_csrf(session, csrf)
    response = RedirectResponse("/console/login", status_code=303)
    clear_session_cookie(response, request)
    return response


# ------------------------------------------------------------------------------- pages


@router.get("/map", response_class=HTMLResponse)
def channel_map(
    request: Request, session: Session, conn: ConsoleConn, settings: SettingsDep
) -> Response:
    stale = timedelta(seconds=settings.device_stale_after_seconds)
    sites = channel_sites(conn, session.principal, stale_after=stale)
    counts: dict[str, int] = {}
    for s in sites:
        counts[s.status.value] = counts.get(s.status.value, 0) + 1
    names = channel_names(conn, session.tenant)
    unplaced = [s for s in sites if s.latitude is None or s.longitude is None]
    return _page(
        request, "map.html", session, sites=sites, counts=counts, names=names,
        unplaced=unplaced, drawing=charts.site_map(sites, names, _outlines(request)),
        narrow=charts.site_map(sites, names, _outlines(request), width=380),
        active="map",
    )  # fmt: skip


def _outlines(request: Request) -> tuple[Any, ...]:
    from cloud.channel.geocode import default_geocoder
    from cloud.channel.outlines import province_outlines

    path = request.app.state.settings.geocoder_data
    return province_outlines(default_geocoder(None if path is None else str(path)))


@router.get("/stock", response_class=HTMLResponse)
def stock_page(
    request: Request,
    session: Session,
    conn: ConsoleConn,
    differences: Annotated[bool, Query()] = False,
) -> Response:
    """Ledger-implied beside sensed stock for every site and product the viewer sees."""
    from cloud.channel.positions import stock_positions

    positions = stock_positions(conn, session.tenant)
    if differences:
        positions = [p for p in positions if p.difference not in (0, None)]
    names = channel_names(conn, session.tenant)
    products = _product_names(conn, session.tenant)
    by_site: dict[str, list[Any]] = {}
    for p in positions:
        by_site.setdefault(p.site_id, []).append(p)
    ordered = dict(sorted(by_site.items(), key=lambda kv: names.get(kv[0], kv[0])))
    return _page(
        request, "stock.html", session, active="stock", by_site=ordered, names=names,
        products=products, differences=differences,
    )  # fmt: skip


def _product_names(conn: Any, tenant: str) -> dict[str, dict[str, Any]]:
    from cloud.channel.records import Kind
    from cloud.channel.store import list_records

    return {p["gtin"]: p for p in list_records(conn, tenant, Kind.PRODUCT)}


@router.get("/sites/{site}", response_class=HTMLResponse)
def site_page(
    request: Request,
    session: Session,
    conn: ConsoleConn,
    settings: SettingsDep,
    catalog: Catalog,
    site: str,
    range: Annotated[str, Query(max_length=8)] = "24h",
) -> Response:
    span = RANGES.get(range, RANGES["24h"])
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    start = end - span
    detail = site_detail(
        conn, session.principal, site, start=start, end=end,
        stale_after=timedelta(seconds=settings.device_stale_after_seconds),
        available_rollups=catalog.available(conn),
    )  # fmt: skip
    if detail is None:
        return _page(request, "not_found.html", session, status=404, what=f"site {site}")
    from cloud.channel.positions import stock_positions

    tz = viewer_zone(request)
    return _page(
        request, "site.html", session, d=detail, range=range if range in RANGES else "24h",
        ranges=list(RANGES), charts=charts.site_charts(detail, start, end, tz=tz),
        positions=stock_positions(conn, session.tenant, site=site),
        products=_product_names(conn, session.tenant), names=channel_names(conn, session.tenant),
        grafana=_grafana_site(settings, session.tenant, site), active="map",
        region_name=_region_name(request, detail.site.region),
    )  # fmt: skip


def _region_name(request: Request, code: str | None) -> str | None:
    from cloud.channel.geocode import default_geocoder

    if not code:
        return None
    path = request.app.state.settings.geocoder_data
    info = default_geocoder(None if path is None else str(path)).region(code)
    if info is None:
        return None
    return info.name if info.parent in (None, info.name) else f"{info.parent} {info.name}"


def _grafana_site(settings: ApiSection, tenant: str, site: str) -> str | None:
    """The site's climate dashboard in Grafana (deploy/grafana), when CT_GRAFANA_URL is set."""
    if settings.grafana_url is None:
        return None
    query = urlencode({"var-tenant": tenant, "var-site": site})
    return f"{settings.grafana_url}/d/ct-climate-site?{query}"


@router.get("/alerts", response_class=HTMLResponse)
def alert_inbox(
    request: Request,
    session: Session,
    conn: ConsoleConn,
    state: Annotated[str, Query(max_length=16)] = "open",
    kind: Annotated[str | None, Query(max_length=64)] = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    states = (state,) if state in ALERT_STATES else ("open", "acknowledged")
    available = alerts_table_exists(conn)
    alerts = (
        list_alerts(conn, session.principal, states=states, kind=kind or None, site=site or None)
        if available
        else []
    )
    return _page(
        request, "alerts.html", session, alerts=alerts, state=state, kind=kind or "",
        site=site or "", states=ALERT_STATES, available=available, kinds=_alert_kinds(),
        names=channel_names(conn, session.tenant), active="alerts",
    )  # fmt: skip


def _alert_kinds() -> list[str]:
    from cloud.alerts.model import AlertKind

    return [k.value for k in AlertKind]


@router.post("/alerts/{alert_id}/{action}")
def alert_action(
    request: Request,
    session: Session,
    conn: ConsoleConn,
    alert_id: int,
    action: AlertAction,
    csrf: Annotated[str | None, Form()] = None,
    back: Annotated[str | None, Form(max_length=2048)] = None,
) -> Response:
    _check_csrf(session, csrf)
    if not apply_alert_action(conn, session.principal, alert_id, action):
        return _page(request, "not_found.html", session, status=404, what=f"alert {alert_id}")
    return RedirectResponse(_safe_next(back or "/console/alerts"), status_code=303)


@router.get("/units", response_class=HTMLResponse)
def unit_search(
    request: Request,
    session: Session,
    conn: ConsoleConn,
    q: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    if not q.strip():
        return _page(request, "units.html", session, q="", units=None, error=None)
    try:
        lookup = parse_lookup(q)
    except BadLookup as exc:
        return _page(request, "units.html", session, status=400, q=q, units=None, error=str(exc))
    if lookup.epc is not None:
        return RedirectResponse(f"/console/unit?{urlencode({'epc': lookup.epc})}", status_code=303)
    units = find_units(conn, session.tenant, lookup)
    return _page(request, "units.html", session, q=q, units=units, error=None, quote=quote,
                 names=channel_names(conn, session.tenant))  # fmt: skip


@router.get("/unit", response_class=HTMLResponse)
def unit_page(
    request: Request,
    session: Session,
    conn: ConsoleConn,
    epc: Annotated[str, Query(max_length=512)],
) -> Response:
    try:
        lookup = parse_lookup(epc)
    except BadLookup as exc:
        return _page(request, "units.html", session, status=400, q=epc, units=None, error=str(exc))
    pool = request.app.state.pool
    try:
        with pool.connection(timeout=5.0) as public:  # checkpoints and anchors: no tenant data
            proofs = proof_state(public)
    except PoolTimeout:
        raise Unavailable("no database connection for the proof status within 5 s") from None
    view = None if lookup.epc is None else unit_view(conn, session.tenant, lookup.epc, proofs)
    if view is None:
        return _page(request, "not_found.html", session, status=404, what=f"unit {epc}")
    settings: ApiSection = request.app.state.settings
    explorer = settings.chain_explorer_tx_url
    tx = view.proofs.anchor.tx_hash if view.proofs.anchor is not None else None
    return _page(
        request, "unit.html", session, v=view, names=channel_names(conn, session.tenant),
        tx_url=explorer.replace("{tx}", tx) if explorer and tx else None, active="units",
    )  # fmt: skip


@router.get("/scans", response_class=HTMLResponse)
def scans_page(
    request: Request,
    session: Session,
    conn: ConsoleConn,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> Response:
    data = scan_map(conn, session.tenant, days=days)
    return _page(
        request, "scans.html", session, data=data, days=days, choices=SCAN_DAYS,
        drawing=charts.scan_drawing(data, _outlines(request)), active="scans",
    )  # fmt: skip
