"""People who log in: brand and distributor staff, with Argon2id password hashes."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from cloud.auth.errors import CredentialError
from cloud.auth.passwords import hash_password, needs_rehash, verify_password
from cloud.auth.principal import Principal, Role

__all__ = [
    "ConnectionSource",
    "LoginRecord",
    "User",
    "active_user_principal",
    "authenticate",
    "check_login",
    "create_user",
    "disable_user",
    "find_login",
    "list_users",
    "rehash_if_needed",
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


@dataclass(frozen=True, slots=True)
class LoginRecord:
    """What a password check needs of a user, read before the (slow) hash verification."""

    user: User
    password_hash: str


def find_login(conn: psycopg.Connection[Any], username: str) -> LoginRecord | None:
    """The user named ``username`` and its password hash, else None (one quick query)."""
    if "\x00" in username:  # no user name holds a NUL, and PostgreSQL text cannot
        return None
    row = conn.execute(
        f"SELECT {_COLUMNS}, password_hash FROM users WHERE username = %s",  # noqa: S608 (constant column list)
        (username,),
    ).fetchone()
    return None if row is None else LoginRecord(_user(row[:-1]), str(row[-1]))


def check_login(record: LoginRecord | None, password: str) -> User | None:
    """The active user if ``password`` is right, else None; pure CPU, no database.

    A missing user costs one verification of a dummy hash, as a wrong password does.
    """
    encoded = None if record is None else record.password_hash
    if not verify_password(encoded, password) or record is None:
        return None
    return None if record.user.disabled_at is not None else record.user


def rehash_if_needed(conn: psycopg.Connection[Any], record: LoginRecord, password: str) -> None:
    """Store a new hash when the hasher's parameters changed since this one was made."""
    if needs_rehash(record.password_hash):
        with conn.transaction():
            conn.execute(
                "UPDATE users SET password_hash = %s WHERE id = %s AND password_hash = %s",
                (hash_password(password), record.user.id, record.password_hash),
            )


ConnectionSource = psycopg.Connection[Any] | ConnectionPool[psycopg.Connection[Any]]
"""A connection the caller holds anyway, or a pool to borrow one from per step."""


_CHECKOUT_TIMEOUT_S = 5.0


def _borrow(source: ConnectionSource) -> AbstractContextManager[psycopg.Connection[Any]]:
    if isinstance(source, psycopg.Connection):
        return nullcontext(source)
    return source.connection(timeout=_CHECKOUT_TIMEOUT_S)


def authenticate(source: ConnectionSource, username: str, password: str) -> User | None:
    """The active user with this name and password, else None (constant work on a miss).

    From a pool, a connection is held for the lookup only and given back before the
    Argon2 verification, which takes tens of milliseconds of CPU: password guessing cannot
    pin the pool's connections. Raises :class:`psycopg_pool.PoolTimeout` when none is free.
    """
    with _borrow(source) as conn:
        record = find_login(conn, username)
    user = check_login(record, password)
    if user is None or record is None:
        return None
    if needs_rehash(record.password_hash):
        with _borrow(source) as conn:
            rehash_if_needed(conn, record, password)
    return user


def active_user_principal(conn: psycopg.Connection[Any], user_id: int) -> Principal | None:
    """The principal of an active user by id (a token's ``uid``), else None."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM users WHERE id = %s AND disabled_at IS NULL",  # noqa: S608
        (user_id,),
    ).fetchone()
    return None if row is None else _user(row).principal()
