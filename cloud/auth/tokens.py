"""Bearer tokens: short-lived HS256 JWTs naming a user, signed with CT_AUTH_TOKEN_SECRET.

A token carries the user's id (``uid``) and, for information, its role and tenant; every
request re-reads the user, so disabling a user or changing its role takes effect at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import jwt
import psycopg

from cloud.auth.errors import AuthConfigError
from cloud.auth.principal import Principal
from cloud.auth.users import ConnectionSource, User, active_user_principal, authenticate
from cloud.settings import ApiSection

__all__ = [
    "DEV_TOKEN_SECRET",
    "ISSUER",
    "decode_token",
    "issue_token",
    "login",
    "principal_from_token",
    "token_secret",
]

_logger = logging.getLogger(__name__)

ISSUER: Final = "channeltrace"
DEV_TOKEN_SECRET: Final = "channeltrace development token secret (public, never in production)"  # noqa: S105 (public by design)
"""Well known: accepted only when ``CT_ENVIRONMENT=development``."""
_ALGORITHM: Final = "HS256"
_MIN_SECRET_BYTES: Final = 32


def token_secret(settings: ApiSection) -> bytes:
    """The signing secret; :class:`AuthConfigError` outside development without a real one."""
    if settings.auth_token_secret is None:
        if settings.environment != "development":
            raise AuthConfigError(
                f"CT_AUTH_TOKEN_SECRET is required in {settings.environment} (at least "
                f"{_MIN_SECRET_BYTES} random bytes, e.g. from `openssl rand -hex 32`); "
                "CT_ENVIRONMENT=development uses a public one, for trying it locally"
            )
        return DEV_TOKEN_SECRET.encode()
    secret = settings.auth_token_secret.get_secret_value()
    if settings.environment != "development" and secret == DEV_TOKEN_SECRET:
        raise AuthConfigError(f"the development token secret is refused in {settings.environment}")
    if len(secret.encode()) < _MIN_SECRET_BYTES:
        raise AuthConfigError(f"CT_AUTH_TOKEN_SECRET must be at least {_MIN_SECRET_BYTES} bytes")
    return secret.encode()


def issue_token(settings: ApiSection, user: User, *, now: datetime | None = None) -> str:
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": user.username,
        "uid": user.id,
        "role": user.role.value,
        "tenant": user.tenant_id,
        "iat": issued,
        "exp": issued + timedelta(seconds=settings.auth_token_ttl_seconds),
    }
    if user.distributor_id is not None:
        claims["distributor"] = user.distributor_id
    return jwt.encode(claims, token_secret(settings), algorithm=_ALGORITHM)


def decode_token(settings: ApiSection, token: str) -> int | None:
    """The user id of a valid, unexpired token signed by us, else None."""
    try:
        claims = jwt.decode(
            token,
            token_secret(settings),
            algorithms=[_ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "iss", "sub", "uid"]},
        )
    except jwt.PyJWTError as exc:
        _logger.debug("refused a bearer token: %s", exc)
        return None
    uid = claims.get("uid")
    return uid if isinstance(uid, int) and not isinstance(uid, bool) else None


def principal_from_token(
    conn: psycopg.Connection[Any], settings: ApiSection, token: str
) -> Principal | None:
    uid = decode_token(settings, token)
    return None if uid is None else active_user_principal(conn, uid)


def login(
    source: ConnectionSource, settings: ApiSection, username: str, password: str
) -> str | None:
    """A bearer token for an active user's right password, else None.

    Give routes the pool (:func:`cloud.auth.users.authenticate`): no connection is held
    while the password hash is verified.
    """
    user = authenticate(source, username, password)
    return None if user is None else issue_token(settings, user)
