"""Provisioning a gateway directory: key, config and the registration for the cloud."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from edge.config import load_config
from edge.errors import ConfigError
from edge.provision import Provisioned, provision
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
    return provision(directory, **args)


def test_provision_writes_key_config_and_registration(tmp_path: Path) -> None:
    directory = tmp_path / "gw-0001"  # created, with parents
    result = provision(
        directory,
        device="gw-0001",
        tenant="acme",
        site="wh-sh-01",
        broker_url="mqtt://broker.example:1883",
        profile="frozen",
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
