"""``channeltrace cloud channel ...`` (a brand's channel master data) and ``channeltrace
cloud tenants ...`` (the operator's: a new tenant with its first brand manager).

Runs with an owner connection (``CT_DATABASE_URL``); every change is logged in the channel
change log as made by ``cli:<user>`` (docs/channel-setup.md)."""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from common.cli import DatabaseUrl, fail

__all__ = ["channel_app", "tenants_app"]

channel_app = typer.Typer(
    help="A brand's channel: distributors, sites, products, EPCIS mappings (import, export).",
    no_args_is_help=True,
)
tenants_app = typer.Typer(help="Tenants (brands), for the operator.", no_args_is_help=True)

Tenant = Annotated[str, typer.Option(help="Tenant (brand) id.")]
Json = Annotated[bool, typer.Option("--json", help="JSON output.")]
_KINDS = "distributor, site, product, location or party"


def _connect(database_url: str | None) -> Any:
    import psycopg

    from cloud.settings import get_settings

    try:
        return psycopg.connect(database_url or get_settings().database_url, autocommit=True)
    except psycopg.OperationalError as exc:
        raise fail(f"cannot reach the database: {exc}") from None


def _actor(via: str = "cli") -> Any:
    from cloud.channel.changes import Actor

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(f"cli:{who}", via)  # type: ignore[arg-type]


def _kind(value: str | None) -> Any:
    from cloud.channel.records import Kind
    from cloud.channel.sheets import kind_named

    if value is None:
        return None
    kind = kind_named(value)
    if kind is None:
        raise fail(f"--kind: expected {_KINDS}, got {value!r}")
    return Kind(kind)


def _geocoder() -> Any:
    from cloud.channel.errors import GeocoderUnavailable
    from cloud.channel.geocode import default_geocoder
    from cloud.settings import get_settings

    path = get_settings().geocoder_data
    try:
        return default_geocoder(None if path is None else str(path))
    except GeocoderUnavailable as exc:
        raise fail(str(exc)) from None


def _require_tenant(conn: Any, tenant: str) -> None:
    from cloud.channel.store import tenant_exists

    if not tenant_exists(conn, tenant):
        raise fail(f"no tenant {tenant!r} (channeltrace cloud tenants list)")


@channel_app.command("import")
def channel_import(
    files: Annotated[list[Path], typer.Argument(help="CSV or XLSX files (docs/channel-setup.md).")],
    tenant: Tenant,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row; write nothing.")
    ] = False,
    kind: Annotated[
        str | None, typer.Option(help=f"What every row is ({_KINDS}); default: from the file.")
    ] = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Import (or check) files all or nothing; every problem is listed with its row and
    column. Exit status 1 when a file has problems (then nothing was written)."""
    from cloud.channel.errors import ImportRefused
    from cloud.channel.importer import import_file
    from cloud.channel.sheets import XLSX_MEDIA_TYPE

    geocoder = _geocoder()
    failed = False
    with _connect(database_url) as conn:
        _require_tenant(conn, tenant)
        for path in files:
            try:
                content = path.read_bytes()
            except OSError as exc:
                raise fail(f"{path}: {exc.strerror or exc}") from None
            media = XLSX_MEDIA_TYPE if path.suffix.lower() == ".xlsx" else "text/csv"
            try:
                report = import_file(conn, tenant, path.name, media, content, _actor(), geocoder,
                                     dry_run=dry_run, kind=_kind(kind))  # fmt: skip
            except ImportRefused as exc:
                raise fail(str(exc)) from None
            failed = failed or report.problem_count > 0
            if as_json:
                typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, default=str))
                continue
            typer.echo(f"{path}: {report.summary()} (import {report.import_id})")
            for problem in report.problems:
                typer.echo(f"  {problem}")
            if report.problem_count > len(report.problems):
                typer.echo(f"  … and {report.problem_count - len(report.problems)} more")
    if failed:
        raise typer.Exit(1)


@channel_app.command("export")
def channel_export(
    tenant: Tenant,
    out: Annotated[Path, typer.Option(help="channel.xlsx (a sheet per kind) or channel.csv.")],
    examples: Annotated[
        bool, typer.Option(help="An example row in each empty sheet (a template).")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Write the tenant's master data in the import's format (import it back: no change)."""
    from cloud.channel.export import channel_rows, to_csv, to_xlsx

    with _connect(database_url) as conn:
        _require_tenant(conn, tenant)
        rows = channel_rows(conn, tenant)
    if out.suffix.lower() == ".xlsx":
        out.write_bytes(to_xlsx(rows, examples=examples))
    elif out.suffix.lower() == ".csv":
        out.write_text(to_csv(rows), encoding="utf-8")
    else:
        raise fail(f"--out: expected a .xlsx or .csv file name, got {out.name!r}")
    total = sum(len(v) for v in rows.values())
    typer.echo(f"wrote {total} records of {tenant} to {out}")


@channel_app.command("list")
def channel_list(
    kind: Annotated[str, typer.Argument(help=f"{_KINDS} (or plural)")],
    tenant: Tenant,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The tenant's records of one kind."""
    from cloud.channel.store import list_records

    parsed = _kind(kind)
    with _connect(database_url) as conn:
        _require_tenant(conn, tenant)
        records = list_records(conn, tenant, parsed)
    for record in records:
        if as_json:
            typer.echo(json.dumps(record, ensure_ascii=False, default=str))
        else:
            fields = [str(v) for k, v in record.items() if v not in (None, [], "")
                      and k not in ("created_at", "updated_at")]  # fmt: skip
            typer.echo("\t".join(fields))


@channel_app.command("changes")
def channel_changes(
    tenant: Tenant,
    entity: Annotated[str | None, typer.Option(help=f"Only this kind ({_KINDS}, user).")] = None,
    key: Annotated[str | None, typer.Option(help="Only this record.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Who changed what and when (newest first), with the record before and after."""
    from cloud.channel.changes import list_changes

    with _connect(database_url) as conn:
        _require_tenant(conn, tenant)
        entries = list_changes(conn, tenant, entity=entity, key=key, limit=limit)
    for e in entries:
        if as_json:
            typer.echo(json.dumps({k: getattr(e, k) for k in e.__dataclass_fields__},
                                  ensure_ascii=False, default=str))  # fmt: skip
            continue
        typer.echo(f"{e.at:%Y-%m-%d %H:%M:%S%z}\t{e.actor} ({e.via})\t{e.action} {e.entity} "
                   f"{e.key}")  # fmt: skip
        if e.before and e.after:
            for field in e.after:
                if e.before.get(field) != e.after.get(field):
                    typer.echo(f"\t  {field}: {e.before.get(field)!r} → {e.after.get(field)!r}")


@channel_app.command("locate")
def channel_locate(
    lat: Annotated[float, typer.Argument(help="Latitude (WGS-84).")],
    lon: Annotated[float, typer.Argument(help="Longitude (WGS-84).")],
) -> None:
    """Where a point is, offline: province, city, district and their GB/T 2260 codes."""
    place = _geocoder().locate(lat, lon)
    if place is None:
        raise fail(f"{lat}, {lon} is not in China's administrative boundaries")
    for part in (place.province, place.city, place.district):
        if part is not None:
            typer.echo(f"{part.level.value}\t{part.code}\t{part.name}")


@channel_app.command("region")
def channel_region(code: Annotated[str, typer.Argument(help="440300, or CN-GD.")]) -> None:
    """The name and level of a GB/T 2260 code (is it usable as an authorised region?)."""
    from cloud.channel.errors import RegionCodeError

    geocoder = _geocoder()
    try:
        info = geocoder.authorisable(code)
    except RegionCodeError as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{info.code}\t{info.level.value}\t{info.parent or ''}{info.name}")


# ----------------------------------------------------------------------------- tenants


@tenants_app.command("create")
def tenants_create(
    tenant: Annotated[str, typer.Argument(help="Tenant id (letters, digits, . _ -).")],
    name: Annotated[str, typer.Option(help="The brand's name.")],
    manager: Annotated[str, typer.Option(help="Login name of its first brand manager.")],
    password_env: Annotated[
        str | None,
        typer.Option(help="Read the manager's password from this variable (else prompt)."),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a tenant and its first brand manager, who then sets up the channel."""
    from cloud.channel.errors import ChannelError
    from cloud.channel.people import create_tenant

    if password_env is not None:
        password = os.environ.get(password_env, "")
        if not password:
            raise fail(f"environment variable {password_env} is empty or unset")
    else:
        password = getpass.getpass("manager's password: ")
        if password != getpass.getpass("again: "):
            raise fail("the passwords differ")
    with _connect(database_url) as conn:
        try:
            create_tenant(conn, tenant, name, manager, password, _actor("operator"))
        except ChannelError as exc:
            raise fail(str(exc)) from None
    typer.echo(f"created tenant {tenant} ({name}) with brand manager {manager}")
    typer.echo("next: log in to the console (/console/setup) or import the channel "
               f"(channeltrace cloud channel import FILE --tenant {tenant})")  # fmt: skip


@tenants_app.command("list")
def tenants_list(as_json: Json = False, database_url: DatabaseUrl = None) -> None:
    """Tenants with their number of active logins."""
    from cloud.channel.people import list_tenants

    with _connect(database_url) as conn:
        rows = list_tenants(conn)
    for ident, name, logins in rows:
        if as_json:
            typer.echo(json.dumps({"id": ident, "name": name, "logins": logins},
                                  ensure_ascii=False))  # fmt: skip
        else:
            typer.echo(f"{ident}\t{name}\t{logins} login(s)")
