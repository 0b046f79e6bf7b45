"""Device key rotation with a grace period.

The new key is added at once; the keys it replaces get ``retired_at = now() + grace``, so
messages the device sealed with an old key and still holds in its outbox verify until
then. ``device_active_keys`` (migration 0002) lists the keys valid now.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import psycopg

from cloud.errors import StorageError

__all__ = ["active_keys", "rotate_key"]

_logger = logging.getLogger(__name__)


def rotate_key(
    conn: psycopg.Connection[Any], device_id: str, new_key: str, grace: timedelta
) -> list[str]:
    """Make ``new_key`` the device's key; returns the keys now retiring after ``grace``."""
    if not new_key.startswith("ed25519:"):
        raise StorageError(f"expected an 'ed25519:...' public key, got {new_key[:20]!r}")
    if grace < timedelta(0):
        raise StorageError(f"expected a grace period >= 0, got {grace}")
    with conn.transaction():
        if (
            conn.execute("SELECT 1 FROM devices WHERE id = %s FOR UPDATE", (device_id,)).fetchone()
            is None
        ):
            raise StorageError(f"unknown device {device_id!r}")
        retiring = conn.execute(
            "UPDATE device_keys SET retired_at = now() + %s"
            " WHERE device_id = %s AND public_key <> %s"
            " AND (retired_at IS NULL OR retired_at > now() + %s)"
            " RETURNING public_key",
            (grace, device_id, new_key, grace),
        ).fetchall()
        previous = str(retiring[0][0]) if len(retiring) == 1 else None
        conn.execute(
            "INSERT INTO device_keys (device_id, public_key, rotated_from) VALUES (%s, %s, %s)"
            " ON CONFLICT (device_id, public_key) DO UPDATE SET retired_at = NULL",
            (device_id, new_key, previous),
        )
        conn.execute("UPDATE devices SET key_rotated_at = now() WHERE id = %s", (device_id,))
    old = [str(r[0]) for r in retiring]
    _logger.info("device %s: key rotated, %d old key(s) retire in %s", device_id, len(old), grace)
    return old


def active_keys(conn: psycopg.Connection[Any], device_id: str) -> list[str]:
    """Public keys that verify the device's messages now (new and still-in-grace keys)."""
    rows = conn.execute(
        "SELECT public_key FROM device_active_keys WHERE device_id = %s ORDER BY added_at",
        (device_id,),
    ).fetchall()
    return [str(r[0]) for r in rows]
