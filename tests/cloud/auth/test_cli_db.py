"""`cloud users`, `cloud apikeys` and `cloud broker` commands against real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from channeltrace.cli import app
from cloud.auth.apikeys import resolve_api_key
from cloud.auth.tokens import login
from cloud.broker.hashing import verify_mosquitto_hash
from cloud.migrate import migrate
from cloud.settings import Settings

from .._messages import Device

pytestmark = pytest.mark.integration


def test_users_keys_and_broker_files(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        from cloud.registry import register_device

        register_device(conn, Device("gw-9", tenant="acme", site="wh-9").registration)
    runner = CliRunner()
    db = ["--database-url", database_url]

    def run(*args: str) -> str:
        result = runner.invoke(app, ["cloud", *args, *db])
        assert result.exit_code == 0, result.output
        return result.output

    monkeypatch.setenv("CT_TEST_PW", "pa55word")
    run("users", "add", "mei", "--tenant", "acme", "--password-env", "CT_TEST_PW")
    [listed] = [json.loads(line) for line in run("users", "list", "--json").splitlines()]
    assert (listed["username"], listed["role"], listed["disabled_at"]) == ("mei", "brand", None)
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert login(conn, Settings(), "mei", "pa55word") is not None
        run("users", "disable", "mei")
        assert login(conn, Settings(), "mei", "pa55word") is None

        key = run("apikeys", "create", "--tenant", "acme", "--label", "erp").strip()
        assert resolve_api_key(conn, key) is not None
        prefix = key.split("_")[1]
        assert f"ct_{prefix}_" in run("apikeys", "list")
        assert key not in run("apikeys", "list")  # the secret is shown once only
        run("apikeys", "revoke", prefix)
        assert resolve_api_key(conn, key) is None

    password = run("broker", "device-password", "gw-9").strip()
    run("broker", "service-user", "svc-ingest", "--role", "ingest")
    out = run("broker", "files", "--out", str(tmp_path / "mqtt"))
    assert "1 devices, 1 services" in out
    entries = dict(
        line.split(":", 1) for line in (tmp_path / "mqtt" / "passwd").read_text().splitlines()
    )
    assert verify_mosquitto_hash(entries["gw-9"], password)
    assert "topic write ct/v1/acme/wh-9/gw-9/telemetry" in (tmp_path / "mqtt" / "acl").read_text()
    refused = runner.invoke(app, ["cloud", "broker", "device-password", "gw-nope", *db])
    assert refused.exit_code != 0
    assert "unknown device" in refused.output
