"""The agent's TOML config: round trip with the rendered file, paths, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import AgentConfig, load_config, render_config
from edge.errors import ConfigError, EdgeError
from edge.provision import SensorChoice


def write(tmp_path: Path, text: str, name: str = "agent.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rendered(**overrides: str) -> str:
    args = {"device": "gw-0001", "tenant": "acme", "site": "wh-sh-01",
            "broker_url": "mqtts://user:pw@broker.example:8883", "profile": "dairy"}  # fmt: skip
    args.update(overrides)
    profile = args.pop("profile")
    return render_config(**args, sensor=SensorChoice.simulated(profile).table(args["device"]))


def test_rendered_config_round_trips(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, rendered()))

    assert isinstance(config, AgentConfig)
    assert (config.device.id, config.device.tenant, config.device.site) == (
        "gw-0001",
        "acme",
        "wh-sh-01",
    )
    assert config.broker.url == "mqtts://user:pw@broker.example:8883"
    assert config.broker.keepalive_s == 30
    assert config.outbox.budget_mb == 64
    assert config.sampling.batch_max_readings == 500
    assert [(s.driver, s.id, s.profile) for s in config.sensors] == [
        ("sim.climate", "probe-1", "dairy")
    ]


def test_rendered_seed_is_stable_per_device(tmp_path: Path) -> None:
    a = load_config(write(tmp_path, rendered(device="gw-a"), "a.toml"))
    a_again = load_config(write(tmp_path, rendered(device="gw-a"), "a2.toml"))
    b = load_config(write(tmp_path, rendered(device="gw-b"), "b.toml"))
    assert a.sensors[0].seed == a_again.sensors[0].seed
    assert a.sensors[0].seed != b.sensors[0].seed


def test_relative_paths_resolve_against_the_file_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = tmp_path / "gateway"
    gateway.mkdir()
    write(gateway, rendered())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    config = load_config(Path("../gateway/agent.toml"))

    assert config.base_dir == gateway.resolve()
    assert config.resolve(config.device.key_file) == gateway.resolve() / "device.pem"
    assert config.resolve(config.outbox.path) == gateway.resolve() / "outbox.db"


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    text = rendered().replace('path = "outbox.db"', f'path = "{tmp_path / "data" / "o.db"}"')
    config = load_config(write(tmp_path, text))
    assert config.resolve(config.outbox.path) == tmp_path / "data" / "o.db"


def test_defaults_fill_omitted_sections(tmp_path: Path) -> None:
    minimal = """
[device]
id = "gw-1"
tenant = "acme"
site = "s1"

[[sensors]]
driver = "sim.climate"
id = "probe-1"
"""
    config = load_config(write(tmp_path, minimal))
    assert config.broker.all_urls == ["mqtt://127.0.0.1:1883"]
    assert config.sampling.interval_s == 1.0
    assert config.resolve(config.device.key_file) == tmp_path.resolve() / "device.pem"


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=r"cannot read agent config .*nope\.toml"):
        load_config(missing)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read agent config"):
        load_config(tmp_path)


def test_bad_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[device\nid = 1\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(path)


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_bytes(b"\xff\xfe[device]\n")
    with pytest.raises(ConfigError):
        load_config(path)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('id = "gw-0001"', 'id = "gw 0001"', "device.id"),
        ('tenant = "acme"', 'tenant = "a/b"', "device.tenant"),
        ('site = "wh-sh-01"', 'site = "+"', "device.site"),
        ("url = ", 'url = "http://broker" #', "broker.url"),
        ("keepalive_s = 30", "keepalive_s = 1", "broker.keepalive_s"),
        ("budget_mb = 64", "budget_mb = 0", "outbox.budget_mb"),
        ("interval_s = 1.0", 'interval_s = "fast"', "sampling.interval_s"),
        ("batch_max_readings = 500", "batch_max_readings = 100000", "sampling.batch_max_readings"),
        ("max_inflight = 100", "max_inflight = 0", "sampling.max_inflight"),
        ('driver = "sim.climate"', 'driver = "real.probe"', "sensors.0.driver"),
        ("max_inflight = 100", "max_inflight = 100\ncolour = 'red'", "sampling.colour"),
    ],
)
def test_invalid_values_name_the_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    text = rendered()
    assert old in text
    path = write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert field in str(info.value)
    assert str(path) in str(info.value)


def test_missing_required_sections(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, 'title = "x"\n'))
    message = str(info.value)
    assert "device" in message
    assert "sensors" in message


def test_config_errors_are_edge_errors(tmp_path: Path) -> None:
    with pytest.raises(EdgeError):
        load_config(tmp_path / "absent.toml")


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, rendered()))
    with pytest.raises(ValueError, match="frozen"):
        config.device.id = "other"  # type: ignore[misc]


def test_unknown_sensor_profile_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sensors\.0\.profile"):
        load_config(write(tmp_path, rendered(profile="caviar")))


# --- several brokers ([broker] urls) ------------------------------------------------------

_URL_LINE = 'url = "mqtts://user:pw@broker.example:8883"'


def _with_brokers(tmp_path: Path, replacement: str) -> Path:
    text = rendered()
    assert _URL_LINE in text
    return write(tmp_path, text.replace(_URL_LINE, replacement))


def test_an_ordered_list_of_brokers_is_read_in_order(tmp_path: Path) -> None:
    urls = '["mqtts://a:pw@b1.example:8883", "mqtts://a:pw@b2.example:8883"]'
    config = load_config(_with_brokers(tmp_path, f"urls = {urls}\nfailback_s = 30"))
    assert config.broker.all_urls == [
        "mqtts://a:pw@b1.example:8883",
        "mqtts://a:pw@b2.example:8883",
    ]
    assert config.broker.failback_s == 30
    assert config.broker.failover_after == 2
    single = load_config(write(tmp_path, rendered(), "single.toml"))
    assert single.broker.all_urls == ["mqtts://user:pw@broker.example:8883"]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ('url = "mqtt://a:1883"\nurls = ["mqtt://b:1883"]', "url .* or urls .*, not both"),
        ('urls = ["mqtt://a:1883", "mqtts://b:8883"]', "same scheme"),
        ('urls = ["mqtt://a:1883", "mqtt://a:1883"]', "listed once"),
        ('urls = ["mqtt://a:1883", "http://b"]', "broker.urls"),
        ('urls = ["mqtt://a:1883"]\nfailover_after = 0', "failover_after"),
    ],
)
def test_a_wrong_broker_list_is_refused_with_the_reason(
    tmp_path: Path, lines: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config(_with_brokers(tmp_path, lines))
