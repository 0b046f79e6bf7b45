"""Row-level security scoping of a database session to a principal (docs/security.md)."""

from __future__ import annotations

from typing import Any, Final

import psycopg

from cloud.auth.principal import Principal, Role

__all__ = ["APP_ROLE", "SCOPED_SCHEMA", "scope_transaction"]

APP_ROLE: Final = "ct_app"
SCOPED_SCHEMA: Final = "ct_scoped"
_SCOPED_ROLES: Final = frozenset({Role.BRAND, Role.DISTRIBUTOR})


def scope_transaction(conn: psycopg.Connection[Any], principal: Principal) -> None:
    """Switch the current transaction to ``ct_app`` with the principal's tenant settings.

    Must run inside a transaction: ``SET LOCAL`` and ``set_config(..., true)`` end with it,
    so a pooled connection never carries one request's scope into the next.
    """
    if principal.role not in _SCOPED_ROLES or principal.tenant_id is None:
        raise ValueError(f"a {principal.role} principal has no database scope")
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        raise RuntimeError("scope_transaction needs an open transaction")
    conn.execute(f"SET LOCAL ROLE {APP_ROLE}")
    # Time series are read through the scoped views of the same names (migration 0006).
    conn.execute(f"SET LOCAL search_path = {SCOPED_SCHEMA}, public")
    conn.execute(
        "SELECT set_config('ct.tenant_id', %s, true), set_config('ct.distributor_id', %s, true)",
        (principal.tenant_id, principal.distributor_id or ""),
    )
