"""Tenants, sites and devices: registration, and the identity the ingest caches."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from cloud.errors import RegistryError
from wire import SignatureCheck, WireError, ed25519_check, parse_public_key
from wire.topics import check_segment

__all__ = ["DeviceIdentity", "DeviceRegistration", "register_device"]

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
    # One verifier per key, made once per cached identity, not per message.
    checks: tuple[SignatureCheck, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        checks = tuple(ed25519_check(key.public_bytes_raw()) for key in self.keys)
        object.__setattr__(self, "checks", checks)
