"""SHT3x driver against a fake bus that emulates the chip at the smbus2 boundary."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

pytest.importorskip("smbus2")

from edge.drivers.config import Sht3xConfig
from edge.drivers.sht3x import MEASURE_HIGH_NO_STRETCH, Sht3x, convert, crc8
from tests.edge.drivers.fake_i2c import FakeSht3x
from wire import Metric, Reading

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make(fake: FakeSht3x, address: int = 0x44) -> tuple[Sht3x, list[float]]:
    sleeps: list[float] = []
    config = Sht3xConfig(driver="sht3x", id="sht-1", bus=1, address=address)
    return Sht3x(config, open_bus=lambda: fake, sleep=sleeps.append), sleeps


def values(readings: Sequence[Reading]) -> dict[Metric, float | None]:
    return {r.metric: r.value for r in readings}


def faults(readings: Sequence[Reading]) -> dict[Metric, str | None]:
    return {r.metric: r.fault for r in readings}


def test_crc8_matches_the_datasheet_example() -> None:
    assert crc8(b"\xbe\xef") == 0x92  # SHT3x datasheet §4.12


def test_conversion_formulas_at_the_ends_of_the_scale() -> None:
    def frame(t: int, rh: int) -> bytes:
        tb, rb = t.to_bytes(2, "big"), rh.to_bytes(2, "big")
        return tb + bytes([crc8(tb)]) + rb + bytes([crc8(rb)])

    assert convert(frame(0, 0)) == (-45.0, 0.0)
    assert convert(frame(0xFFFF, 0xFFFF)) == (130.0, 100.0)


def test_single_shot_without_clock_stretching_gives_both_metrics() -> None:
    fake = FakeSht3x(raw_t=0x6666, raw_rh=0x8000)
    sensor, sleeps = make(fake)

    readings = sensor.sample(NOW)

    assert fake.commands == [bytes(MEASURE_HIGH_NO_STRETCH)]
    # The 15 ms conversion is waited out by the driver, not stretched by the sensor.
    assert sleeps[0] >= 0.015
    got = values(readings)
    assert got[Metric.TEMPERATURE_C] == pytest.approx(25.0, abs=0.01)
    assert got[Metric.HUMIDITY_PCT] == pytest.approx(50.0, abs=0.01)
    assert all(r.ts == NOW and r.sensor == "sht-1" for r in readings)
    assert fake.closed == 1


def test_read_nacked_while_converting_is_retried() -> None:
    fake = FakeSht3x()
    fake.busy_reads = 2
    sensor, _ = make(fake)
    assert faults(sensor.sample(NOW)) == {Metric.TEMPERATURE_C: None, Metric.HUMIDITY_PCT: None}


def test_sensor_that_never_finishes_is_not_ready() -> None:
    fake = FakeSht3x()
    fake.busy_reads = 10
    sensor, _ = make(fake)
    assert set(faults(sensor.sample(NOW)).values()) == {"not_ready"}


def test_crc_mismatch_is_a_fault_for_both_metrics() -> None:
    fake = FakeSht3x()
    fake.corrupt_humidity_crc = True
    sensor, _ = make(fake)
    readings = sensor.sample(NOW)
    assert faults(readings) == {Metric.TEMPERATURE_C: "crc", Metric.HUMIDITY_PCT: "crc"}
    assert all(r.value is None for r in readings)


def test_all_ones_frame_is_a_bus_error() -> None:
    fake = FakeSht3x()
    fake.frame_override = b"\xff" * 6
    sensor, _ = make(fake)
    assert set(faults(sensor.sample(NOW)).values()) == {"bus_error"}


def test_missing_sensor_is_absent_and_recovers() -> None:
    fake = FakeSht3x()
    fake.present = False
    sensor, _ = make(fake)
    assert set(faults(sensor.sample(NOW)).values()) == {"absent"}
    fake.present = True
    assert set(faults(sensor.sample(NOW)).values()) == {None}
    assert fake.closed == 2


def test_wrong_address_is_absent() -> None:
    sensor, _ = make(FakeSht3x(address=0x44), address=0x45)
    assert set(faults(sensor.sample(NOW)).values()) == {"absent"}


def test_bus_timeout_is_an_io_error() -> None:
    fake = FakeSht3x()
    fake.fail_with = errno.ETIMEDOUT
    sensor, _ = make(fake)
    assert set(faults(sensor.sample(NOW)).values()) == {"io_error"}


def test_bus_that_cannot_be_opened_is_an_io_error() -> None:
    def no_bus() -> FakeSht3x:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/dev/i2c-1")

    config = Sht3xConfig(driver="sht3x", id="sht-1")
    sensor = Sht3x(config, open_bus=no_bus, sleep=lambda _s: None)
    assert set(faults(sensor.sample(NOW)).values()) == {"io_error"}
