"""People who log in: brand and distributor staff, with Argon2id password hashes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from cloud.auth.errors import CredentialError
from cloud.auth.passwords import hash_password, needs_rehash, verify_password
from cloud.auth.principal import Principal, Role

__all__ = [
    "User",
    "active_user_principal",
    "authenticate",
    "create_user",
    "disable_user",
    "list_users",
]

_LOGIN_ROLES = frozenset({Role.BRAND, Role.DISTRIBUTOR})
_COLUMNS = "id, tenant_id, username, role, distributor_id, created_at, disabled_at"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    tenant_id: str
    username: str
    role: Role
    distributor_id: str | None
    created_at: datetime
    disabled_at: datetime | None

    def principal(self) -> Principal:
        return Principal(
            subject=f"user:{self.username}",
            role=self.role,
            tenant_id=self.tenant_id,
            distributor_id=self.distributor_id,
        )


def _user(row: tuple[Any, ...]) -> User:
    return User(row[0], row[1], row[2], Role(row[3]), row[4], row[5], row[6])


def check_role(role: str | Role, distributor_id: str | None) -> Role:
    """The role as a :class:`Role`, refused unless brand or distributor (with a distributor)."""
    try:
        parsed = Role(role)
    except ValueError:
        raise CredentialError(f"unknown role {role!r}") from None
    if parsed not in _LOGIN_ROLES:
        raise CredentialError(f"role {parsed} cannot log in (brand or distributor)")
    if (parsed is Role.DISTRIBUTOR) != (distributor_id is not None):
        raise CredentialError("a distributor_id is required for, and only for, distributors")
    return parsed


def create_user(
    conn: psycopg.Connection[Any],
    *,
    tenant_id: str,
    username: str,
    password: str,
    role: str | Role,
    distributor_id: str | None = None,
) -> User:
    """Create a user; :class:`CredentialError` for a taken name or unknown tenant/distributor."""
    parsed = check_role(role, distributor_id)
    if not password:
        raise CredentialError("an empty password is not allowed")
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO users (tenant_id, username, password_hash, role, distributor_id)"  # noqa: S608 (constant column list)
                f" VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (tenant_id, username, hash_password(password), parsed.value, distributor_id),
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise CredentialError(f"user {username!r} already exists") from None
    except psycopg.errors.ForeignKeyViolation:
        raise CredentialError(
            f"unknown tenant {tenant_id!r} or distributor {distributor_id!r}"
        ) from None
    except psycopg.errors.CheckViolation as exc:
        raise CredentialError(f"invalid user: {exc.diag.message_primary}") from None
    assert row is not None
    return _user(row)


def list_users(conn: psycopg.Connection[Any], tenant_id: str | None = None) -> list[User]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM users WHERE %(t)s::text IS NULL OR tenant_id = %(t)s"  # noqa: S608 (constant column list)
        " ORDER BY tenant_id, username",
        {"t": tenant_id},
    ).fetchall()
    return [_user(r) for r in rows]


def disable_user(conn: psycopg.Connection[Any], username: str) -> bool:
    """Disable a user (its tokens stop working at once); False if there is no such user."""
    with conn.transaction():
        cur = conn.execute(
            "UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE username = %s",
            (username,),
        )
    return cur.rowcount > 0


def authenticate(conn: psycopg.Connection[Any], username: str, password: str) -> User | None:
    """The active user with this name and password, else None (constant work on a miss)."""
    row = (
        None  # no user name holds a NUL, and PostgreSQL text cannot (found by API fuzzing)
        if "\x00" in username
        else conn.execute(
            f"SELECT {_COLUMNS}, password_hash FROM users WHERE username = %s",  # noqa: S608 (constant column list)
            (username,),
        ).fetchone()
    )
    encoded: str | None = None if row is None else row[-1]
    if not verify_password(encoded, password) or row is None or row[6] is not None:
        return None
    if needs_rehash(row[-1]):
        with conn.transaction():
            conn.execute(
                "UPDATE users SET password_hash = %s WHERE id = %s",
                (hash_password(password), row[0]),
            )
    return _user(row[:-1])


def active_user_principal(conn: psycopg.Connection[Any], user_id: int) -> Principal | None:
    """The principal of an active user by id (a token's ``uid``), else None."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM users WHERE id = %s AND disabled_at IS NULL",  # noqa: S608
        (user_id,),
    ).fetchone()
    return None if row is None else _user(row).principal()
