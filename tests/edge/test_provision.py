"""Provisioning a gateway directory: key, config and the registration for the cloud."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from edge.config import load_config
from edge.errors import ConfigError
from edge.provision import Provisioned, SensorChoice, provision
from wire import (
    Kind,
    Topic,
    TopicError,
    format_public_key,
    load_private_key,
    open_message,
    parse_public_key,
    seal_payload,
)
from wire.models import ConfigPayload


def make(directory: Path, **overrides: str) -> Provisioned:
    args = {"device": "gw-0001", "tenant": "acme", "site": "wh-sh-01",
            "broker_url": "mqtt://broker.example:1883"}  # fmt: skip
    args.update(overrides)
    sensor = SensorChoice.simulated(args.pop("profile", "wine"))
    return provision(directory, **args, sensor=sensor)


def test_provision_writes_key_config_and_registration(tmp_path: Path) -> None:
    directory = tmp_path / "gw-0001"  # created, with parents
    result = provision(
        directory,
        device="gw-0001",
        tenant="acme",
        site="wh-sh-01",
        broker_url="mqtt://broker.example:1883",
        sensor=SensorChoice.simulated("frozen"),
    )

    assert result.directory == directory
    assert {p.name for p in directory.iterdir()} == {
        "device.pem",
        "agent.toml",
        "registration.json",
    }
    assert stat.S_IMODE(result.key_path.stat().st_mode) == 0o600

    registration = json.loads(result.registration_path.read_text(encoding="utf-8"))
    assert registration == result.registration
    assert {k: registration[k] for k in ("device_id", "tenant", "site")} == {
        "device_id": "gw-0001",
        "tenant": "acme",
        "site": "wh-sh-01",
    }
    key = load_private_key(result.key_path)
    assert registration["public_key"] == format_public_key(key)

    config = load_config(result.config_path)
    assert (config.device.id, config.device.tenant, config.device.site) == (
        "gw-0001",
        "acme",
        "wh-sh-01",
    )
    assert config.broker.url == "mqtt://broker.example:1883"
    assert config.sensors[0].profile == "frozen"
    assert config.resolve(config.device.key_file) == result.key_path.resolve()


def test_registered_public_key_verifies_what_the_device_signs(tmp_path: Path) -> None:
    result = make(tmp_path / "gw")
    key = load_private_key(result.key_path)
    public = parse_public_key(result.registration["public_key"])
    topic = Topic("acme", "wh-sh-01", "gw-0001", Kind.CONFIG)
    data = seal_payload(topic, 1, ConfigPayload(revision=1), key)
    assert open_message(str(topic), data, lambda _d: [public]).envelope.seq == 1


def test_registration_is_accepted_by_the_cloud_model(tmp_path: Path) -> None:
    from cloud.registry import DeviceRegistration

    result = make(tmp_path / "gw")
    text = result.registration_path.read_text(encoding="utf-8")
    reg = DeviceRegistration.model_validate_json(text)
    assert reg.device_id == "gw-0001"


def test_each_device_gets_its_own_key(tmp_path: Path) -> None:
    a = make(tmp_path / "a", device="gw-a")
    b = make(tmp_path / "b", device="gw-b")
    assert a.registration["public_key"] != b.registration["public_key"]


def test_second_provision_in_the_same_directory_is_refused(tmp_path: Path) -> None:
    first = make(tmp_path)
    pem = first.key_path.read_bytes()
    registration = first.registration_path.read_text(encoding="utf-8")

    with pytest.raises(ConfigError, match="already exists"):
        make(tmp_path, device="gw-0002")

    assert first.key_path.read_bytes() == pem
    assert first.registration_path.read_text(encoding="utf-8") == registration
    assert 'id = "gw-0001"' in first.config_path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "overrides",
    [
        {"device": "gw 1"},
        {"device": ""},
        {"device": "gw/1"},
        {"device": "-gw"},
        {"tenant": "+"},
        {"tenant": "a" * 65},
        {"site": "#"},
        {"site": "wh\n01"},
    ],
)
def test_bad_ids_are_refused_before_anything_is_written(
    tmp_path: Path, overrides: dict[str, str]
) -> None:
    directory = tmp_path / "gw"
    with pytest.raises(TopicError):
        make(directory, **overrides)
    assert not directory.exists()


@pytest.mark.parametrize(
    "overrides",
    [{"broker_url": "http://broker"}, {"broker_url": 'mqtt://h"\nx = 1'}, {"profile": "nope"}],
)
def test_bad_broker_url_or_profile_is_refused_before_anything_is_written(
    tmp_path: Path, overrides: dict[str, str]
) -> None:
    directory = tmp_path / "gw"
    with pytest.raises((ConfigError, ValueError)):
        make(directory, **overrides)
    assert not (directory / "device.pem").exists()


def test_files_holding_secrets_are_created_private_not_narrowed_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_chmod(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("provision must create secret files 0600, not chmod them")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    old = os.umask(0)  # the most permissive umask: the modes below come from provision itself
    try:
        result = make(tmp_path / "gw", broker_url="mqtts://gw-0001:s3cret@broker.example:8883")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(result.key_path) == 0o600
    assert mode(result.config_path) == 0o600  # its broker URL holds the device's password
    assert "s3cret" in result.config_path.read_text(encoding="utf-8")
    assert mode(result.directory) == 0o700  # a directory provision created
    assert mode(result.registration_path) == 0o666  # public: a public key and ids
    assert sorted(p.name for p in result.directory.iterdir()) == [
        "agent.toml", "device.pem", "registration.json"
    ]  # fmt: skip  (no temporary file left behind)


@pytest.mark.parametrize(
    ("choice", "table"),
    [
        (SensorChoice("ds18b20"), {"driver": "ds18b20", "glob": "28-*"}),
        (
            SensorChoice("ds18b20", w1_device="28-0316a2795eff"),
            {"driver": "ds18b20", "device_id": "28-0316a2795eff"},
        ),
        (SensorChoice("sht3x"), {"driver": "sht3x", "bus": 1, "address": 0x44}),
        (SensorChoice("sht3x", i2c_address=0x45), {"driver": "sht3x", "bus": 1, "address": 0x45}),
        (SensorChoice("bme280", i2c_bus=3), {"driver": "bme280", "bus": 3, "address": 0x76}),
    ],
)
def test_a_real_sensor_is_what_the_config_reads(
    tmp_path: Path, choice: SensorChoice, table: dict[str, object]
) -> None:
    result = provision(tmp_path / "gw", device="gw-1", tenant="acme", site="wh-1",
                       broker_url="mqtt://broker.example:1883", sensor=choice)  # fmt: skip
    text = result.config_path.read_text(encoding="utf-8")
    assert "sim.climate" not in text
    (sensor,) = load_config(result.config_path).sensors
    read = sensor.model_dump()
    assert {key: read[key] for key in ("id", *table)} == {"id": "probe-1", **table}


def test_the_simulated_probe_is_said_to_be_simulated(tmp_path: Path) -> None:
    text = make(tmp_path / "gw", profile="dairy").config_path.read_text(encoding="utf-8")
    assert "# A simulated probe (trials and demos)" in text
    assert load_config(tmp_path / "gw" / "agent.toml").sensors[0].profile == "dairy"


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        (lambda: SensorChoice("ds18b20", profile="dairy"), "profile does not apply to sensor"),
        (lambda: SensorChoice("sim", i2c_bus=1), "i2c_bus does not apply to sensor sim"),
        (lambda: SensorChoice("sht3x", w1_device="28-0316a2795eff"), "w1_device does not"),
        (lambda: SensorChoice("dht22"), "expected one of sim, ds18b20, sht3x, bme280"),  # type: ignore[arg-type]
    ],
)
def test_options_of_another_sensor_are_refused(choice: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        choice()


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        (SensorChoice("ds18b20", w1_device="28-XYZ"), "sensors.0.device_id"),
        (SensorChoice("bme280", i2c_address=0x44), "I²C address must be 0x76 or 0x77"),
        (SensorChoice("sim", profile="nope"), "unknown storage profile"),
    ],
)
def test_bad_sensor_settings_are_refused_before_a_key_exists(
    tmp_path: Path, choice: SensorChoice, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        provision(tmp_path / "gw", device="gw-1", tenant="acme", site="wh-1",
                  broker_url="mqtt://broker.example:1883", sensor=choice)  # fmt: skip
    assert not (tmp_path / "gw").exists()
