"""Provisioning a gateway: key pair, config file and the registration the cloud needs.

The starting config reads the sensor the operator names (:class:`SensorChoice`): a real
chip on the gateway, or the simulated probe for trials, never the simulator by default.
Files holding secrets (the private key; ``agent.toml``, whose broker URL may carry the
device's password) are created with mode 0600 from the start, never widened and then
narrowed, so no other user can read them even for an instant.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args

from edge.config import check_rendered, render_config
from edge.errors import ConfigError
from wire import format_public_key, generate_private_key, write_private_key
from wire.topics import check_segment

__all__ = ["SENSOR_KINDS", "Provisioned", "SensorChoice", "SensorKind", "provision"]

SensorKind = Literal["sim", "ds18b20", "sht3x", "bme280"]
SENSOR_KINDS: Final[tuple[str, ...]] = get_args(SensorKind)
_I2C_ADDRESS: Final = {"sht3x": 0x44, "bme280": 0x76}
_I2C_BUS = 1  # the Raspberry Pi's header bus (/dev/i2c-1)
_SENSOR_ID = "probe-1"
_SECRET_MODE = 0o600


@dataclass(frozen=True, slots=True)
class SensorChoice:
    """The probe a new gateway reads, with the few settings that differ between sites.

    ``profile`` is the simulated probe's storage profile; ``w1_device`` a DS18B20's ROM
    id (default: the single probe on the 1-Wire bus); ``i2c_bus`` and ``i2c_address`` an
    SHT3x's or BME280's bus and address (default: bus 1 and the chip's usual address).
    """

    kind: SensorKind
    profile: str | None = None
    w1_device: str | None = None
    i2c_bus: int | None = None
    i2c_address: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in SENSOR_KINDS:
            expected = ", ".join(SENSOR_KINDS)
            raise ConfigError(f"sensor: expected one of {expected}, got {self.kind!r}")
        misplaced = [
            name
            for name, value, allowed in (
                ("profile", self.profile, ("sim",)),
                ("w1_device", self.w1_device, ("ds18b20",)),
                ("i2c_bus", self.i2c_bus, tuple(_I2C_ADDRESS)),
                ("i2c_address", self.i2c_address, tuple(_I2C_ADDRESS)),
            )
            if value is not None and self.kind not in allowed
        ]
        if misplaced:
            raise ConfigError(f"{', '.join(misplaced)} does not apply to sensor {self.kind}")

    @classmethod
    def simulated(cls, profile: str = "wine") -> SensorChoice:
        """The simulated climate probe (firmware_sim) with a storage profile."""
        return cls("sim", profile=profile)

    @property
    def simulated_probe(self) -> bool:
        return self.kind == "sim"

    def table(self, device: str) -> dict[str, str | int]:
        """The ``[[sensors]]`` entry of ``agent.toml`` (checked when the file is rendered)."""
        if self.kind == "sim":
            seed = zlib.crc32(device.encode()) % 10_000  # distinct, repeatable signals
            return {"driver": "sim.climate", "id": _SENSOR_ID,
                    "profile": self.profile or "wine", "seed": seed}  # fmt: skip
        if self.kind == "ds18b20":
            where = {"device_id": self.w1_device} if self.w1_device else {"glob": "28-*"}
            return {"driver": "ds18b20", "id": _SENSOR_ID, **where}
        address = self.i2c_address if self.i2c_address is not None else _I2C_ADDRESS[self.kind]
        bus = self.i2c_bus if self.i2c_bus is not None else _I2C_BUS
        return {"driver": self.kind, "id": _SENSOR_ID, "bus": bus, "address": address}


@dataclass(frozen=True, slots=True)
class Provisioned:
    directory: Path
    config_path: Path
    key_path: Path
    registration_path: Path
    registration: dict[str, str]


def _write_secret_text(path: Path, text: str) -> None:
    """Write ``path`` created with mode 0600 (atomically: a temporary file, then renamed)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _SECRET_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def provision(
    directory: Path,
    *,
    device: str,
    tenant: str,
    site: str,
    broker_url: str,
    sensor: SensorChoice,
) -> Provisioned:
    """Create ``directory`` with ``device.pem``, ``agent.toml`` and ``registration.json``.

    Refuses to touch a directory that already holds a key: re-provisioning would
    orphan the registered public key and silently break the device. A new directory is
    created with mode 0700.
    """
    for value, what in ((device, "device"), (tenant, "tenant"), (site, "site")):
        check_segment(value, what)
    config_text = render_config(device, tenant, site, broker_url, sensor=sensor.table(device))
    check_rendered(config_text, "agent.toml")  # refuse before a key exists, not after
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_path = directory / "device.pem"
    if key_path.exists():
        raise ConfigError(f"{key_path} already exists; refusing to replace a device key")
    key = generate_private_key()
    write_private_key(key, key_path)  # created 0600, never overwritten
    config_path = directory / "agent.toml"
    _write_secret_text(config_path, config_text)  # the broker URL may hold a password
    registration = {
        "device_id": device,
        "tenant": tenant,
        "site": site,
        "public_key": format_public_key(key),
    }
    registration_path = directory / "registration.json"  # public: no secret in it
    registration_path.write_text(json.dumps(registration, indent=2) + "\n", encoding="utf-8")
    return Provisioned(directory, config_path, key_path, registration_path, registration)
