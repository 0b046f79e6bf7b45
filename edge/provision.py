"""Provisioning a gateway: key pair, config file and the registration the cloud needs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edge.config import check_rendered, render_config
from edge.errors import ConfigError
from wire import format_public_key, generate_private_key, write_private_key
from wire.topics import check_segment

__all__ = ["Provisioned", "provision"]


@dataclass(frozen=True, slots=True)
class Provisioned:
    directory: Path
    config_path: Path
    key_path: Path
    registration_path: Path
    registration: dict[str, str]


def provision(
    directory: Path,
    *,
    device: str,
    tenant: str,
    site: str,
    broker_url: str,
    profile: str = "wine",
) -> Provisioned:
    """Create ``directory`` with ``device.pem``, ``agent.toml`` and ``registration.json``.

    Refuses to touch a directory that already holds a key: re-provisioning would
    orphan the registered public key and silently break the device.
    """
    for value, what in ((device, "device"), (tenant, "tenant"), (site, "site")):
        check_segment(value, what)
    config_text = render_config(device, tenant, site, broker_url, profile=profile)
    check_rendered(config_text, "agent.toml")  # refuse before a key exists, not after
    directory.mkdir(parents=True, exist_ok=True)
    key_path = directory / "device.pem"
    if key_path.exists():
        raise ConfigError(f"{key_path} already exists; refusing to replace a device key")
    key = generate_private_key()
    write_private_key(key, key_path)
    config_path = directory / "agent.toml"
    config_path.write_text(config_text, encoding="utf-8")
    registration = {
        "device_id": device,
        "tenant": tenant,
        "site": site,
        "public_key": format_public_key(key),
    }
    registration_path = directory / "registration.json"
    registration_path.write_text(json.dumps(registration, indent=2) + "\n", encoding="utf-8")
    return Provisioned(directory, config_path, key_path, registration_path, registration)
