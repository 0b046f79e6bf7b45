"""``channeltrace cloud keys ...``: the public keys a device's messages must verify with.

Keys are added by ``channeltrace cloud register`` (a rotation adds the new one); here they
are listed and retired. A retired key stops being accepted by every running ingest worker
within a second (migration 0009 announces the change; docs/operations.md, "Device keys").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from common.cli import DatabaseUrl, fail

if TYPE_CHECKING:
    import psycopg

__all__ = ["keys_app"]

keys_app = typer.Typer(help="Device public keys: list and retire.", no_args_is_help=True)



def _connect(database_url: str | None) -> psycopg.Connection[Any]:
    import psycopg

    from cloud.settings import get_settings

    try:
        return psycopg.connect(database_url or get_settings().database_url, autocommit=True)
    except psycopg.OperationalError as exc:
        raise fail(f"cannot reach the database: {exc}") from None


@keys_app.command("list")
def keys_list(
    device: Annotated[str, typer.Argument(help="Device id.")], database_url: DatabaseUrl = None
) -> None:
    """The device's keys: active, retiring (a rotation's grace) or retired, with dates."""
    from cloud.errors import StorageError
    from cloud.storage.keys import list_keys

    with _connect(database_url) as conn:
        try:
            keys = list_keys(conn, device)
        except StorageError as exc:
            raise fail(str(exc)) from None
    now = datetime.now(UTC)
    for key in keys:
        retired = f"  retired {key.retired_at.isoformat()}" if key.retired_at else ""
        typer.echo(f"{key.state(now):8s}  {key.public_key}  added {key.added_at.isoformat()}"
                   f"{retired}")  # fmt: skip


@keys_app.command("retire")
def keys_retire(
    device: Annotated[str, typer.Argument(help="Device id.")],
    key: Annotated[
        str | None, typer.Option("--key", help="The public key to retire (ed25519:...).")
    ] = None,
    all_keys: Annotated[
        bool, typer.Option("--all", help="Retire every key of the device (a stolen gateway).")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Retire a key now: messages signed with it are dead-lettered from then on."""
    from cloud.errors import StorageError
    from cloud.storage.keys import retire_keys

    if (key is None) == (not all_keys):
        raise fail("name the key to retire with --key ed25519:..., or retire them all with --all")
    with _connect(database_url) as conn:
        try:
            retired = retire_keys(conn, device, key)
        except StorageError as exc:
            raise fail(str(exc)) from None
    if not retired:
        typer.echo(f"{device}: nothing to retire (already retired)")
        return
    for public_key in retired:
        typer.echo(f"retired {public_key}")
    typer.echo(f"{device}: running ingest workers refuse these keys within a second")
