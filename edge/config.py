"""The agent's TOML configuration file.

Paths inside the file are relative to the file's own directory, so a provisioned
directory can be moved or copied to the gateway as a whole.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from edge.drivers.config import ScannerConfig, SensorConfig
from edge.errors import ConfigError
from wire.broker import parse_mqtt_url
from wire.errors import TopicError
from wire.models import MAX_READINGS_PER_SEAL, Metric, Threshold
from wire.topics import check_segment

__all__ = ["AgentConfig", "BrokerConfig", "CloudConfig", "DeviceConfig", "OutboxConfig",
           "SamplingConfig", "ScannerConfig", "SensorConfig", "SimScannerConfig", "check_rendered",
           "load_config", "render_config"]  # fmt: skip


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeviceConfig(_Section):
    id: str
    tenant: str
    site: str
    key_file: Path = Path("device.pem")

    @field_validator("id", "tenant", "site")
    @classmethod
    def _segment(cls, value: str) -> str:
        try:
            return check_segment(value, "identifier")
        except TopicError as exc:  # pydantic reports ValueErrors with the field's location
            raise ValueError(exc.message) from None


DEFAULT_BROKER_URL = "mqtt://127.0.0.1:1883"


class BrokerConfig(_Section):
    """The broker, or an ordered list of brokers: the agent uses the first it can reach,
    fails over to the next when the one it uses is unreachable, and back to an earlier one
    when that answers again (docs/edge.md, "Several brokers")."""

    url: str | None = None  # unset (and no urls): mqtt://127.0.0.1:1883
    # Instead of ``url``: brokers in order of preference (one cluster's nodes, or
    # independent brokers whose ingest workers write to the same cloud).
    urls: list[str] = []
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    # Failed connection attempts to one broker before trying the next.
    failover_after: Annotated[int, Field(ge=1, le=100)] = 2
    # While on a later broker, how often to check whether an earlier one answers again.
    failback_s: Annotated[float, Field(ge=1, le=86_400)] = 60.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            parse_mqtt_url(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _one_way(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("url") is not None and data.get("urls"):
            raise ValueError("give url (one broker) or urls (several, in order), not both")
        return data

    @field_validator("urls")
    @classmethod
    def _urls(cls, values: list[str]) -> list[str]:
        brokers = [parse_mqtt_url(v) for v in values]
        if len({(b.host, b.port) for b in brokers}) != len(brokers):
            raise ValueError("each broker may be listed once")
        # One MQTT client serves them all, and paho configures TLS once per client.
        if len({(b.tls, b.ca_file) for b in brokers}) > 1:
            raise ValueError(
                "every broker in urls must use the same scheme (all mqtt:// or all mqtts://)"
                " and the same cafile"
            )
        return values

    @property
    def all_urls(self) -> list[str]:
        """The brokers in order of preference (``urls``, else ``url``)."""
        return list(self.urls) or [self.url or DEFAULT_BROKER_URL]


class OutboxConfig(_Section):
    path: Path = Path("outbox.db")
    budget_mb: Annotated[float, Field(gt=0)] = 64.0


class SamplingConfig(_Section):
    interval_s: Annotated[float, Field(ge=0.01, le=3600)] = 1.0
    batch_max_readings: Annotated[int, Field(ge=1, le=MAX_READINGS_PER_SEAL)] = 500
    flush_interval_s: Annotated[float, Field(ge=0.01, le=600)] = 0.2
    heartbeat_interval_s: Annotated[float, Field(ge=1, le=3600)] = 30.0
    # Unacknowledged messages on the wire at once; paho drops past 65,535, we stay far below.
    max_inflight: Annotated[int, Field(ge=1, le=1_000)] = 100


class CloudConfig(_Section):
    # Public key the cloud signs remote config with (``ed25519:...``); without it every
    # remote config is refused, with the reason logged and reported.
    config_public_key: str | None = None

    @field_validator("config_public_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None:
            from wire.errors import WireError
            from wire.keys import public_key_bytes

            try:
                public_key_bytes(value)  # checked without loading `cryptography`
            except WireError as exc:
                raise ValueError(exc.message) from None
        return value


class SimScannerConfig(_Section):
    """A simulated dock scanner and stock flow (firmware_sim.devices.stock) feeding the outbox."""

    id: str
    profile: str = "wine"
    seed: int = 0
    scans_per_min: Annotated[float, Field(gt=0, le=60_000)] = 6.0
    count_interval_s: Annotated[float, Field(ge=1, le=86_400)] = 3600.0
    custody_events: bool = True


class AgentConfig(_Section):
    device: DeviceConfig
    broker: BrokerConfig = BrokerConfig()
    outbox: OutboxConfig = OutboxConfig()
    sampling: SamplingConfig = SamplingConfig()
    cloud: CloudConfig = CloudConfig()
    # Local alarm limits until (and unless) a remote config replaces them.
    thresholds: dict[Metric, Threshold] = {}
    sensors: Annotated[list[SensorConfig], Field(min_length=1)]
    sim_scanners: list[SimScannerConfig] = []
    scanners: list[ScannerConfig] = []
    base_dir: Path = Path()

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else self.base_dir / path


def load_config(path: Path) -> AgentConfig:
    """Read and validate a config file; :class:`ConfigError` says what is wrong where."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read agent config {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    raw["base_dir"] = str(path.resolve().parent)
    try:
        return AgentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_problems(exc)}") from None


def render_config(
    device: str, tenant: str, site: str, broker_url: str, *, sensor: Mapping[str, str | int]
) -> str:
    """A commented starting config for a newly provisioned device reading ``sensor`` (one
    ``[[sensors]]`` table, e.g. ``edge.provision.SensorChoice.table``).

    Values are written as JSON strings, which are valid TOML basic strings, so no value
    can break out of its line.
    """
    q = json.dumps
    simulated = sensor.get("driver") == "sim.climate"
    note = (
        "# A simulated probe (trials and demos): a real gateway names its chip at provision\n"
        "# (--sensor ds18b20|sht3x|bme280); see docs/edge.md for every driver's keys.\n"
        if simulated
        else "# The gateway's probe; docs/edge.md lists every driver's keys.\n"
    )
    table = "".join(f"{key} = {_toml_value(key, value)}\n" for key, value in sensor.items())
    return f"""# ChannelTrace edge agent configuration (see docs/edge.md).
# Relative paths are relative to this file's directory. Mode 0600: the broker URL may hold
# the device's password.

[device]
id = {q(device)}
tenant = {q(tenant)}
site = {q(site)}
key_file = "device.pem"

[broker]
url = {q(broker_url)}
keepalive_s = 30

[outbox]
path = "outbox.db"
budget_mb = 64

[sampling]
interval_s = 1.0
batch_max_readings = 500
flush_interval_s = 0.2
heartbeat_interval_s = 30
max_inflight = 100

{note}[[sensors]]
{table}"""


def _toml_value(key: str, value: str | int) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"sensor.{key}: expected a string or an integer, got {value!r}")
    if isinstance(value, str):
        return json.dumps(value)
    return f"{value:#04x}" if key == "address" else str(value)  # I²C addresses in hex


def check_rendered(text: str, origin: str) -> AgentConfig:
    """Validate config text (e.g. before provisioning writes a key next to it)."""
    try:
        raw = tomllib.loads(text)
        return AgentConfig.model_validate(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} would not be valid TOML: {exc}") from None
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {_problems(exc)}") from None


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
