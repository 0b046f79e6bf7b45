"""Device key rotation with a grace period.

The new key is added at once; the keys it replaces get ``retired_at = now() + grace``, so
messages the device sealed with an old key and still holds in its outbox verify until
then. ``device_active_keys`` (migration 0002) lists the keys valid now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from cloud.errors import StorageError

__all__ = ["DeviceKey", "active_keys", "list_keys", "retire_keys", "rotate_key"]

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


@dataclass(frozen=True, slots=True)
class DeviceKey:
    public_key: str
    added_at: datetime
    retired_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.retired_at is None:
            return "active"
        return "retired" if self.retired_at <= now else "retiring"


def list_keys(conn: psycopg.Connection[Any], device_id: str) -> list[DeviceKey]:
    """Every key the device ever had, oldest first; :class:`StorageError` for no device."""
    if conn.execute("SELECT 1 FROM devices WHERE id = %s", (device_id,)).fetchone() is None:
        raise StorageError(f"unknown device {device_id!r}")
    rows = conn.execute(
        "SELECT public_key, added_at, retired_at FROM device_keys WHERE device_id = %s"
        " ORDER BY added_at, public_key",
        (device_id,),
    ).fetchall()
    return [DeviceKey(str(r[0]), r[1], r[2]) for r in rows]


def retire_keys(
    conn: psycopg.Connection[Any], device_id: str, public_key: str | None = None
) -> list[str]:
    """Retire ``public_key`` of the device now (or every key it has, for a stolen gateway);
    returns the keys retired by this call.

    Messages signed with them are refused from the commit on: every running ingest worker
    hears of it (migration 0009) and evicts the device from its key cache.
    """
    with conn.transaction():
        if conn.execute("SELECT 1 FROM devices WHERE id = %s", (device_id,)).fetchone() is None:
            raise StorageError(f"unknown device {device_id!r}")
        rows = conn.execute(
            "UPDATE device_keys SET retired_at = greatest(now(), added_at)"
            " WHERE device_id = %s AND (%s::text IS NULL OR public_key = %s)"
            " AND (retired_at IS NULL OR retired_at > now())"
            " RETURNING public_key",
            (device_id, public_key, public_key),
        ).fetchall()
        if public_key is not None and not rows:
            known = conn.execute(
                "SELECT 1 FROM device_keys WHERE device_id = %s AND public_key = %s",
                (device_id, public_key),
            ).fetchone()
            if known is None:
                raise StorageError(f"device {device_id!r} has no key {public_key!r}")
    retired = [str(r[0]) for r in rows]
    _logger.info("device %s: %d key(s) retired now", device_id, len(retired))
    return retired
