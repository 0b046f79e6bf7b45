"""Device key rotation with a grace period for messages sealed with the old key."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from cloud.migrate import migrate
from cloud.storage.keys import active_keys, rotate_key
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
