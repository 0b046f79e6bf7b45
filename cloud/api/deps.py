"""Dependencies of the read API routes, as ``Annotated`` aliases.

The connection pool lives on ``app.state`` (created by :func:`cloud.app.create_app`), so
tests and deployments choose the database through settings, never through globals.

Access control (docs/security.md): :data:`CurrentPrincipal` authenticates the caller
(``Authorization: Bearer``, ``X-API-Key``, cookie ``ct_session``; else 401);
:data:`TenantPrincipal` also requires the path's ``{tenant}`` to be the caller's (else 404);
:data:`ScopedConn` is a connection in a transaction as role ``ct_app`` with the caller's
tenant and distributor set, so PostgreSQL row-level security applies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyCookie, APIKeyHeader, OAuth2PasswordBearer
from psycopg_pool import ConnectionPool, PoolTimeout

from cloud.api.consistency import read_after
from cloud.api.errors import NotFound, Unavailable
from cloud.api.queries import RollupCatalog
from cloud.auth.principal import Principal
from cloud.settings import ApiSection

if TYPE_CHECKING:
    from cloud.auth.ratelimit import RateLimiter
    from cloud.replicas import ReadRouter


@dataclass(frozen=True, slots=True)
class RateCheck:
    """One counted request: allowed, or refused for ``retry_after_s`` seconds."""

    allowed: bool
    retry_after_s: int
    limit: str

__all__ = [
    "SESSION_COOKIE",
    "Catalog",
    "Conn",
    "CurrentPrincipal",
    "Pool",
    "RateCheck",
    "RateLimited",
    "ScopedConn",
    "SettingsDep",
    "TenantPrincipal",
    "check_rate",
    "database_errors",
    "get_catalog",
    "get_conn",
    "get_pool",
    "get_principal",
    "get_scoped_conn",
    "get_settings",
    "ledger_bundle_access",
    "rate_limited",
    "tenant_principal",
]

SESSION_COOKIE = "ct_session"

_CHECKOUT_TIMEOUT_S = 5.0


@contextmanager
def database_errors() -> Iterator[None]:
    """A pool that has no connection to lend, or a database that is down, is a 503."""
    try:
        yield
    except PoolTimeout:
        raise Unavailable(
            f"no database connection available within {_CHECKOUT_TIMEOUT_S:g} s"
        ) from None
    except psycopg.OperationalError as exc:
        raise Unavailable(f"database unavailable: {exc}") from None


# Reads that write (they need the primary even when reads may use replicas): none today;
# tests/integration/test_isolation.py runs every GET route on a read-only read URL.
_WRITING_READS: frozenset[str] = frozenset()
_READS = frozenset({"GET", "HEAD"})


def get_conn(request: Request) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection for the duration of one request.

    A GET or HEAD goes to a replica when ``CT_DATABASE_READ_URL`` is set and one is within
    the lag bound and has replayed what the caller last wrote (cloud/api/consistency.py);
    anything else to the primary.
    """
    reads: ReadRouter | None = getattr(request.app.state, "reads", None)
    route = getattr(request.scope.get("route"), "path", None)
    if reads is not None and request.method in _READS and route not in _WRITING_READS:
        after = read_after(request.headers, request.cookies)
        with database_errors(), reads.connection(after_lsn=after,
                                                 timeout=_CHECKOUT_TIMEOUT_S) as conn:  # fmt: skip
            yield conn
        return
    pool: ConnectionPool[psycopg.Connection[Any]] = request.app.state.pool
    with database_errors(), pool.connection(timeout=_CHECKOUT_TIMEOUT_S) as conn:
        yield conn


def get_pool(request: Request) -> ConnectionPool[psycopg.Connection[Any]]:
    """The pool itself, for routes that must not hold a connection throughout (logins);
    borrow inside :func:`database_errors`."""
    pool: ConnectionPool[psycopg.Connection[Any]] = request.app.state.pool
    return pool


def get_settings(request: Request) -> ApiSection:
    settings: ApiSection = request.app.state.settings
    return settings


def get_catalog(request: Request) -> RollupCatalog:
    catalog: RollupCatalog = request.app.state.catalog
    return catalog


Conn = Annotated[psycopg.Connection[Any], Depends(get_conn)]
Pool = Annotated[ConnectionPool[psycopg.Connection[Any]], Depends(get_pool)]
SettingsDep = Annotated[ApiSection, Depends(get_settings)]
Catalog = Annotated[RollupCatalog, Depends(get_catalog)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


# Declared for the OpenAPI document (the "Authorize" button of /docs, API fuzzers); the
# headers themselves are read below, so that a wrong scheme is a 401 rather than ignored.
_BEARER = OAuth2PasswordBearer(
    tokenUrl="/auth/token", auto_error=False, description="A token from /auth/token or an API key"
)
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")
_SESSION = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="The console session")


def get_principal(
    request: Request,
    conn: Conn,
    settings: SettingsDep,
    _bearer: Annotated[str | None, Security(_BEARER)],
    _api_key: Annotated[str | None, Security(_API_KEY)],
    _session: Annotated[str | None, Security(_SESSION)],
) -> Principal:
    """The authenticated caller: the first credential present decides (no fall-through)."""
    from cloud.auth.apikeys import parse_api_key, resolve_api_key
    from cloud.auth.tokens import principal_from_token

    authorization = request.headers.get("authorization")
    api_key = request.headers.get("x-api-key")
    cookie = request.cookies.get(SESSION_COOKIE)
    if authorization is not None:
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise _unauthorized("the Authorization header must be 'Bearer <token>'")
        token: str | None = credential.strip()
    elif api_key is not None:
        token = None
    elif cookie:
        _check_cookie_csrf(request, cookie)
        token = cookie
    else:
        raise _unauthorized("authentication required (bearer token or X-API-Key)")
    principal: Principal | None
    if token is None:
        principal = resolve_api_key(conn, api_key or "")
    elif parse_api_key(token) is not None:  # an API key sent as a bearer token
        principal = resolve_api_key(conn, token)
    else:
        principal = principal_from_token(conn, settings, token)
    if principal is None:
        raise _unauthorized("invalid, expired or revoked credentials")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _check_cookie_csrf(request: Request, cookie: str) -> None:
    """A write authenticated by the session cookie alone must carry its CSRF token.

    A browser attaches the cookie to any request to us, even one a hostile page makes;
    only our own pages know the token (docs/security.md). 403 otherwise.
    """
    from cloud.auth.csrf import CSRF_HEADER, valid_csrf

    if request.method in _SAFE_METHODS:
        return
    if not valid_csrf(cookie, request.headers.get(CSRF_HEADER)):
        raise HTTPException(
            403,
            f"a write authenticated by the session cookie needs the {CSRF_HEADER} header "
            "of that session (GET /auth/me gives it), or a bearer token or API key instead",
        )


def tenant_principal(tenant: str, principal: CurrentPrincipal) -> Principal:
    """The caller, if the path's tenant is its own; otherwise 404 (existence is not told)."""
    if not principal.sees_tenant(tenant):
        raise NotFound(f"no tenant {tenant!r}")
    return principal


TenantPrincipal = Annotated[Principal, Depends(tenant_principal)]


def get_scoped_conn(conn: Conn, principal: CurrentPrincipal) -> Iterator[psycopg.Connection[Any]]:
    """The request's connection inside a transaction scoped to the caller (RLS applies).

    The transaction commits when the route returns and rolls back if it raises.
    """
    from cloud.auth.scope import scope_transaction

    with conn.transaction():
        scope_transaction(conn, principal)
        yield conn


ScopedConn = Annotated[psycopg.Connection[Any], Depends(get_scoped_conn, scope="function")]


_LIMITER_LOCK = threading.Lock()


def _limiter(request: Request) -> RateLimiter:
    found: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if found is not None:  # every public request after the first
        return found
    from cloud.auth.ratelimit import RateLimiter

    with _LIMITER_LOCK:  # one limiter per app, created by the first public request
        limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
        if limiter is None:
            settings: ApiSection = request.app.state.settings
            limiter = request.app.state.rate_limiter = RateLimiter(settings.public_rate_limit)
    return limiter


def check_rate(request: Request) -> RateCheck:
    """Count one public request of this client against ``CT_PUBLIC_RATE_LIMIT``.

    The client is the peer, or the address a trusted proxy forwarded
    (:mod:`cloud.api.middleware.proxies`): an ``X-Forwarded-For`` from anyone else was
    removed before this runs, so a new header per request is not a new client.
    """
    limiter = _limiter(request)
    address = request.client.host if request.client is not None else "unknown"
    verdict = limiter.hit(address)
    return RateCheck(verdict.allowed, verdict.retry_after_s, limiter.limit)


def rate_limited(request: Request) -> None:
    """429 with ``Retry-After`` when this client exceeds ``CT_PUBLIC_RATE_LIMIT``."""
    check = check_rate(request)
    if not check.allowed:
        raise HTTPException(
            429,
            f"rate limit {check.limit} exceeded; retry in {check.retry_after_s} s",
            headers={"Retry-After": str(check.retry_after_s)},
        )


RateLimited = Depends(rate_limited)


def ledger_bundle_access(index: int, conn: Conn, principal: CurrentPrincipal) -> None:
    """A ledger bundle carries its event: only for callers who may see that custody event."""
    from cloud.auth.scope import scope_transaction

    with conn.transaction():
        scope_transaction(conn, principal)
        row = conn.execute(
            "SELECT 1 FROM custody_events WHERE ledger_idx = %s", (index,)
        ).fetchone()
    if row is None:
        raise NotFound(f"no ledger entry {index} among your events")
