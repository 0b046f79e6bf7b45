"""Tenants, sites and devices: registration, and the identity the ingest caches."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from cloud.channel.bulk import ensure_sites, ensure_tenants
from cloud.channel.changes import Actor
from cloud.channel.records import Site
from cloud.errors import RegistryError
from wire import SignatureCheck, WireError, ed25519_check, parse_public_key
from wire.topics import check_segment

__all__ = ["DeviceIdentity", "DeviceRegistration", "register_device", "register_devices"]

_logger = logging.getLogger(__name__)
_REGISTRY = Actor("registry", "operator")  # who created a tenant or site by registering


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
    """Register one device (:func:`register_devices` of one)."""
    register_devices(conn, [reg])


def register_devices(
    conn: psycopg.Connection[Any],
    registrations: Sequence[DeviceRegistration],
    *,
    actor: Actor = _REGISTRY,
) -> int:
    """Register devices with their public keys, in one transaction of set-based statements
    (10,000 devices in about a second); returns how many were given.

    Every identifier and key is checked before anything is written. A tenant or site that
    does not exist yet is created through the channel's bulk interface (logged in the
    change log as ``actor``); an existing site is left as its master data says. Idempotent:
    re-registering a device adds a new key (rotation) or revives a retired one; a device
    cannot move to another tenant or site this way, which would silently reassign its
    history (:class:`RegistryError` naming it, nothing written).
    """
    try:
        for reg in registrations:
            for value, what in (
                (reg.device_id, "device"), (reg.tenant, "tenant"), (reg.site, "site"),
            ):  # fmt: skip
                check_segment(value, what)
            parse_public_key(reg.public_key)
    except WireError as exc:
        raise RegistryError(exc.message) from None
    ids = [reg.device_id for reg in registrations]
    tenants = [reg.tenant for reg in registrations]
    sites = [reg.site for reg in registrations]
    with conn.transaction():
        moved = conn.execute(
            "SELECT d.id, d.tenant_id, d.site_id, r.tenant, r.site FROM devices d"
            " JOIN unnest(%s::text[], %s::text[], %s::text[]) AS r(id, tenant, site)"
            " ON r.id = d.id WHERE (d.tenant_id, d.site_id) <> (r.tenant, r.site)"
            " ORDER BY d.id LIMIT 1",
            (ids, tenants, sites),
        ).fetchone()
        if moved is not None:
            raise RegistryError(
                f"device {moved[0]} is registered to {moved[1]}/{moved[2]}, "
                f"not {moved[3]}/{moved[4]}; retire it and provision a new device id"
            )
        ensure_tenants(
            conn, [(reg.tenant, reg.tenant_name or reg.tenant) for reg in registrations], actor
        )
        new_sites = [
            (reg.tenant, Site(reg.site, reg.site_name or reg.site, region=reg.region,
                              latitude=reg.latitude, longitude=reg.longitude))
            for reg in registrations
        ]  # fmt: skip
        ensure_sites(conn, new_sites, actor)
        conn.execute(
            "INSERT INTO devices (id, tenant_id, site_id)"
            " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])"
            " ON CONFLICT (id) DO NOTHING",
            (ids, tenants, sites),
        )
        conn.execute(
            "INSERT INTO device_keys (device_id, public_key)"
            " SELECT * FROM unnest(%s::text[], %s::text[])"
            " ON CONFLICT (device_id, public_key) DO UPDATE SET retired_at = NULL",
            (ids, [reg.public_key for reg in registrations]),
        )
    return len(registrations)


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
