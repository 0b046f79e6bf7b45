"""Device key rotation with a grace period for messages sealed with the old key."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from cloud.errors import StorageError
from cloud.migrate import migrate
from cloud.storage.keys import active_keys, list_keys, retire_keys, rotate_key
from tests.cloud.storage._data import DEVICE, seed

pytestmark = pytest.mark.integration


def test_key_rotation_keeps_the_old_key_during_grace(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        seed(conn)
        conn.execute(
            "INSERT INTO device_keys (device_id, public_key) VALUES (%s, 'ed25519:old')", (DEVICE,)
        )
        assert rotate_key(conn, DEVICE, "ed25519:new", timedelta(hours=1)) == ["ed25519:old"]
        assert active_keys(conn, DEVICE) == ["ed25519:old", "ed25519:new"]
        assert rotate_key(conn, DEVICE, "ed25519:newer", timedelta(0)) == [
            "ed25519:old",
            "ed25519:new",
        ]
        assert active_keys(conn, DEVICE) == ["ed25519:newer"]
        row = conn.execute(
            "SELECT rotated_from FROM device_keys WHERE public_key = 'ed25519:new'"
        ).fetchone()
        assert row == ("ed25519:old",)


def test_retiring_one_key_or_all_of_them_now(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        seed(conn)
        for key in ("ed25519:a", "ed25519:b", "ed25519:c"):
            conn.execute(
                "INSERT INTO device_keys (device_id, public_key) VALUES (%s, %s)", (DEVICE, key)
            )
        assert retire_keys(conn, DEVICE, "ed25519:b") == ["ed25519:b"]
        assert retire_keys(conn, DEVICE, "ed25519:b") == []  # already retired: nothing to do
        assert active_keys(conn, DEVICE) == ["ed25519:a", "ed25519:c"]
        assert sorted(retire_keys(conn, DEVICE)) == ["ed25519:a", "ed25519:c"]  # a stolen one
        assert active_keys(conn, DEVICE) == []
        now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        assert {k.public_key: k.state(now) for k in list_keys(conn, DEVICE)} == {
            "ed25519:a": "retired", "ed25519:b": "retired", "ed25519:c": "retired",
        }  # fmt: skip
        with pytest.raises(StorageError, match="has no key 'ed25519:zzz'"):
            retire_keys(conn, DEVICE, "ed25519:zzz")
        with pytest.raises(StorageError, match="unknown device 'gw-nope'"):
            retire_keys(conn, "gw-nope")
        with pytest.raises(StorageError, match="unknown device"):
            list_keys(conn, "gw-nope")


def test_a_key_in_its_grace_period_is_retiring(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        seed(conn)
        conn.execute(
            "INSERT INTO device_keys (device_id, public_key) VALUES (%s, 'ed25519:old')", (DEVICE,)
        )
        rotate_key(conn, DEVICE, "ed25519:new", timedelta(hours=1))
        now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        assert [(k.public_key, k.state(now)) for k in list_keys(conn, DEVICE)] == [
            ("ed25519:old", "retiring"), ("ed25519:new", "active"),
        ]  # fmt: skip
        # Retiring it now ends the grace period at once.
        assert retire_keys(conn, DEVICE, "ed25519:old") == ["ed25519:old"]
        assert active_keys(conn, DEVICE) == ["ed25519:new"]
