"""``/auth``: the OAuth2 password grant (bearer tokens for people) and who the caller is."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import OAuth2PasswordRequestForm

from cloud.api.deps import Conn, CurrentPrincipal, RateLimited, Settings

__all__ = ["router"]

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    summary="OAuth2 password grant: a bearer token for a user",
    dependencies=[RateLimited],
    responses={401: {"description": "Wrong username or password"}, 429: {}},
)
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], conn: Conn, settings: Settings
) -> dict[str, Any]:
    from cloud.auth.tokens import login

    issued = login(conn, settings, form.username, form.password)
    if issued is None:
        raise HTTPException(
            401, "wrong username or password", headers={"WWW-Authenticate": "Bearer"}
        )
    return {
        "access_token": issued,
        "token_type": "bearer",
        "expires_in": settings.auth_token_ttl_seconds,
    }


@router.get("/me", summary="The authenticated caller", responses={401: {}})
def me(principal: CurrentPrincipal) -> dict[str, Any]:
    return {
        "subject": principal.subject,
        "role": principal.role.value,
        "tenant_id": principal.tenant_id,
        "distributor_id": principal.distributor_id,
    }
