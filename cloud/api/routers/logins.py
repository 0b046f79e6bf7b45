"""``/v1/tenants/{tenant}/users``: the people who log in to the tenant. The brand gives its
distributors their own logins (each then sees only its own sites and what they hold) and
disables them; passwords are shown once when the brand lets the service choose them.

``users`` is not readable by the API's database role at all (docs/security.md): these
routes use the owner connection and filter on the caller's tenant themselves, after the
path's tenant was checked against the caller's. Brand only; each change is logged."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from cloud.api.channel_support import NO_NUL, actor_of, brand_only, channel_errors
from cloud.api.deps import Conn, TenantPrincipal, tenant_principal
from cloud.auth.users import User
from cloud.channel.people import add_login, disable_login, generate_password, list_logins

__all__ = ["LoginCreated", "LoginIn", "LoginOut", "router"]

router = APIRouter(
    prefix="/v1/tenants/{tenant}/users", tags=["channel"], dependencies=[Depends(tenant_principal)]
)
Username = Annotated[str, Path(max_length=128, pattern=NO_NUL)]


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=1, max_length=128, pattern=NO_NUL)]
    role: Literal["brand", "distributor"] = "distributor"
    distributor_id: Annotated[str, Field(max_length=64, pattern=NO_NUL)] | None = None
    password: Annotated[str, Field(min_length=12, max_length=1024, pattern=NO_NUL)] | None = Field(
        default=None, description="at least 12 characters; omitted: one is generated and shown once"
    )


class LoginOut(BaseModel):
    username: str
    role: str
    distributor_id: str | None
    created_at: datetime
    disabled_at: datetime | None


class LoginCreated(LoginOut):
    password: str | None = Field(description="the generated password, shown only now")


def _out(user: User) -> LoginOut:
    return LoginOut(
        username=user.username, role=user.role.value, distributor_id=user.distributor_id,
        created_at=user.created_at, disabled_at=user.disabled_at,
    )  # fmt: skip


@router.get("", summary="The tenant's logins (never their passwords)")
def list_tenant_logins(tenant: str, conn: Conn, principal: TenantPrincipal) -> list[LoginOut]:
    brand_only(principal)
    return [_out(u) for u in list_logins(conn, tenant)]


@router.post(
    "",
    status_code=201,
    summary="Give a distributor's staff (or a brand manager) a login",
    responses={403: {}, 409: {"description": "The name is taken"}, 422: {}},
)
def create_login(
    tenant: str, body: LoginIn, conn: Conn, principal: TenantPrincipal
) -> LoginCreated:
    brand_only(principal)
    password = body.password or generate_password()
    with channel_errors():
        user = add_login(conn, tenant, body.username, password, body.role, body.distributor_id,
                         actor_of(principal))  # fmt: skip
    shown = None if body.password else password
    return LoginCreated(**_out(user).model_dump(), password=shown)


@router.post(
    "/{username}/disable",
    summary="Disable a login (its password and tokens stop working at once)",
    responses={403: {}, 404: {}},
)
def disable_tenant_login(
    tenant: str, username: Username, conn: Conn, principal: TenantPrincipal
) -> LoginOut:
    brand_only(principal)
    with channel_errors():
        return _out(disable_login(conn, tenant, username, actor_of(principal)))
