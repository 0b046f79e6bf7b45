"""Tenants and the people who log in to them, as a brand manages them.

An operator creates a tenant with its first brand manager (``channeltrace cloud tenants
create``); a brand manager then gives its distributors their own logins (API, console), and
each distributor sees only its own sites and what they hold (row-level security).

People live in ``users``, which the API's role cannot read at all (docs/security.md): these
functions take an owner connection and filter on the tenant themselves. Every change is
logged in the channel change log (never the password or its hash).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import psycopg

from cloud.auth.errors import CredentialError
from cloud.auth.principal import Role
from cloud.auth.users import User, check_role, create_user, list_users
from cloud.channel.changes import Actor, record_change
from cloud.channel.errors import FieldProblem, InvalidRecord, RecordConflict, RecordNotFound
from cloud.channel.records import ID_PATTERN
from wire import WireError
from wire.topics import check_segment

__all__ = [
    "add_login",
    "create_tenant",
    "disable_login",
    "generate_password",
    "list_logins",
    "list_tenants",
]

Conn = psycopg.Connection[Any]
_MIN_PASSWORD = 12
_USERNAME = re.compile(r"[A-Za-z0-9._@+-]{1,128}")  # as the users table checks it


def generate_password() -> str:
    """A random password to hand over once (16 URL-safe characters, 96 bits)."""
    return secrets.token_urlsafe(12)


def _user_view(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "role": user.role.value,
        "distributor_id": user.distributor_id,
        "disabled": user.disabled_at is not None,
    }


def _check_password(password: str) -> None:
    if len(password) < _MIN_PASSWORD:
        raise InvalidRecord("login", [FieldProblem(
            "password", f"at least {_MIN_PASSWORD} characters", f"{len(password)} characters"
        )])  # fmt: skip


def create_tenant(
    conn: Conn, tenant_id: str, name: str, manager: str, password: str, actor: Actor
) -> User:
    """A new tenant (brand) and its first brand manager, in one transaction.

    The tenant id appears in MQTT topics, so it follows the topic segment rule."""
    problems = []
    try:
        check_segment(tenant_id, "tenant")
    except WireError as exc:
        problems.append(FieldProblem("tenant", "an id usable in MQTT topics", str(exc)))
    if not name.strip() or len(name) > 200:
        problems.append(FieldProblem("name", "a name of 1–200 characters", repr(name)))
    if problems:
        raise InvalidRecord(f"tenant {tenant_id!r}", problems)
    _check_password(password)
    with conn.transaction():
        exists = conn.execute("SELECT 1 FROM tenants WHERE id = %s", (tenant_id,)).fetchone()
        if exists is not None:
            raise RecordConflict(f"tenant {tenant_id!r} exists already")
        conn.execute("INSERT INTO tenants (id, name) VALUES (%s, %s)", (tenant_id, name.strip()))
        record_change(conn, tenant_id, actor, entity="tenant", key=tenant_id, action="create",
                      before=None, after={"id": tenant_id, "name": name.strip()})  # fmt: skip
        return _create(conn, tenant_id, manager, password, Role.BRAND, None, actor)


def list_tenants(conn: Conn) -> list[tuple[str, str, int]]:
    """(id, name, logins) of every tenant (operator view)."""
    rows = conn.execute(
        "SELECT t.id, t.name, count(u.id) FROM tenants t LEFT JOIN users u ON u.tenant_id = t.id"
        " AND u.disabled_at IS NULL GROUP BY t.id, t.name ORDER BY t.id"
    ).fetchall()
    return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]


def _create(
    conn: Conn,
    tenant: str,
    username: str,
    password: str,
    role: Role,
    distributor: str | None,
    actor: Actor,
) -> User:
    if not _USERNAME.fullmatch(username):
        raise InvalidRecord(f"login {username!r}", [FieldProblem(
            "username", "1–128 letters, digits or . _ @ + -", repr(username[:60])
        )])  # fmt: skip
    try:
        user = create_user(
            conn, tenant_id=tenant, username=username, password=password, role=role,
            distributor_id=distributor,
        )  # fmt: skip
    except CredentialError as exc:
        message = str(exc)
        if "already exists" in message:
            raise RecordConflict(f"{message} (login names are unique across tenants)") from None
        raise InvalidRecord(f"login {username!r}", [
            FieldProblem("username", "a valid login", message)]) from None  # fmt: skip
    record_change(conn, tenant, actor, entity="user", key=username, action="create",
                  before=None, after=_user_view(user))  # fmt: skip
    return user


def add_login(
    conn: Conn,
    tenant: str,
    username: str,
    password: str,
    role: str,
    distributor: str | None,
    actor: Actor,
) -> User:
    """A login for a brand manager or for a distributor's staff (``distributor`` set)."""
    try:
        parsed = check_role(role, distributor)
    except CredentialError as exc:
        field = "distributor_id" if "distributor" in str(exc) else "role"
        raise InvalidRecord(f"login {username!r}", [FieldProblem(
            field, "role brand, or role distributor with its distributor_id", str(exc)
        )]) from None  # fmt: skip
    _check_password(password)
    if distributor is not None and (not ID_PATTERN.fullmatch(distributor) or conn.execute(
        "SELECT 1 FROM distributors WHERE tenant_id = %s AND id = %s", (tenant, distributor)
    ).fetchone() is None):
        raise InvalidRecord(f"login {username!r}", [FieldProblem(
            "distributor_id", f"the id of an existing distributor of {tenant}",
            repr(distributor),
        )])  # fmt: skip
    with conn.transaction():
        return _create(conn, tenant, username, password, parsed, distributor, actor)


def list_logins(conn: Conn, tenant: str) -> list[User]:
    return list_users(conn, tenant)


def disable_login(conn: Conn, tenant: str, username: str, actor: Actor) -> User:
    """Disable a login of ``tenant`` (its password and tokens stop working at once)."""
    with conn.transaction():
        users = {u.username: u for u in list_users(conn, tenant)}
        user = users.get(username)
        if user is None:
            raise RecordNotFound(f"no login {username!r} in {tenant}")
        conn.execute(
            "UPDATE users SET disabled_at = coalesce(disabled_at, now())"
            " WHERE tenant_id = %s AND username = %s",
            (tenant, username),
        )
        after = {**_user_view(user), "disabled": True}
        if user.disabled_at is None:
            record_change(conn, tenant, actor, entity="user", key=username, action="update",
                          before=_user_view(user), after=after)  # fmt: skip
    refreshed = {u.username: u for u in list_users(conn, tenant)}
    return refreshed[username]
