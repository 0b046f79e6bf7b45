"""API keys: random, stored as SHA-256, shown once, revocable, scoped to a role and tenant.

A key reads ``ct_<prefix>_<secret>``: the 8-hex-digit prefix names it (listed, revoked by),
the secret is 32 random bytes (base64url). Only the hash of the whole key is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from cloud.auth.errors import CredentialError
from cloud.auth.principal import Principal, Role
from cloud.auth.users import check_role
from cloud.db import writable

__all__ = [
    "ApiKey",
    "create_api_key",
    "list_api_keys",
    "parse_api_key",
    "resolve_api_key",
    "revoke_api_key",
]

_KEY = re.compile(r"^ct_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
_COLUMNS = "prefix, tenant_id, role, distributor_id, label, created_at, last_used_at, revoked_at"


@dataclass(frozen=True, slots=True)
class ApiKey:
    prefix: str
    tenant_id: str
    role: Role
    distributor_id: str | None
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def principal(self) -> Principal:
        return Principal(
            subject=f"apikey:{self.prefix}",
            role=self.role,
            tenant_id=self.tenant_id,
            distributor_id=self.distributor_id,
        )


def _key(row: tuple[Any, ...]) -> ApiKey:
    return ApiKey(row[0], row[1], Role(row[2]), *row[3:8])


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("ascii")).digest()


def parse_api_key(key: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    match = _KEY.match(key)
    return match[1] if match else None


def create_api_key(
    conn: psycopg.Connection[Any],
    *,
    tenant_id: str,
    role: str | Role,
    distributor_id: str | None = None,
    label: str = "",
) -> str:
    """Create a key and return its plaintext (the only time it is available)."""
    parsed = check_role(role, distributor_id)
    for _ in range(5):  # a prefix collision (1 in 4 billion) just draws again
        prefix = secrets.token_hex(4)
        key = f"ct_{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO api_keys (prefix, key_hash, tenant_id, role, distributor_id,"
                    " label) VALUES (%s, %s, %s, %s, %s, %s)",
                    (prefix, _digest(key), tenant_id, parsed.value, distributor_id, label),
                )
        except psycopg.errors.UniqueViolation:
            continue
        except psycopg.errors.ForeignKeyViolation:
            raise CredentialError(
                f"unknown tenant {tenant_id!r} or distributor {distributor_id!r}"
            ) from None
        return key
    raise CredentialError("could not draw a unique key prefix")


def resolve_api_key(conn: psycopg.Connection[Any], key: str) -> Principal | None:
    """The principal of a valid, unrevoked key, else None."""
    prefix = parse_api_key(key)
    if prefix is None:
        return None
    row = conn.execute(
        f"SELECT {_COLUMNS}, key_hash FROM api_keys WHERE prefix = %s",  # noqa: S608 (constant column list)
        (prefix,),
    ).fetchone()
    if row is None or row[7] is not None or not hmac.compare_digest(row[8], _digest(key)):
        return None
    # Coarse last-use stamp: at most one write per key and minute; not on a read served by
    # a replica (CT_DATABASE_READ_URL), where the key's next write request stamps it.
    if not writable(conn):
        return _key(row[:8]).principal()
    conn.execute(
        "UPDATE api_keys SET last_used_at = now() WHERE prefix = %s"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        (prefix,),
    )
    return _key(row[:8]).principal()


def list_api_keys(conn: psycopg.Connection[Any], tenant_id: str | None = None) -> list[ApiKey]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM api_keys WHERE %(t)s::text IS NULL OR tenant_id = %(t)s"  # noqa: S608 (constant column list)
        " ORDER BY tenant_id, created_at",
        {"t": tenant_id},
    ).fetchall()
    return [_key(r) for r in rows]


def revoke_api_key(conn: psycopg.Connection[Any], prefix: str) -> bool:
    """Revoke by prefix; False if no such key."""
    with conn.transaction():
        cur = conn.execute(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE prefix = %s",
            (prefix,),
        )
    return cur.rowcount > 0
