"""``/auth``: the OAuth2 password grant (bearer tokens for people) and who the caller is."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm

from cloud.api.deps import (
    SESSION_COOKIE,
    CurrentPrincipal,
    Pool,
    RateLimited,
    SettingsDep,
    database_errors,
)

__all__ = ["router"]

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    summary="OAuth2 password grant: a bearer token for a user",
    dependencies=[RateLimited],
    responses={401: {"description": "Wrong username or password"}, 429: {}},
)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], pool: Pool, settings: SettingsDep
) -> dict[str, Any]:
    from cloud.auth.tokens import login

    with database_errors():  # a connection for the lookup only, not for Argon2
        issued = login(pool, settings, form.username, form.password)
    if issued is None:
        raise HTTPException(
            401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    return {
        "access_token": issued,
        "token_type": "bearer",
        "expires_in": settings.auth_token_ttl_seconds,
    }


@router.get(
    "/me",
    summary="The authenticated caller",
    description="Authenticated by the console's session cookie alone, the answer also holds "
    "`csrf_token`: send it as the `X-CSRF-Token` header with every write.",
    responses={401: {}},
)
def me(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    from cloud.auth.csrf import csrf_token

    answer: dict[str, Any] = {
        "subject": principal.subject,
        "role": principal.role.value,
        "tenant_id": principal.tenant_id,
        "distributor_id": principal.distributor_id,
    }
    cookie = request.cookies.get(SESSION_COOKIE)
    headers = request.headers
    if cookie and "authorization" not in headers and "x-api-key" not in headers:
        answer["csrf_token"] = csrf_token(cookie)
    return answer
