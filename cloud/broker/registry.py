"""Device and service broker credentials in PostgreSQL (only hashes are stored)."""

from __future__ import annotations

from typing import Any

import psycopg

from cloud.broker.files import BrokerDevice, ServiceRole, ServiceUser
from cloud.broker.hashing import mosquitto_hash, new_password
from cloud.errors import RegistryError

__all__ = ["broker_devices", "broker_services", "issue_device_password", "issue_service_password"]


def issue_device_password(conn: psycopg.Connection[Any], device_id: str) -> str:
    """A new MQTT password for a registered device (replacing any older one); returned once."""
    password = new_password()
    with conn.transaction():
        if conn.execute("SELECT 1 FROM devices WHERE id = %s", (device_id,)).fetchone() is None:
            raise RegistryError(f"unknown device {device_id!r}")
        conn.execute(
            "INSERT INTO device_mqtt_credentials (device_id, password_hash) VALUES (%s, %s)"
            " ON CONFLICT (device_id) DO UPDATE SET password_hash = EXCLUDED.password_hash,"
            " rotated_at = now()",
            (device_id, mosquitto_hash(password)),
        )
    return password


def issue_service_password(
    conn: psycopg.Connection[Any], username: str, role: ServiceRole | str
) -> str:
    """A new password for a cloud service user (``svc-...``); returned once."""
    password = new_password()
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO mqtt_service_users (username, role, password_hash)"
                " VALUES (%s, %s, %s) ON CONFLICT (username) DO UPDATE SET"
                " role = EXCLUDED.role, password_hash = EXCLUDED.password_hash",
                (username, ServiceRole(role).value, mosquitto_hash(password)),
            )
    except psycopg.errors.CheckViolation:
        raise RegistryError(f"service user names look like svc-<name>; got {username!r}") from None
    return password


def broker_devices(conn: psycopg.Connection[Any]) -> list[BrokerDevice]:
    """Devices that may connect: registered, not retired, with a password."""
    rows = conn.execute(
        "SELECT d.id, d.tenant_id, d.site_id, c.password_hash FROM devices d"
        " JOIN device_mqtt_credentials c ON c.device_id = d.id"
        " WHERE d.status <> 'retired' ORDER BY d.id"
    ).fetchall()
    return [BrokerDevice(*r) for r in rows]


def broker_services(conn: psycopg.Connection[Any]) -> list[ServiceUser]:
    rows = conn.execute(
        "SELECT username, role, password_hash FROM mqtt_service_users ORDER BY username"
    ).fetchall()
    return [ServiceUser(r[0], ServiceRole(r[1]), r[2]) for r in rows]
