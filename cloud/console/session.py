"""The console's session: the ``ct_session`` cookie holding a bearer token of
:mod:`cloud.auth.tokens`, and the database connection scoped to its principal.

The cookie is HttpOnly (scripts never see the token), SameSite=Lax (cross-site POSTs do not
carry it), Secure when the request came over HTTPS (directly, or through a proxy in
``CT_TRUSTED_PROXIES`` that says so in ``X-Forwarded-Proto``: the request's scheme is set
by :mod:`cloud.api.middleware.proxies`), and lives as long as the token. A page
without a valid session raises :class:`LoginRequired`, which the console answers with a
redirect to the login form (never a JSON 401: these are pages for people).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request, Response

from cloud.api.deps import SESSION_COOKIE, get_conn, get_settings
from cloud.auth import Principal, Role
from cloud.auth.csrf import csrf_token
from cloud.auth.scope import scope_transaction
from cloud.auth.tokens import principal_from_token
from cloud.console.errors import LoginRequired
from cloud.settings import ApiSection

__all__ = [
    "COOKIE",
    "ConsoleConn",
    "ConsoleSession",
    "Session",
    "clear_session_cookie",
    "get_session",
    "scoped_connection",
    "set_session_cookie",
]

COOKIE = SESSION_COOKIE  # the API also accepts it (cloud.api.deps.get_principal)
_CONSOLE_ROLES = frozenset({Role.BRAND, Role.DISTRIBUTOR})


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    principal: Principal
    token: str

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)

    @property
    def tenant(self) -> str:
        assert self.principal.tenant_id is not None  # brand and distributor have one
        return self.principal.tenant_id


def _next_url(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def get_session(
    request: Request,
    conn: Annotated[psycopg.Connection[Any], Depends(get_conn)],
    settings: Annotated[ApiSection, Depends(get_settings)],
) -> ConsoleSession:
    """The session of a console request; :class:`LoginRequired` without a valid one."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise LoginRequired(_next_url(request))
    principal = principal_from_token(conn, settings, token)
    if principal is None or principal.role not in _CONSOLE_ROLES:
        raise LoginRequired(_next_url(request))
    return ConsoleSession(principal, token)


Session = Annotated[ConsoleSession, Depends(get_session)]


def scoped_connection(
    conn: psycopg.Connection[Any], principal: Principal
) -> Iterator[psycopg.Connection[Any]]:
    """``conn`` inside a transaction as role ``ct_app`` with the principal's tenant and
    distributor set, so row-level security binds every query (docs/security.md)."""
    with conn.transaction():
        scope_transaction(conn, principal)
        yield conn


def _console_conn(
    session: Session, conn: Annotated[psycopg.Connection[Any], Depends(get_conn)]
) -> Iterator[psycopg.Connection[Any]]:
    yield from scoped_connection(conn, session.principal)


# scope="function": the transaction commits before the response leaves, so the page a
# form POST redirects to already sees its change.
ConsoleConn = Annotated[psycopg.Connection[Any], Depends(_console_conn, scope="function")]


def set_session_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE, path="/", secure=request.url.scheme == "https", httponly=True, samesite="lax"
    )
