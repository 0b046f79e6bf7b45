"""GS1 company prefixes a brand owns (``company_prefixes``, migration 0011).

A brand registers the prefixes GS1 assigned it; from then on only it captures events about,
issues codes for and has verified codes of the keys under them. No two tenants' prefixes
overlap (one may not be a prefix of another's): the database checks it across tenants, for
the API (which runs as ``ct_app`` and sees only its own rows) as for the CLI. A prefix with
codes or units under it cannot be removed. Adding and removing one is logged in the
channel change log (``channel_changes``, entity ``prefix``: who, when, through what), in
the transaction that makes the change.

Ownership of a key is a lookup of its 6..12 leading prefix digits
(:func:`wire.epc.company_prefix_digits`, :func:`wire.gs1.prefix_candidates`): at most one
tenant owns any key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from cloud.channel.changes import Actor, record_change
from cloud.provenance.errors import (
    PrefixConflictError,
    PrefixError,
    PrefixInUseError,
    PrefixNotFoundError,
)
from wire.gs1 import check_company_prefix, prefix_candidates

__all__ = [
    "OPERATOR",
    "CompanyPrefix",
    "add_prefix",
    "list_prefixes",
    "owner_of",
    "owners_of",
    "remove_prefix",
    "tenant_prefixes",
]

_logger = logging.getLogger(__name__)

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class CompanyPrefix:
    prefix: str
    tenant_id: str
    created_at: datetime
    created_by: str


def _row(row: tuple[Any, ...]) -> CompanyPrefix:
    return CompanyPrefix(str(row[0]), str(row[1]), row[2], str(row[3]))


#: Who changes prefixes when a caller does not say (library use: tests, scripts).
OPERATOR = Actor("operator", "operator")


def _record(p: CompanyPrefix) -> dict[str, str]:
    return {"prefix": p.prefix, "created_by": p.created_by}


def add_prefix(
    conn: Conn,
    tenant: str,
    prefix: str,
    *,
    actor: Actor = OPERATOR,
    import_id: int | None = None,
) -> tuple[CompanyPrefix, bool]:
    """Register ``prefix`` for ``tenant``; ``(prefix, created)``: registering one's own
    prefix again is not an error (``created`` False) and changes nothing. The change is
    logged (``channel_changes``, entity ``prefix``, by ``actor``, from ``import_id``) in the
    same transaction.

    Raises :class:`wire.errors.IdentifierError` for a malformed prefix and
    :class:`PrefixConflictError` when it overlaps a prefix of this or another tenant.
    """
    check_company_prefix(prefix)
    existing = conn.execute(
        "SELECT prefix, tenant_id, created_at, created_by FROM company_prefixes"
        " WHERE prefix = %s AND tenant_id = %s",
        (prefix, tenant),
    ).fetchone()
    if existing is not None:
        return _row(existing), False
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO company_prefixes (prefix, tenant_id, created_by) VALUES (%s, %s, %s)"
                " RETURNING prefix, tenant_id, created_at, created_by",
                (prefix, tenant, actor.subject),
            ).fetchone()
            assert row is not None
            record_change(conn, tenant, actor, entity="prefix", key=prefix, action="create",
                          before=None, after=_record(_row(row)), import_id=import_id)  # fmt: skip
    except psycopg.errors.ForeignKeyViolation:
        raise PrefixError(f"no tenant {tenant!r}") from None
    except (psycopg.errors.ExclusionViolation, psycopg.errors.UniqueViolation) as exc:
        detail = exc.diag.message_primary or str(exc)
        if isinstance(exc, psycopg.errors.UniqueViolation):  # the same prefix, another tenant
            detail = f"company prefix {prefix} overlaps a prefix registered by another tenant"
        raise PrefixConflictError(detail) from None
    _logger.info("tenant %s registered company prefix %s", tenant, prefix)
    return _row(row), True


def list_prefixes(conn: Conn, tenant: str | None) -> list[CompanyPrefix]:
    """``tenant``'s prefixes (every tenant's for ``None``: the operator's view)."""
    rows = conn.execute(
        "SELECT prefix, tenant_id, created_at, created_by FROM company_prefixes"
        " WHERE %(t)s::text IS NULL OR tenant_id = %(t)s ORDER BY tenant_id, prefix",
        {"t": tenant},
    ).fetchall()
    return [_row(r) for r in rows]


def remove_prefix(conn: Conn, tenant: str, prefix: str, *, actor: Actor = OPERATOR) -> None:
    """Remove ``prefix`` from ``tenant`` (logged as ``actor``'s change):
    :class:`PrefixNotFoundError` when it is not the tenant's, :class:`PrefixInUseError`
    while codes or units are under it."""
    try:
        with conn.transaction():
            row = conn.execute(
                "DELETE FROM company_prefixes WHERE prefix = %s AND tenant_id = %s"
                " RETURNING prefix, tenant_id, created_at, created_by",
                (prefix, tenant),
            ).fetchone()
            if row is not None:
                record_change(conn, tenant, actor, entity="prefix", key=prefix,
                              action="delete", before=_record(_row(row)), after=None)  # fmt: skip
    except psycopg.errors.DependentObjectsStillExist as exc:
        raise PrefixInUseError(exc.diag.message_primary or str(exc)) from None
    if row is None:
        raise PrefixNotFoundError(f"company prefix {prefix!r} is not registered to you")
    _logger.info("tenant %s removed company prefix %s", tenant, prefix)


def tenant_prefixes(conn: Conn, tenant: str) -> frozenset[str]:
    """The prefixes ``tenant`` owns."""
    rows = conn.execute(
        "SELECT prefix FROM company_prefixes WHERE tenant_id = %s", (tenant,)
    ).fetchall()
    return frozenset(str(r[0]) for r in rows)


def owners_of(conn: Conn, digits: Iterable[str]) -> dict[str, str]:
    """``key digits -> owning tenant`` for those of ``digits`` (each a key's digits from
    where its company prefix starts) that some tenant owns. Needs a connection that sees
    every tenant's prefixes (the owner's, not ``ct_app``)."""
    wanted = {d: prefix_candidates(d) for d in set(digits)}
    candidates = sorted({c for cs in wanted.values() for c in cs})
    if not candidates:
        return {}
    rows = conn.execute(
        "SELECT prefix, tenant_id FROM company_prefixes WHERE prefix = ANY(%s)", (candidates,)
    ).fetchall()
    owner = {str(r[0]): str(r[1]) for r in rows}
    found: dict[str, str] = {}
    for key, options in wanted.items():
        for candidate in options:
            if candidate in owner:
                found[key] = owner[candidate]
                break
    return found


def owner_of(conn: Conn, digits: str) -> str | None:
    """The tenant owning the key whose prefix digits are ``digits``, or ``None``."""
    return owners_of(conn, [digits]).get(digits)
