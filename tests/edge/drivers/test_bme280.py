"""BME280: datasheet compensation, and the driver against a fake register map."""

from __future__ import annotations

import errno
from datetime import UTC, datetime

import pytest

from edge.drivers.bme280 import CTRL_HUM_VALUE, CTRL_MEAS_VALUE, Bme280
from edge.drivers.bme280_math import (
    Calibration,
    compensate_humidity,
    compensate_temperature,
    parse_calibration,
)
from edge.drivers.config import Bme280Config
from tests.edge.drivers.fake_i2c import EXAMPLE_ADC_T, EXAMPLE_CAL, FakeBme280
from wire import Metric

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CAL = Calibration(*(EXAMPLE_CAL[k] for k in ("T1", "T2", "T3", "H1", "H2", "H3", "H4", "H5", "H6")))


def reference(cal: Calibration, adc_t: int, adc_h: int) -> tuple[float, float]:
    """The datasheet's double-precision compensation (BME280 datasheet §8.1)."""
    var1 = (adc_t / 16384.0 - cal.t1 / 1024.0) * cal.t2
    var2 = (adc_t / 131072.0 - cal.t1 / 8192.0) ** 2 * cal.t3
    t_fine = int(var1 + var2)
    h = t_fine - 76800.0
    h = (adc_h - (cal.h4 * 64.0 + cal.h5 / 16384.0 * h)) * (
        cal.h2 / 65536.0 * (1.0 + cal.h6 / 67108864.0 * h * (1.0 + cal.h3 / 67108864.0 * h))
    )
    h = h * (1.0 - cal.h1 * h / 524288.0)
    return (var1 + var2) / 5120.0, min(100.0, max(0.0, h))


def test_temperature_matches_the_datasheet_example() -> None:
    temperature, t_fine = compensate_temperature(CAL, EXAMPLE_ADC_T)
    assert temperature == 25.08
    assert t_fine == 128422


@pytest.mark.parametrize("adc_h", [22000, 26000, 30000, 34000])
def test_integer_humidity_agrees_with_the_floating_point_reference(adc_h: int) -> None:
    _, t_fine = compensate_temperature(CAL, EXAMPLE_ADC_T)
    expected = reference(CAL, EXAMPLE_ADC_T, adc_h)[1]
    assert compensate_humidity(CAL, adc_h, t_fine) == pytest.approx(expected, abs=0.01)


def test_humidity_is_clamped() -> None:
    _, t_fine = compensate_temperature(CAL, EXAMPLE_ADC_T)
    assert compensate_humidity(CAL, 0, t_fine) == 0.0
    assert compensate_humidity(CAL, 0xFFFF, t_fine) == 100.0


def test_calibration_parsing_unpacks_the_shared_h4_h5_register() -> None:
    fake = FakeBme280()
    tp, hum = bytes(fake.regs[0x88:0xA2]), bytes(fake.regs[0xE1:0xE8])
    assert parse_calibration(tp, hum) == CAL


def test_negative_h4_h5_h6_round_trip() -> None:
    cal = {**EXAMPLE_CAL, "H4": -300, "H5": -20, "H6": -5}
    fake = FakeBme280(cal)
    parsed = parse_calibration(bytes(fake.regs[0x88:0xA2]), bytes(fake.regs[0xE1:0xE8]))
    assert (parsed.h4, parsed.h5, parsed.h6) == (-300, -20, -5)


def make(fake: FakeBme280, address: int = 0x76) -> Bme280:
    config = Bme280Config(driver="bme280", id="bme-1", bus=1, address=address)
    return Bme280(config, open_bus=lambda: fake, sleep=lambda _s: None)


def test_forced_mode_measurement() -> None:
    fake = FakeBme280()
    readings = make(fake).sample(NOW)

    # ctrl_hum first: it only takes effect with the following ctrl_meas write.
    assert fake.writes == [(0xF2, CTRL_HUM_VALUE), (0xF4, CTRL_MEAS_VALUE)]
    assert CTRL_MEAS_VALUE & 0b11 == 0b01  # forced
    t_expected, h_expected = reference(CAL, EXAMPLE_ADC_T, fake.adc_h)
    got = {r.metric: r.value for r in readings}
    assert got[Metric.TEMPERATURE_C] == 25.08
    assert got[Metric.HUMIDITY_PCT] == pytest.approx(h_expected, abs=0.01)
    assert t_expected == pytest.approx(25.08, abs=0.01)
    assert fake.closed == 1


def test_calibration_is_read_once() -> None:
    fake = FakeBme280()
    sensor = make(fake)
    sensor.sample(NOW)
    fake.regs[0x88:0xA2] = bytes(26)  # a second calibration read would now fail
    assert {r.fault for r in sensor.sample(NOW)} == {None}


def test_bmp280_is_refused_as_the_wrong_chip() -> None:
    fake = FakeBme280()
    fake.regs[0xD0] = 0x58
    readings = make(fake).sample(NOW)
    assert {(r.metric, r.fault) for r in readings} == {
        (Metric.TEMPERATURE_C, "wrong_chip"),
        (Metric.HUMIDITY_PCT, "wrong_chip"),
    }


def test_absent_chip_then_recovery_rechecks_the_chip() -> None:
    fake = FakeBme280()
    sensor = make(fake)
    fake.present = False
    assert {r.fault for r in sensor.sample(NOW)} == {"absent"}
    fake.present = True
    assert {r.fault for r in sensor.sample(NOW)} == {None}


def test_io_error_mid_conversion_forces_reidentification() -> None:
    fake = FakeBme280()
    sensor = make(fake)
    sensor.sample(NOW)
    fake.fail_with = errno.EIO
    assert {r.fault for r in sensor.sample(NOW)} == {"io_error"}
    fake.regs[0xD0] = 0x61  # swapped for a BME680 while it was failing
    assert {r.fault for r in sensor.sample(NOW)} == {"wrong_chip"}


def test_conversion_that_never_ends_is_not_ready() -> None:
    fake = FakeBme280()
    fake.busy_polls = 100
    assert {r.fault for r in make(fake).sample(NOW)} == {"not_ready"}


def test_blank_calibration_is_a_bus_error() -> None:
    fake = FakeBme280()
    fake.regs[0x88:0xA2] = bytes(26)
    assert {r.fault for r in make(fake).sample(NOW)} == {"bus_error"}
