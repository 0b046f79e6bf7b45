"""``channeltrace cloud users ...`` and ``channeltrace cloud apikeys ...``."""

from __future__ import annotations

import getpass
import json
import os
from typing import Annotated, Any

import typer

from common.cli import DatabaseUrl, fail

__all__ = ["apikeys_app", "users_app"]

users_app = typer.Typer(
    help="People who log in (brand and distributor staff).", no_args_is_help=True
)
apikeys_app = typer.Typer(help="API keys for programs.", no_args_is_help=True)

Tenant = Annotated[str, typer.Option(help="Tenant (brand) id.")]
Role = Annotated[str, typer.Option(help="brand or distributor.")]
Distributor = Annotated[
    str | None, typer.Option("--distributor", help="Distributor id (role distributor only).")
]
Json = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


def _connect(database_url: str | None) -> Any:
    import psycopg

    from cloud.settings import get_settings

    try:
        return psycopg.connect(database_url or get_settings().database_url, autocommit=True)
    except psycopg.OperationalError as exc:
        raise fail(f"cannot reach the database: {exc}") from None


def _when(value: Any) -> str | None:
    return None if value is None else value.isoformat()


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    tenant: Tenant,
    role: Role = "brand",
    distributor: Distributor = None,
    password_env: Annotated[
        str | None,
        typer.Option(help="Read the password from this environment variable (else prompt)."),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a user; the password comes from --password-env or a prompt (never argv)."""
    from cloud.auth.errors import CredentialError
    from cloud.auth.users import create_user

    if password_env is not None:
        password = os.environ.get(password_env, "")
        if not password:
            raise fail(f"environment variable {password_env} is empty or unset")
    else:
        password = getpass.getpass("password: ")
        if password != getpass.getpass("again: "):
            raise fail("the passwords differ")
    with _connect(database_url) as conn:
        try:
            user = create_user(
                conn,
                tenant_id=tenant,
                username=username,
                password=password,
                role=role,
                distributor_id=distributor,
            )
        except CredentialError as exc:
            raise fail(str(exc)) from None
    typer.echo(f"created user {user.username} ({user.role} of {user.tenant_id})")


@users_app.command("list")
def users_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List users (never their hashes)."""
    from cloud.auth.users import list_users

    with _connect(database_url) as conn:
        users = list_users(conn, tenant)
    for u in users:
        row = {
            "username": u.username,
            "tenant_id": u.tenant_id,
            "role": u.role.value,
            "distributor_id": u.distributor_id,
            "created_at": _when(u.created_at),
            "disabled_at": _when(u.disabled_at),
        }
        if as_json:
            typer.echo(json.dumps(row))
        else:
            state = "disabled" if u.disabled_at else "active"
            scope = f"{u.tenant_id}/{u.distributor_id}" if u.distributor_id else u.tenant_id
            typer.echo(f"{u.username}\t{u.role}\t{scope}\t{state}")


@users_app.command("disable")
def users_disable(
    username: Annotated[str, typer.Argument(help="Login name.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Disable a user: its password and its tokens stop working at once."""
    from cloud.auth.users import disable_user

    with _connect(database_url) as conn:
        if not disable_user(conn, username):
            raise fail(f"no user {username!r}")
    typer.echo(f"disabled {username}")


@apikeys_app.command("create")
def apikeys_create(
    tenant: Tenant,
    role: Role = "brand",
    distributor: Distributor = None,
    label: Annotated[str, typer.Option(help="What the key is for.")] = "",
    database_url: DatabaseUrl = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from cloud.auth.apikeys import create_api_key
    from cloud.auth.errors import CredentialError

    with _connect(database_url) as conn:
        try:
            key = create_api_key(
                conn, tenant_id=tenant, role=role, distributor_id=distributor, label=label
            )
        except CredentialError as exc:
            raise fail(str(exc)) from None
    typer.echo(key)


@apikeys_app.command("list")
def apikeys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List keys by prefix (the secret is never shown again)."""
    from cloud.auth.apikeys import list_api_keys

    with _connect(database_url) as conn:
        keys = list_api_keys(conn, tenant)
    for k in keys:
        row = {
            "prefix": k.prefix,
            "tenant_id": k.tenant_id,
            "role": k.role.value,
            "distributor_id": k.distributor_id,
            "label": k.label,
            "created_at": _when(k.created_at),
            "last_used_at": _when(k.last_used_at),
            "revoked_at": _when(k.revoked_at),
        }
        if as_json:
            typer.echo(json.dumps(row))
        else:
            state = "revoked" if k.revoked_at else "active"
            scope = f"{k.tenant_id}/{k.distributor_id}" if k.distributor_id else k.tenant_id
            typer.echo(f"ct_{k.prefix}_…\t{k.role}\t{scope}\t{state}\t{k.label}")


@apikeys_app.command("revoke")
def apikeys_revoke(
    prefix: Annotated[str, typer.Argument(help="The key's prefix (8 hex digits).")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key: it stops working at once."""
    from cloud.auth.apikeys import revoke_api_key

    with _connect(database_url) as conn:
        if not revoke_api_key(conn, prefix.removeprefix("ct_")[:8]):
            raise fail(f"no API key with prefix {prefix!r}")
    typer.echo(f"revoked {prefix}")
