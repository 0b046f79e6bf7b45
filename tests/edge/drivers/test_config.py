"""Driver config entries in the agent's TOML file, and the factories that build drivers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edge.config import AgentConfig, load_config
from edge.drivers import build_scanner, build_sensor
from edge.drivers.bme280 import Bme280
from edge.drivers.config import (
    Bme280Config,
    Ds18b20Config,
    LineScannerConfig,
    SerialScannerConfig,
    Sht3xConfig,
    SimClimateConfig,
)
from edge.drivers.w1 import Ds18b20
from edge.errors import ConfigError, DriverError

HEAD = """
[device]
id = "gw-0001"
tenant = "acme"
site = "wh-sh-01"
"""

FULL = (
    HEAD
    + """
[[sensors]]
driver = "sim.climate"
id = "sim-1"
profile = "dairy"

[[sensors]]
driver = "ds18b20"
id = "cold-room-probe"
device_id = "28-0316a2795eff"

[[sensors]]
driver = "ds18b20"
id = "only-probe"
glob = "28-*"
retries = 1

[[sensors]]
driver = "sht3x"
id = "aisle-3"
bus = 1
address = 0x45

[[sensors]]
driver = "bme280"
id = "office"
address = 0x77

[[scanners]]
driver = "scanner.serial"
id = "dock-1-in"
path = "/dev/serial/by-id/usb-Honeywell_Scanner-if00"
baud = 115200
direction = "in"
mode_codes = {}

[[scanners]]
driver = "scanner.wedge"
id = "handheld-1"
path = "/run/channeltrace/wedge.fifo"
mode_timeout_s = 300

[[scanners]]
driver = "scanner.serial"
id = "portal-2"
path = "/dev/ttyUSB0"
dedupe_s = 3
"""
)


def load(tmp_path: Path, text: str) -> AgentConfig:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_every_driver_loads_into_its_own_model(tmp_path: Path) -> None:
    config = load(tmp_path, FULL)
    assert [type(s) for s in config.sensors] == [
        SimClimateConfig, Ds18b20Config, Ds18b20Config, Sht3xConfig, Bme280Config,
    ]  # fmt: skip
    assert [type(s) for s in config.scanners] == [
        SerialScannerConfig, LineScannerConfig, SerialScannerConfig,
    ]  # fmt: skip
    probe = config.sensors[1]
    assert isinstance(probe, Ds18b20Config)
    assert probe.base_path == Path("/sys/bus/w1/devices")
    dock = config.scanners[0]
    assert isinstance(dock, SerialScannerConfig)
    assert (dock.baud, dock.mode_codes) == (115200, {})
    assert config.scanners[1].mode_codes == {"IN": "in", "OUT": "out"}


def test_config_round_trips_through_json(tmp_path: Path) -> None:
    config = load(tmp_path, FULL)
    assert AgentConfig.model_validate_json(config.model_dump_json()) == config


def test_scanners_are_optional(tmp_path: Path) -> None:
    config = load(tmp_path, HEAD + '[[sensors]]\ndriver = "sim.climate"\nid = "s"\n')
    assert config.scanners == []


@pytest.mark.parametrize(
    ("entry", "location", "message"),
    [
        ('[[sensors]]\ndriver = "pt100"\nid = "x"', "sensors.0.driver", "does not match"),
        ('[[sensors]]\nid = "x"', "sensors.0.driver", "Field required"),
        ('[[sensors]]\ndriver = "sim.climate"\nid = "x"\nprofile = "caviar"',
         "sensors.0.profile", "unknown storage profile"),
        ('[[sensors]]\ndriver = "ds18b20"\nid = "x"', "sensors.0", "exactly one of"),
        ('[[sensors]]\ndriver = "ds18b20"\nid = "x"\ndevice_id = "10-abc"',
         "sensors.0.device_id", "pattern"),
        ('[[sensors]]\ndriver = "sht3x"\nid = "x"\naddress = 0x40',
         "sensors.0.address", "0x44 or 0x45, got 0x40"),
        ('[[sensors]]\ndriver = "bme280"\nid = "x"\naddress = 0x44',
         "sensors.0.address", "0x76 or 0x77, got 0x44"),
        ('[[sensors]]\ndriver = "bme280"\nid = "bad id"', "sensors.0.id", "pattern"),
        ('[[sensors]]\ndriver = "sht3x"\nid = "x"\ncolour = 1', "sensors.0.colour", "Extra"),
        ('[[sensors]]\ndriver = "sim.climate"\nid = "s"\n[[scanners]]\n'
         'driver = "scanner.serial"\nid = "d"\npath = "/dev/ttyACM0"\nbaud = 14400',
         "scanners.0.baud", "unsupported baud rate"),
        ('[[sensors]]\ndriver = "sim.climate"\nid = "s"\n[[scanners]]\n'
         'driver = "scanner.wedge"\nid = "d"\ndirection = "sideways"',
         "scanners.0.direction", "'in' or 'out'"),
        ('[[sensors]]\ndriver = "sim.climate"\nid = "s"\n[[scanners]]\n'
         'driver = "scanner.usb"\nid = "d"', "scanners.0.driver", "scanner.serial"),
    ],
)  # fmt: skip
def test_errors_name_the_field(tmp_path: Path, entry: str, location: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, HEAD + entry + "\n")
    assert f"{location}: " in str(info.value)
    assert message in str(info.value)


def test_factory_builds_hardware_sensors(tmp_path: Path) -> None:
    ds = build_sensor(Ds18b20Config(driver="ds18b20", id="p", device_id="28-0316a2795eff"))
    bme = build_sensor(Bme280Config(driver="bme280", id="b"))
    assert isinstance(ds, Ds18b20)
    assert isinstance(bme, Bme280)
    assert (ds.sensor_id, bme.sensor_id) == ("p", "b")


@pytest.mark.parametrize(
    "config",
    [Sht3xConfig(driver="sht3x", id="s"), Bme280Config(driver="bme280", id="b")],
)
def test_i2c_sensor_without_smbus2_is_a_setup_error(
    monkeypatch: pytest.MonkeyPatch, config: Sht3xConfig | Bme280Config
) -> None:
    monkeypatch.setitem(sys.modules, "smbus2", None)  # import smbus2 -> ImportError
    with pytest.raises(DriverError, match=r"pip install 'channeltrace\[edge,i2c\]'"):
        build_sensor(config)


def test_scanner_missing_at_start_is_not_an_error(tmp_path: Path) -> None:
    config = SerialScannerConfig(driver="scanner.serial", id="d", path=tmp_path / "ttyACM9")
    scanner = build_scanner(config)
    assert scanner.scanner_id == "d"
    scanner.close()


def test_the_documented_example_is_valid(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[3] / "docs" / "edge.md").read_text(encoding="utf-8")
    example = doc.split("## Example", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    config = load(tmp_path, HEAD + example)
    assert [s.id for s in config.sensors] == ["cold-room-1", "aisle-3", "dispatch"]
    assert [s.id for s in config.scanners] == ["dock-1-in", "handheld-1", "portal-out"]
