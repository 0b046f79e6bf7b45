"""A password check holds no database connection (real PostgreSQL, the real app).

The API's pool is given a single connection. While Argon2 verifies a password, the test
borrows that one connection from the same pool: were the login still holding it, the
borrow would wait for it and fail with PoolTimeout instead of running its query.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from cloud.app import create_app
from cloud.auth import users
from cloud.auth.users import create_user
from cloud.migrate import migrate
from cloud.settings import Settings

pytestmark = pytest.mark.integration

PASSWORD = "pa55word-long-enough"


def test_no_connection_is_held_while_a_password_is_verified(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')")
        create_user(conn, tenant_id="acme", username="li", password=PASSWORD, role="brand")
    app = create_app(Settings(database_url=database_url, api_pool_max_size=1))
    borrowed: list[Any] = []
    verify = users.verify_password

    def verify_while_the_pool_lends_its_only_connection(encoded: str | None, password: str) -> bool:
        with app.state.pool.connection(timeout=10) as conn:
            borrowed.append(conn.execute("SELECT 'free'").fetchone())
        return verify(encoded, password)  # the real Argon2 verification

    monkeypatch.setattr(users, "verify_password", verify_while_the_pool_lends_its_only_connection)
    with TestClient(app, follow_redirects=False) as client:
        good = {"username": "li", "password": PASSWORD}
        bad = {"username": "li", "password": "wrong"}
        nobody = {"username": "nobody", "password": "wrong"}
        assert client.post("/auth/token", data=good).status_code == 200
        assert client.post("/auth/token", data=bad).status_code == 401
        assert client.post("/auth/token", data=nobody).status_code == 401
        assert client.post("/console/login", data=good).status_code == 303
        assert client.post("/console/login", data=bad).status_code == 401
    assert borrowed == [("free",)] * 5
