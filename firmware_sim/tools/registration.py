"""Register a whole simulated fleet through the registry's one path (10,000 devices in ~1 s).

:func:`cloud.registry.register_devices` checks every identifier and key first, creates
missing tenants and sites through the channel's bulk interface (logged), then upserts the
devices and their keys with set-based statements. Here the simulator's devices are only
turned into registrations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from firmware_sim.tools.loadgen import LoadDevice
from wire import format_public_key

__all__ = ["register_bulk"]


def register_bulk(conn: Any, devices: Sequence[LoadDevice], *, region: str | None = None) -> int:
    """Register ``devices`` (``conn`` is psycopg's); ``region`` (a GB/T 2260 code) is given to
    the sites this creates. Idempotent; a device registered to another tenant or site is
    refused (:class:`cloud.errors.RegistryError`, nothing written)."""
    from cloud.channel.changes import Actor
    from cloud.registry import DeviceRegistration, register_devices

    registrations = [
        DeviceRegistration(
            device_id=d.device_id, tenant=d.tenant, site=d.site,
            public_key=format_public_key(d.key), region=region,
        )
        for d in devices
    ]  # fmt: skip
    return register_devices(conn, registrations, actor=Actor("sim:fleet", "operator"))
