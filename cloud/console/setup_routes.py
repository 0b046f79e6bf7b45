"""The console's setup pages: where a brand manager sets up and keeps the channel
(docs/channel-setup.md). Brand only: a distributor's login gets a page saying so.

| route | page |
|---|---|
| ``GET /console/setup`` | what is set up, what is missing (sites without coordinates) |
| ``GET/POST /console/setup/{distributors,sites,products}`` | list, and add one |
| ``GET/POST /console/setup/{distributors,sites,products}/{key}`` | edit one |
| ``GET/POST /console/setup/mappings``, ``POST .../mappings/delete`` | EPCIS locations, parties |
| ``GET/POST /console/setup/prefixes``, ``POST .../prefixes/{prefix}/remove`` | GS1 prefixes |
| ``GET/POST /console/setup/logins``, ``POST .../logins/{username}/disable`` | logins |
| ``GET/POST /console/setup/import``, ``POST .../imports/{id}/apply`` | CSV/XLSX import |
| ``GET /console/setup/changes`` | the change log |
| ``GET /console/setup/regions`` | GB/T 2260 codes of provinces and cities |
| ``GET /console/setup/export.xlsx``, ``.csv``, ``template.xlsx`` | downloads |
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, Final
from urllib.parse import quote

import psycopg
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from cloud.api.deps import get_conn
from cloud.auth.csrf import valid_csrf
from cloud.auth.principal import Role
from cloud.channel.changes import Actor, list_changes
from cloud.channel.errors import (
    ImportRefused,
    InvalidRecord,
    RecordConflict,
    RecordNotFound,
)
from cloud.channel.export import channel_rows, to_csv, to_xlsx
from cloud.channel.geocode import Geocoder, default_geocoder
from cloud.channel.importer import apply_stored, import_file, list_imports, load_import
from cloud.channel.people import add_login, disable_login, generate_password, list_logins
from cloud.channel.records import Kind, parse_record
from cloud.channel.regions import Level
from cloud.channel.sheets import XLSX_MEDIA_TYPE
from cloud.channel.store import SaveMode, delete_mapping, get_record, save_record
from cloud.console import setup
from cloud.console.errors import CsrfError
from cloud.console.rendering import TZ_COOKIE, render, zone_named
from cloud.console.routes import _no_nul
from cloud.console.session import ConsoleConn, ConsoleSession, Session

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False, dependencies=[Depends(_no_nul)])
_KINDS: Final = {"distributors": Kind.DISTRIBUTOR, "sites": Kind.SITE, "products": Kind.PRODUCT}
_MAX_FORM = 2048


def _geocoder(request: Request) -> Geocoder:
    path = request.app.state.settings.geocoder_data
    return default_geocoder(None if path is None else str(path))


Geo = Annotated[Geocoder, Depends(_geocoder)]


def _owner_conn(session: Session, request: Request) -> Iterator[psycopg.Connection[Any]]:
    """Logins live where the API's role cannot read (docs/security.md): an owner connection,
    used only by the brand's login pages, which filter on the session's tenant."""
    yield from get_conn(request)


OwnerConn = Annotated[psycopg.Connection[Any], Depends(_owner_conn)]


def _brand(request: Request, session: ConsoleSession) -> Response | None:
    if session.principal.role is Role.BRAND:
        return None
    return render(request, "setup_forbidden.html", session, status=403)


def _csrf(session: ConsoleSession, token: str | None) -> None:
    if not valid_csrf(session.token, token):
        raise CsrfError("the form's CSRF token does not match this session; reload the page")


def _actor(session: ConsoleSession) -> Actor:
    return Actor(session.principal.subject, "console")


def _redirect(path: str, note: str | None = None) -> Response:
    target = path + (f"?saved={quote(note)}" if note else "")
    return RedirectResponse(target, status_code=303)


@router.get("/timezone")
def choose_timezone(
    request: Request,
    tz: Annotated[str, Query(max_length=64)],
    next: Annotated[str, Query(max_length=2048)] = "/console/map",
) -> Response:
    """Remember the viewer's time zone (a cookie; no login needed to choose one)."""
    target = next if next.startswith("/console/") and not next.startswith("/console//") else (
        "/console/map")  # fmt: skip
    response = RedirectResponse(target, status_code=303)
    if zone_named(tz) is not None:
        response.set_cookie(TZ_COOKIE, tz, max_age=365 * 86_400, path="/console",
                            secure=request.url.scheme == "https", samesite="lax")  # fmt: skip
    return response


@router.get("/setup")
def setup_home(request: Request, session: Session, conn: ConsoleConn) -> Response:
    if (refused := _brand(request, session)) is not None:
        return refused
    counts = setup.counts(conn, session.tenant)
    unplaced = [s for s in setup.site_rows(conn, session.tenant, _geocoder(request))
                if s["latitude"] is None]  # fmt: skip
    imports = list_imports(conn, session.tenant, limit=5)
    return render(request, "setup.html", session, active="setup", counts=counts,
                  unplaced=unplaced, imports=imports)  # fmt: skip


@router.get("/setup/regions")
def setup_regions(request: Request, session: Session, geocoder: Geo) -> Response:
    provinces = geocoder.regions(Level.PROVINCE)
    cities = geocoder.regions(Level.CITY)
    by_province = {p.code: [c for c in cities if c.code[:2] == p.code[:2]] for p in provinces}
    return render(request, "setup_regions.html", session, active="setup", provinces=provinces,
                  cities=by_province)  # fmt: skip


# ----------------------------------------------------------------------------- records


def _list_page(
    request: Request, session: ConsoleSession, conn: Any, kind: Kind, geocoder: Geocoder,
    form: setup.FormState | None = None, status: int = 200, saved: str | None = None,
) -> Response:  # fmt: skip
    tenant = session.tenant
    rows: list[dict[str, Any]]
    if kind is Kind.DISTRIBUTOR:
        rows = setup.distributor_rows(conn, tenant, geocoder)
    elif kind is Kind.SITE:
        rows = setup.site_rows(conn, tenant, geocoder)
    else:
        from cloud.channel.store import list_records

        rows = list_records(conn, tenant, kind)
    return render(
        request, f"setup_{kind.plural}.html", session, status=status, active="setup",
        rows=rows, kind=kind, fields=setup.FORMS[kind], form=form or setup.FormState(),
        choices=setup.choices(conn, tenant), saved=saved, editing=None,
    )  # fmt: skip


def _edit_page(
    request: Request, session: ConsoleSession, conn: Any, kind: Kind, key: str,
    form: setup.FormState | None = None, status: int = 200, saved: str | None = None,
) -> Response:  # fmt: skip
    record = get_record(conn, session.tenant, kind, key)
    if record is None:
        return render(request, "not_found.html", session, status=404, what=f"{kind.value} {key}")
    history = list_changes(conn, session.tenant, entity=kind.value, key=key, limit=20)
    return render(
        request, "setup_edit.html", session, status=status, active="setup", kind=kind,
        key=key, record=record, fields=setup.FORMS[kind],
        form=form or setup.FormState.of(record), choices=setup.choices(conn, session.tenant),
        history=history, saved=saved,
    )  # fmt: skip


async def _form_values(request: Request, kind: Kind) -> tuple[dict[str, str], str | None]:
    data = await request.form()
    values = {}
    for f in setup.FORMS[kind]:
        value = data.get(f.name)
        values[f.name] = value[:_MAX_FORM] if isinstance(value, str) else ""
    csrf = data.get("csrf")
    return values, csrf if isinstance(csrf, str) else None


def _save(
    request: Request, session: ConsoleSession, conn: Any, kind: Kind, values: dict[str, str],
    mode: SaveMode, geocoder: Geocoder, key: str | None = None,
) -> Response:  # fmt: skip
    raw = {k: v for k, v in values.items() if not (key is not None and k == setup.FORMS[kind][0]
                                                   .name)}  # fmt: skip
    if key is not None:
        raw[setup.FORMS[kind][0].name] = key
    form = setup.FormState(dict(values))
    base = f"/console/setup/{kind.plural}"
    try:
        record = parse_record(kind, raw, geocoder)
        change = save_record(conn, session.tenant, record, _actor(session), mode=mode)
    except InvalidRecord as exc:
        form.add(exc.problems)
    except (RecordConflict, RecordNotFound) as exc:
        form.general.append(str(exc))
    else:
        note = f"{kind.value} {change.key} {change.action}d" if change.action != "unchanged" \
            else f"{kind.value} {change.key}: nothing changed"  # fmt: skip
        return _redirect(f"{base}/{quote(change.key, safe='')}", note)
    if key is None:
        return _list_page(request, session, conn, kind, geocoder, form, status=422)
    return _edit_page(request, session, conn, kind, key, form, status=422)


def _register_record_pages(plural: str, kind: Kind) -> None:
    def list_page(
        request: Request, session: Session, conn: ConsoleConn, geocoder: Geo,
        saved: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:  # fmt: skip
        if (refused := _brand(request, session)) is not None:
            return refused
        return _list_page(request, session, conn, kind, geocoder, saved=saved)

    async def create(
        request: Request, session: Session, conn: ConsoleConn, geocoder: Geo
    ) -> Response:
        values, token = await _form_values(request, kind)
        _csrf(session, token)
        if (refused := _brand(request, session)) is not None:
            return refused
        return _save(request, session, conn, kind, values, SaveMode.CREATE, geocoder)

    def edit_page(
        request: Request, session: Session, conn: ConsoleConn, key: str,
        saved: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:  # fmt: skip
        if (refused := _brand(request, session)) is not None:
            return refused
        return _edit_page(request, session, conn, kind, key, saved=saved)

    async def update(
        request: Request, session: Session, conn: ConsoleConn, key: str, geocoder: Geo
    ) -> Response:
        values, token = await _form_values(request, kind)
        _csrf(session, token)
        if (refused := _brand(request, session)) is not None:
            return refused
        return _save(request, session, conn, kind, values, SaveMode.UPDATE, geocoder, key)

    router.add_api_route(f"/setup/{plural}", list_page, methods=["GET"])
    router.add_api_route(f"/setup/{plural}", create, methods=["POST"])
    router.add_api_route(f"/setup/{plural}/{{key}}", edit_page, methods=["GET"])
    router.add_api_route(f"/setup/{plural}/{{key}}", update, methods=["POST"])


for _plural, _kind in _KINDS.items():
    _register_record_pages(_plural, _kind)


# ----------------------------------------------------------------------------- mappings


def _mappings_page(
    request: Request, session: ConsoleSession, conn: Any, forms: dict[str, setup.FormState],
    status: int = 200, saved: str | None = None,
) -> Response:  # fmt: skip
    return render(
        request, "setup_mappings.html", session, status=status, active="setup",
        rows=setup.mapping_rows(conn, session.tenant), forms=forms, forms_spec=setup.FORMS,
        choices=setup.choices(conn, session.tenant), saved=saved, Kind=Kind,
        blank=setup.FormState(),
    )  # fmt: skip


@router.get("/setup/mappings")
def mappings(
    request: Request, session: Session, conn: ConsoleConn,
    saved: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:  # fmt: skip
    if (refused := _brand(request, session)) is not None:
        return refused
    return _mappings_page(request, session, conn, {}, saved=saved)


@router.post("/setup/mappings")
def add_mapping(
    request: Request,
    session: Session,
    conn: ConsoleConn,
    geocoder: Geo,
    kind: Annotated[str, Form(max_length=16)],
    key: Annotated[str, Form(max_length=512)] = "",
    target: Annotated[str, Form(max_length=64)] = "",
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _csrf(session, csrf)
    if (refused := _brand(request, session)) is not None:
        return refused
    parsed = Kind.LOCATION if kind == "location" else Kind.PARTY
    names = ("location", "site_id") if parsed is Kind.LOCATION else ("party", "distributor_id")
    values = {names[0]: key, names[1]: target}
    form = setup.FormState(dict(values))
    try:
        record = parse_record(parsed, values, geocoder)
        change = save_record(conn, session.tenant, record, _actor(session))
    except InvalidRecord as exc:
        form.add(exc.problems)
    else:
        return _redirect("/console/setup/mappings", f"{parsed.value} {change.key} {change.action}")
    return _mappings_page(request, session, conn, {parsed.value: form}, status=422)


@router.post("/setup/mappings/delete")
def remove_mapping(
    request: Request,
    session: Session,
    conn: ConsoleConn,
    kind: Annotated[str, Form(max_length=16)],
    key: Annotated[str, Form(max_length=512)],
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _csrf(session, csrf)
    if (refused := _brand(request, session)) is not None:
        return refused
    parsed = Kind.LOCATION if kind == "location" else Kind.PARTY
    try:
        delete_mapping(conn, session.tenant, parsed, key, _actor(session))
    except RecordNotFound:
        return render(request, "not_found.html", session, status=404, what=f"{kind} {key}")
    return _redirect("/console/setup/mappings", f"{parsed.value} {key} removed")


# ----------------------------------------------------------------------------- prefixes


def _prefix_page(
    request: Request, session: ConsoleSession, conn: Any, form: setup.FormState,
    status: int = 200, saved: str | None = None,
) -> Response:  # fmt: skip
    from cloud.channel.store import list_records

    return render(request, "setup_prefixes.html", session, status=status, active="setup",
                  rows=list_records(conn, session.tenant, Kind.PREFIX), form=form,
                  saved=saved)  # fmt: skip


@router.get("/setup/prefixes")
def prefixes(
    request: Request, session: Session, conn: ConsoleConn,
    saved: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:  # fmt: skip
    if (refused := _brand(request, session)) is not None:
        return refused
    return _prefix_page(request, session, conn, setup.FormState(), saved=saved)


@router.post("/setup/prefixes")
def add_company_prefix(
    request: Request,
    session: Session,
    conn: ConsoleConn,
    geocoder: Geo,
    prefix: Annotated[str, Form(max_length=40)],
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _csrf(session, csrf)
    if (refused := _brand(request, session)) is not None:
        return refused
    form = setup.FormState({"prefix": prefix})
    try:
        record = parse_record(Kind.PREFIX, {"prefix": prefix}, geocoder)
        change = save_record(conn, session.tenant, record, _actor(session))
    except InvalidRecord as exc:
        form.add(exc.problems)
    else:
        note = f"prefix {change.key} registered" if change.action == "create" else (
            f"prefix {change.key} was registered to you already")  # fmt: skip
        return _redirect("/console/setup/prefixes", note)
    return _prefix_page(request, session, conn, form, status=422)


@router.post("/setup/prefixes/{prefix}/remove")
def remove_company_prefix(
    request: Request, session: Session, conn: ConsoleConn, prefix: str,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:  # fmt: skip
    _csrf(session, csrf)
    if (refused := _brand(request, session)) is not None:
        return refused
    form = setup.FormState()
    try:
        delete_mapping(conn, session.tenant, Kind.PREFIX, prefix, _actor(session))
    except RecordNotFound:
        return render(request, "not_found.html", session, status=404, what=f"prefix {prefix}")
    except RecordConflict as exc:
        form.general.append(str(exc))
        return _prefix_page(request, session, conn, form, status=409)
    return _redirect("/console/setup/prefixes", f"prefix {prefix} removed")


# ----------------------------------------------------------------------------- logins


@router.get("/setup/logins")
def logins(
    request: Request, session: Session, conn: OwnerConn, scoped: ConsoleConn,
    saved: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:  # fmt: skip
    if (refused := _brand(request, session)) is not None:
        return refused
    return render(request, "setup_logins.html", session, active="setup",
                  users=list_logins(conn, session.tenant), choices=setup.choices(
                      scoped, session.tenant), form=setup.FormState(), saved=saved,
                  created=None)  # fmt: skip


@router.post("/setup/logins")
def add_console_login(
    request: Request,
    session: Session,
    conn: OwnerConn,
    scoped: ConsoleConn,
    username: Annotated[str, Form(max_length=128)],
    distributor_id: Annotated[str, Form(max_length=64)] = "",
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _csrf(session, csrf)
    if (refused := _brand(request, session)) is not None:
        return refused
    role = "distributor" if distributor_id else "brand"
    password = generate_password()
    form = setup.FormState({"username": username, "distributor_id": distributor_id})
    created = None
    try:
        user = add_login(conn, session.tenant, username, password, role,
                         distributor_id or None, _actor(session))  # fmt: skip
        created = {"username": user.username, "password": password}
    except InvalidRecord as exc:
        form.add(exc.problems)
    except RecordConflict as exc:
        form.general.append(str(exc))
    return render(request, "setup_logins.html", session, status=200 if created else 422,
                  active="setup", users=list_logins(conn, session.tenant),
                  choices=setup.choices(scoped, session.tenant), form=form, saved=None,
                  created=created)  # fmt: skip


@router.post("/setup/logins/{username}/disable")
def disable_console_login(
    request: Request, session: Session, conn: OwnerConn, username: str,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:  # fmt: skip
    _csrf(session, csrf)
    if (refused := _brand(request, session)) is not None:
        return refused
    try:
        disable_login(conn, session.tenant, username, _actor(session))
    except RecordNotFound:
        return render(request, "not_found.html", session, status=404, what=f"login {username}")
    return _redirect("/console/setup/logins", f"login {username} disabled")


# ----------------------------------------------------------------------------- imports


@router.get("/setup/import")
def import_page(request: Request, session: Session, conn: ConsoleConn) -> Response:
    if (refused := _brand(request, session)) is not None:
        return refused
    return render(request, "setup_import.html", session, active="setup", report=None,
                  stored=None, imports=list_imports(conn, session.tenant), error=None)


@router.post("/setup/import")
async def upload_import(
    request: Request,
    session: Session,
    conn: ConsoleConn,
    geocoder: Geo,
    file: Annotated[UploadFile, File()],
    dry_run: Annotated[str | None, Form()] = None,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    _csrf(session, csrf)
    if (refused := _brand(request, session)) is not None:
        return refused
    content = await file.read()
    name = (file.filename or "upload")[-255:]
    media = XLSX_MEDIA_TYPE if name.lower().endswith(".xlsx") else (
        file.content_type or "text/csv")  # fmt: skip
    from starlette.concurrency import run_in_threadpool

    def work() -> Response:
        try:
            report = import_file(conn, session.tenant, name, media, content, _actor(session),
                                 geocoder, dry_run=dry_run is not None)  # fmt: skip
        except ImportRefused as exc:
            return render(request, "setup_import.html", session, status=422, active="setup",
                          report=None, stored=None, imports=list_imports(conn, session.tenant),
                          error=str(exc))  # fmt: skip
        stored = None if report.import_id is None else load_import(
            conn, session.tenant, report.import_id)  # fmt: skip
        return render(request, "setup_import.html", session, active="setup", report=report,
                      stored=stored, imports=list_imports(conn, session.tenant), error=None,
                      status=200 if report.problem_count == 0 else 422)  # fmt: skip

    return await run_in_threadpool(work)


@router.post("/setup/imports/{import_id}/apply")
def apply_import(
    request: Request, session: Session, conn: ConsoleConn, geocoder: Geo, import_id: int,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:  # fmt: skip
    _csrf(session, csrf)
    if (refused := _brand(request, session)) is not None:
        return refused
    try:
        report = apply_stored(conn, session.tenant, import_id, _actor(session), geocoder)
    except RecordNotFound:
        return render(request, "not_found.html", session, status=404, what=f"import {import_id}")
    except RecordConflict as exc:
        return render(request, "setup_import.html", session, status=409, active="setup",
                      report=None, stored=None, imports=list_imports(conn, session.tenant),
                      error=str(exc))  # fmt: skip
    return render(request, "setup_import.html", session, active="setup", report=report,
                  stored=load_import(conn, session.tenant, import_id),
                  imports=list_imports(conn, session.tenant), error=None)  # fmt: skip


# ----------------------------------------------------------------------------- log, files


@router.get("/setup/changes")
def changes_page(
    request: Request,
    session: Session,
    conn: ConsoleConn,
    entity: Annotated[str | None, Query(max_length=16)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    if (refused := _brand(request, session)) is not None:
        return refused
    entries = list_changes(conn, session.tenant, entity=entity or None, limit=100,
                           before_id=before)  # fmt: skip
    return render(request, "setup_changes.html", session, active="setup", entries=entries,
                  entity=entity or "")  # fmt: skip


def _download(body: bytes, name: str, media: str) -> Response:
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


def _files(kind: str) -> Callable[..., Response]:
    def download(request: Request, session: Session, conn: ConsoleConn) -> Response:
        if (refused := _brand(request, session)) is not None:
            return refused
        rows = channel_rows(conn, session.tenant)
        stem = f"{session.tenant}-channel"
        if kind == "csv":
            return _download(to_csv(rows).encode("utf-8-sig"), f"{stem}.csv", "text/csv")
        if kind == "template":
            return _download(to_xlsx({}, examples=True), "channel-template.xlsx",
                             XLSX_MEDIA_TYPE)  # fmt: skip
        return _download(to_xlsx(rows), f"{stem}.xlsx", XLSX_MEDIA_TYPE)

    return download


router.add_api_route("/setup/export.xlsx", _files("xlsx"), methods=["GET"])
router.add_api_route("/setup/export.csv", _files("csv"), methods=["GET"])
router.add_api_route("/setup/template.xlsx", _files("template"), methods=["GET"])
