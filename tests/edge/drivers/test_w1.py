"""DS18B20 over 1-Wire sysfs, against fake sysfs trees in tmp_path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.drivers.config import Ds18b20Config
from edge.drivers.faults import SensorFault
from edge.drivers.w1 import Ds18b20, parse_temperature, parse_w1_slave
from wire import Metric, Reading

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ROM = "28-0316a2795eff"
GOOD = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
BAD_CRC = "72 01 4b 46 7f ff 0e 10 57 : crc=00 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
RESET = "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n"
ZEROS = "00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n"
FROZEN = "5f fe 4b 46 7f ff 01 10 7e : crc=7e YES\n5f fe 4b 46 7f ff 01 10 7e t=-26062\n"


def probe(base: Path, rom: str = ROM, *, w1_slave: str | None = GOOD,
          temperature: str | None = None) -> Path:  # fmt: skip
    device = base / rom
    device.mkdir(parents=True)
    if w1_slave is not None:
        (device / "w1_slave").write_text(w1_slave)
    if temperature is not None:
        (device / "temperature").write_text(temperature)
    return device


def config(base: Path, **fields: object) -> Ds18b20Config:
    selector = {} if "glob" in fields else {"device_id": ROM}
    return Ds18b20Config.model_validate(
        {"driver": "ds18b20", "id": "ds-1", "base_path": base, **selector, **fields}
    )


def sensor(base: Path, **fields: object) -> Ds18b20:
    return Ds18b20(config(base, **fields))


def one(readings: Sequence[Reading]) -> tuple[float | None, str | None]:
    [reading] = readings
    assert reading.metric == Metric.TEMPERATURE_C
    assert reading.ts == NOW
    return reading.value, reading.fault


@pytest.fixture
def base(tmp_path: Path) -> Path:
    root = tmp_path / "sys/bus/w1/devices"
    (root / "w1_bus_master1").mkdir(parents=True)
    return root


def test_parse_w1_slave() -> None:
    assert parse_w1_slave(GOOD) == 23.125
    assert parse_w1_slave(FROZEN) == -26.062


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        (BAD_CRC, "crc"),
        (RESET, "power_on_reset"),
        (ZEROS, "bus_error"),
        ("", "read_error"),
        ("garbage\n", "read_error"),
        ("72 01 : crc=57 MAYBE\n72 01 t=1\n", "read_error"),
        ("72 01 4b : crc=57 YES\n72 01 4b t=abc\n", "read_error"),
        ("d0 07 4b : crc=57 YES\nd0 07 4b t=126000\n", "out_of_range"),
    ],
)
def test_unusable_w1_slave_text(text: str, fault: str) -> None:
    with pytest.raises(SensorFault) as info:
        parse_w1_slave(text)
    assert info.value.fault == fault


def test_parse_temperature_attribute() -> None:
    assert parse_temperature("23125\n") == 23.125
    with pytest.raises(SensorFault, match="power_on_reset"):
        parse_temperature("85000\n")
    with pytest.raises(SensorFault, match="read_error"):
        parse_temperature("\n")


def test_reads_the_probe_by_rom_id(base: Path) -> None:
    probe(base)
    assert one(sensor(base).sample(NOW)) == (23.125, None)


def test_glob_matching_one_probe(base: Path) -> None:
    probe(base)
    assert one(sensor(base, glob="28-*").sample(NOW)) == (23.125, None)


def test_glob_matching_none_is_absent(base: Path) -> None:
    assert one(sensor(base, glob="28-*").sample(NOW)) == (None, "absent")


def test_glob_matching_two_is_ambiguous(base: Path) -> None:
    probe(base)
    probe(base, "28-0000075d1a2b")
    assert one(sensor(base, glob="28-*").sample(NOW)) == (None, "ambiguous")


def test_unplugged_probe_is_absent_and_recovers(base: Path) -> None:
    ds = sensor(base)
    assert one(ds.sample(NOW)) == (None, "absent")
    probe(base)
    assert one(ds.sample(NOW)) == (23.125, None)


def test_newer_temperature_attribute_when_w1_slave_is_missing(base: Path) -> None:
    probe(base, w1_slave=None, temperature="-18500\n")
    assert one(sensor(base).sample(NOW)) == (-18.5, None)


def test_auto_prefers_w1_slave_for_its_crc_verdict(base: Path) -> None:
    probe(base, w1_slave=BAD_CRC, temperature="23125\n")
    assert one(sensor(base, retries=0).sample(NOW)) == (None, "crc")
    assert one(sensor(base, source="temperature").sample(NOW)) == (23.125, None)


def test_failed_sysfs_read_is_a_read_error(base: Path) -> None:
    device = probe(base, w1_slave=None)
    (device / "temperature").mkdir()  # reading it fails with EISDIR
    assert one(sensor(base, source="temperature", retries=0).sample(NOW)) == (None, "read_error")


class Conversions:
    """w1_slave as the kernel serves it: every read runs a new conversion (next text)."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = list(texts)
        self.reads = 0

    def __call__(self, path: Path) -> str:
        assert path.name == "w1_slave"
        self.reads += 1
        return self.texts.pop(0)


@pytest.mark.parametrize("first", [BAD_CRC, RESET, ZEROS])
def test_transient_faults_are_retried(base: Path, first: str) -> None:
    probe(base, w1_slave="")
    conversions = Conversions([first, GOOD])
    driver = Ds18b20(config(base, retries=2), read_text=conversions)
    assert one(driver.sample(NOW)) == (23.125, None)
    assert conversions.reads == 2  # exactly two reads: the fault, then the good one


def test_retries_exhausted_reports_the_fault(base: Path) -> None:
    probe(base, w1_slave="")
    conversions = Conversions([RESET, RESET, RESET])
    driver = Ds18b20(config(base, retries=2), read_text=conversions)
    assert one(driver.sample(NOW)) == (None, "power_on_reset")
    assert conversions.reads == 3
