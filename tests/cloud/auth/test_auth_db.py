"""Users, API keys and bearer tokens against real PostgreSQL, through the app's /auth routes."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.auth.apikeys import create_api_key, list_api_keys, resolve_api_key, revoke_api_key
from cloud.auth.errors import CredentialError
from cloud.auth.principal import Role
from cloud.auth.tokens import login
from cloud.auth.users import create_user, disable_user, list_users
from cloud.migrate import migrate
from cloud.settings import Settings

pytestmark = pytest.mark.integration

SETTINGS = Settings()


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as c:
        c.execute("INSERT INTO tenants (id, name) VALUES ('acme', 'Acme'), ('zeta', 'Zeta')")
        c.execute("INSERT INTO distributors (tenant_id, id, name) VALUES ('acme', 'east', 'E')")
        yield c


@pytest.fixture
def client(conn: psycopg.Connection, database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=database_url))) as test_client:
        yield test_client


def test_users_log_in_until_disabled(conn: psycopg.Connection) -> None:
    user = create_user(
        conn, tenant_id="acme", username="li", password="pw-1", role="distributor",
        distributor_id="east",
    )  # fmt: skip
    assert user.principal().distributor_id == "east"
    assert login(conn, SETTINGS, "li", "pw-2") is None
    assert login(conn, SETTINGS, "nobody", "pw-1") is None
    assert login(conn, SETTINGS, "li", "pw-1") is not None
    with pytest.raises(CredentialError, match="already exists"):
        create_user(conn, tenant_id="zeta", username="li", password="x", role="brand")
    with pytest.raises(CredentialError, match="unknown tenant"):
        create_user(conn, tenant_id="nope", username="x", password="x", role="brand")
    with pytest.raises(CredentialError, match="distributor_id is required"):
        create_user(conn, tenant_id="acme", username="y", password="x", role="distributor")
    with pytest.raises(CredentialError, match="cannot log in"):
        create_user(conn, tenant_id="acme", username="z", password="x", role="device")
    stored = conn.execute("SELECT password_hash FROM users WHERE username = 'li'").fetchone()
    assert stored is not None
    assert "pw-1" not in stored[0]
    assert disable_user(conn, "li")
    assert not disable_user(conn, "nobody")
    assert login(conn, SETTINGS, "li", "pw-1") is None
    assert [u.disabled_at is not None for u in list_users(conn, "acme")] == [True]


def test_api_keys_resolve_until_revoked(conn: psycopg.Connection) -> None:
    key = create_api_key(conn, tenant_id="acme", role="distributor", distributor_id="east")
    principal = resolve_api_key(conn, key)
    assert principal is not None
    assert (principal.role, principal.tenant_id, principal.distributor_id) == (
        Role.DISTRIBUTOR, "acme", "east",
    )  # fmt: skip
    prefix = key.split("_")[1]
    row = conn.execute("SELECT key_hash FROM api_keys WHERE prefix = %s", (prefix,)).fetchone()
    assert row is not None
    assert key.encode() not in bytes(row[0])
    assert resolve_api_key(conn, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert resolve_api_key(conn, "ct_nothing") is None
    assert [k.last_used_at is not None for k in list_api_keys(conn, "acme")] == [True]
    assert revoke_api_key(conn, prefix)
    assert resolve_api_key(conn, key) is None
    with pytest.raises(CredentialError, match="unknown tenant"):
        create_api_key(conn, tenant_id="acme", role="distributor", distributor_id="west")


def test_http_credentials_in_every_accepted_form(
    client: TestClient, conn: psycopg.Connection
) -> None:
    create_user(conn, tenant_id="acme", username="ann", password="s3cret", role="brand")
    key = create_api_key(conn, tenant_id="acme", role="brand")
    refused = client.post("/auth/token", data={"username": "ann", "password": "wrong"})
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    answer = client.post("/auth/token", data={"username": "ann", "password": "s3cret"}).json()
    assert answer["token_type"] == "bearer"
    assert answer["expires_in"] == 3600
    token = answer["access_token"]
    for headers, cookies in (
        ({"Authorization": f"Bearer {token}"}, {}),
        ({"Authorization": f"Bearer {key}"}, {}),
        ({"X-API-Key": key}, {}),
        ({}, {"ct_session": token}),
    ):
        client.cookies.clear()
        client.cookies.update(cookies)
        response = client.get("/v1/tenants/acme/sites", headers=headers)
        assert response.status_code == 200, (headers, cookies, response.text)
    client.cookies.clear()
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me == {"subject": "user:ann", "role": "brand", "tenant_id": "acme",
                  "distributor_id": None}  # fmt: skip
    for headers in (
        {},
        {"Authorization": "Basic YW5uOnMzY3JldA=="},
        {"Authorization": f"Bearer {token}x"},
        {"X-API-Key": key + "x"},
        {"Authorization": "Bearer ", "X-API-Key": key},  # the first credential decides
    ):
        response = client.get("/v1/tenants/acme/sites", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert "detail" in response.json()
    # another tenant's path is unknown, not forbidden
    assert client.get("/v1/tenants/zeta/sites", headers={"X-API-Key": key}).status_code == 404
    disable_user(conn, "ann")
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_public_endpoints_are_rate_limited(conn: psycopg.Connection, database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, public_rate_limit="3/minute"))
    with TestClient(app) as client:
        codes = [client.get("/ledger/checkpoint").status_code for _ in range(4)]
        assert codes == [404, 404, 404, 429]  # no checkpoint yet, then limited
        limited = client.get("/ledger/anchors")
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        refused = client.post("/auth/token", data={"username": "a", "password": "b"})
        assert refused.status_code == 429
