"""``channeltrace cloud prefixes ...``: the GS1 company prefixes each brand owns.

The operator's side of ``/v1/tenants/{tenant}/prefixes`` (docs/provenance.md "Ownership"):
the same rules (6 to 12 digits, no overlap across tenants, no removal while codes or units
are under a prefix), checked by the same code and the same database trigger.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated, Any

import typer

from common.cli import DatabaseUrl, fail

__all__ = ["prefixes_app"]

prefixes_app = typer.Typer(
    help="GS1 company prefixes: a brand captures and issues only under its own.",
    no_args_is_help=True,
)

Tenant = Annotated[str, typer.Option(help="Tenant (brand) id.")]
Prefix = Annotated[str, typer.Argument(help="GS1 company prefix, 6 to 12 digits.")]


def _connect(database_url: str | None) -> Any:
    import psycopg

    from cloud.settings import get_settings

    try:
        return psycopg.connect(database_url or get_settings().database_url, autocommit=True)
    except psycopg.OperationalError as exc:
        raise fail(f"cannot reach the database: {exc}") from None


def _actor() -> Any:
    from cloud.channel.changes import Actor

    return Actor(f"cli:{getpass.getuser()}", "cli")


@prefixes_app.command("add")
def prefixes_add(prefix: Prefix, tenant: Tenant, database_url: DatabaseUrl = None) -> None:
    """Register PREFIX for the tenant (refused if it overlaps anyone's prefix)."""
    from cloud.provenance.errors import PrefixError
    from cloud.provenance.prefixes import add_prefix
    from wire.errors import IdentifierError

    with _connect(database_url) as conn:
        try:
            _, created = add_prefix(conn, tenant, prefix, actor=_actor())
        except (IdentifierError, PrefixError) as exc:
            raise fail(str(exc)) from None
    typer.echo(f"{'registered' if created else 'already registered'} {prefix} for {tenant}")


@prefixes_app.command("list")
def prefixes_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List registered prefixes (all tenants' without --tenant)."""
    from cloud.provenance.prefixes import list_prefixes

    with _connect(database_url) as conn:
        found = list_prefixes(conn, tenant)
    for p in found:
        if as_json:
            typer.echo(json.dumps({"prefix": p.prefix, "tenant_id": p.tenant_id,
                                   "created_at": p.created_at.isoformat(),
                                   "created_by": p.created_by}))  # fmt: skip
        else:
            typer.echo(f"{p.prefix}\t{p.tenant_id}\t{p.created_at:%Y-%m-%d %H:%M}\t{p.created_by}")


@prefixes_app.command("remove")
def prefixes_remove(prefix: Prefix, tenant: Tenant, database_url: DatabaseUrl = None) -> None:
    """Remove PREFIX from the tenant (refused while codes or units are under it)."""
    from cloud.provenance.errors import PrefixError
    from cloud.provenance.prefixes import remove_prefix

    with _connect(database_url) as conn:
        try:
            remove_prefix(conn, tenant, prefix, actor=_actor())
        except PrefixError as exc:
            raise fail(str(exc)) from None
    typer.echo(f"removed {prefix} from {tenant}")
