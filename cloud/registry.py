"""Tenants, sites and devices: registration and the ingest's cached key lookup."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from cloud.errors import RegistryError
from wire import WireError, parse_public_key
from wire.topics import check_segment

__all__ = ["DeviceIdentity", "DeviceRegistration", "KeyCache", "register_device"]

_logger = logging.getLogger(__name__)


class DeviceRegistration(BaseModel):
    """What ``channeltrace edge provision`` exports and the cloud must register."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_id: str
    tenant: str
    site: str
    public_key: str
    tenant_name: str | None = None
    site_name: str | None = None
    region: str | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


def register_device(conn: psycopg.Connection[Any], reg: DeviceRegistration) -> None:
    """Create or update the tenant, site and device, and add the device's public key.

    Re-registering the same device is allowed (idempotent); a device cannot move to
    another tenant or site this way, which would silently reassign its history.
    """
    try:
        for value, what in ((reg.device_id, "device"), (reg.tenant, "tenant"), (reg.site, "site")):
            check_segment(value, what)
        parse_public_key(reg.public_key)
    except WireError as exc:
        raise RegistryError(exc.message) from None
    with conn.transaction():
        conn.execute(
            "INSERT INTO tenants (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
            (reg.tenant, reg.tenant_name or reg.tenant),
        )
        conn.execute(
            "INSERT INTO sites (tenant_id, id, name, region, latitude, longitude)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (tenant_id, id) DO UPDATE SET"
            "  region = COALESCE(EXCLUDED.region, sites.region),"
            "  latitude = COALESCE(EXCLUDED.latitude, sites.latitude),"
            "  longitude = COALESCE(EXCLUDED.longitude, sites.longitude)",
            (
                reg.tenant,
                reg.site,
                reg.site_name or reg.site,
                reg.region,
                reg.latitude,
                reg.longitude,
            ),
        )
        row = conn.execute(
            "SELECT tenant_id, site_id FROM devices WHERE id = %s", (reg.device_id,)
        ).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO devices (id, tenant_id, site_id) VALUES (%s, %s, %s)",
                (reg.device_id, reg.tenant, reg.site),
            )
        elif tuple(row) != (reg.tenant, reg.site):
            raise RegistryError(
                f"device {reg.device_id} is registered to {row[0]}/{row[1]}, "
                f"not {reg.tenant}/{reg.site}; retire it and provision a new device id"
            )
        conn.execute(
            "INSERT INTO device_keys (device_id, public_key) VALUES (%s, %s)"
            " ON CONFLICT (device_id, public_key) DO UPDATE SET retired_at = NULL",
            (reg.device_id, reg.public_key),
        )


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    device_id: str
    tenant: str
    site: str
    keys: tuple[Ed25519PublicKey, ...]


class KeyCache:
    """Device identities cached in memory, refreshed from the database on a miss.

    Misses are remembered for ``negative_ttl`` seconds so that a flood of messages
    from an unknown device cannot turn into a flood of queries.
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        *,
        ttl: float = 300.0,
        negative_ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, DeviceIdentity | None]] = {}
        self._lock = threading.Lock()

    def identity(self, device_id: str) -> DeviceIdentity | None:
        now = self._clock()
        with self._lock:
            cached = self._entries.get(device_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        identity = self._load(device_id)
        expiry = now + (self._ttl if identity is not None else self._negative_ttl)
        with self._lock:
            self._entries[device_id] = (expiry, identity)
        return identity

    def keys(self, device_id: str) -> Sequence[Ed25519PublicKey]:
        identity = self.identity(device_id)
        return identity.keys if identity is not None else ()

    def invalidate(self, device_id: str | None = None) -> None:
        with self._lock:
            if device_id is None:
                self._entries.clear()
            else:
                self._entries.pop(device_id, None)

    def _load(self, device_id: str) -> DeviceIdentity | None:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT d.tenant_id, d.site_id, k.public_key FROM devices d"
                " JOIN device_keys k ON k.device_id = d.id"
                " WHERE d.id = %s AND d.status <> 'retired'"
                " AND (k.retired_at IS NULL OR k.retired_at > now())",
                (device_id,),
            ).fetchall()
        if not rows:
            return None
        keys: list[Ed25519PublicKey] = []
        for row in rows:
            try:
                keys.append(parse_public_key(str(row[2])))
            except WireError as exc:
                _logger.error("device %s has an unusable key in the registry: %s", device_id, exc)
        return DeviceIdentity(device_id, str(rows[0][0]), str(rows[0][1]), tuple(keys))
