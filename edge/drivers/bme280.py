"""Bosch BME280 temperature and humidity over I²C, one forced-mode conversion per sample.

On first use (and again after any bus error) the driver checks the chip id (0x60; a
BMP280, 0x58, has no humidity sensor) and reads the calibration words. Each sample then
writes ``ctrl_hum`` (humidity ×1; it only takes effect with the next ``ctrl_meas`` write)
and ``ctrl_meas`` (temperature ×1, pressure skipped, forced mode), waits for the status
register's ``measuring`` bit to clear and burst-reads 0xF7..0xFE. In forced mode the chip
sleeps between samples, which keeps self-heating off the reading.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from edge.drivers.bme280_math import (
    ADC_H_SKIPPED,
    ADC_T_SKIPPED,
    CALIB_HUM_LEN,
    CALIB_HUM_START,
    CALIB_TP_LEN,
    CALIB_TP_START,
    Calibration,
    adc_values,
    compensate_humidity,
    compensate_temperature,
    parse_calibration,
)
from edge.drivers.config import Bme280Config
from edge.drivers.faults import (
    BUS_ERROR,
    CLIMATE,
    IO_ERROR,
    NOT_READY,
    WRONG_CHIP,
    FaultLog,
    SensorFault,
    faulted,
    measured,
)
from edge.drivers.i2c import BusFactory, I2cBus, bus_fault, smbus_factory
from wire import Metric, Reading

__all__ = ["CHIP_ID", "CTRL_HUM_VALUE", "CTRL_MEAS_VALUE", "Bme280"]

_logger = logging.getLogger(__name__)

REG_CHIP_ID, REG_CTRL_HUM, REG_STATUS, REG_CTRL_MEAS, REG_DATA = 0xD0, 0xF2, 0xF3, 0xF4, 0xF7
CHIP_ID = 0x60
_OTHER_CHIPS = {0x56: "BMP280 sample", 0x57: "BMP280 sample", 0x58: "BMP280", 0x61: "BME680"}
CTRL_HUM_VALUE = 0b001  # osrs_h = ×1
CTRL_MEAS_VALUE = (0b001 << 5) | (0b000 << 2) | 0b01  # osrs_t ×1, osrs_p skipped, forced
STATUS_MEASURING = 0x08
CONVERSION_S = 0.01  # datasheet max for T ×1 + H ×1 is 1.25 + 2.3 + 2.875 ms
STATUS_POLLS = 5
POLL_S = 0.002


class Bme280:
    """One BME280; :meth:`sample` gives temperature and humidity, values or faults."""

    def __init__(
        self,
        config: Bme280Config,
        *,
        open_bus: BusFactory | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sensor_id = config.id
        self._address = config.address
        self._where = f"BME280 at {config.address:#04x} on bus {config.bus}"
        self._open_bus = open_bus or smbus_factory(config.driver, config.bus)
        self._sleep = sleep
        self._calibration: Calibration | None = None
        self._faults = FaultLog(_logger, config.id)

    def sample(self, now: datetime) -> list[Reading]:
        try:
            temperature, humidity = self._measure()
        except SensorFault as fault:
            if fault.fault != NOT_READY:
                self._calibration = None  # check the chip again once it answers
            self._faults.fault(fault)
            return faulted(self.sensor_id, now, CLIMATE, fault.fault)
        self._faults.ok()
        return measured(
            self.sensor_id, now, {Metric.TEMPERATURE_C: temperature, Metric.HUMIDITY_PCT: humidity}
        )

    def _measure(self) -> tuple[float, float]:
        try:
            bus = self._open_bus()
        except OSError as exc:
            raise bus_fault(exc, f"opening the bus for the {self._where}") from None
        try:
            calibration = self._calibration or self._identify(bus)
            self._calibration = calibration
            adc_t, adc_h = adc_values(self._convert(bus))
        except OSError as exc:
            raise bus_fault(exc, f"talking to the {self._where}") from None
        finally:
            bus.close()
        if adc_t == ADC_T_SKIPPED or adc_h == ADC_H_SKIPPED:
            raise SensorFault(NOT_READY, f"{self._where} returned reset values (no conversion)")
        temperature, t_fine = compensate_temperature(calibration, adc_t)
        return temperature, compensate_humidity(calibration, adc_h, t_fine)

    def _identify(self, bus: I2cBus) -> Calibration:
        chip = bus.read_byte_data(self._address, REG_CHIP_ID)
        if chip != CHIP_ID:
            name = _OTHER_CHIPS.get(chip, "an unknown chip")
            raise SensorFault(
                WRONG_CHIP, f"expected BME280 chip id {CHIP_ID:#04x}, got {chip:#04x} ({name})"
            )
        tp = bytes(bus.read_i2c_block_data(self._address, CALIB_TP_START, CALIB_TP_LEN))
        hum = bytes(bus.read_i2c_block_data(self._address, CALIB_HUM_START, CALIB_HUM_LEN))
        if tp.count(0) == len(tp) or tp.count(0xFF) == len(tp):
            raise SensorFault(BUS_ERROR, f"{self._where}: calibration block reads {tp[:2].hex()}…")
        try:
            calibration = parse_calibration(tp, hum)
        except ValueError as exc:
            raise SensorFault(IO_ERROR, f"{self._where}: {exc}") from None
        _logger.info("sensor %s: %s found, calibration read", self.sensor_id, self._where)
        return calibration

    def _convert(self, bus: I2cBus) -> bytes:
        bus.write_byte_data(self._address, REG_CTRL_HUM, CTRL_HUM_VALUE)
        bus.write_byte_data(self._address, REG_CTRL_MEAS, CTRL_MEAS_VALUE)
        self._sleep(CONVERSION_S)
        for _ in range(STATUS_POLLS):
            if not bus.read_byte_data(self._address, REG_STATUS) & STATUS_MEASURING:
                return bytes(bus.read_i2c_block_data(self._address, REG_DATA, 8))
            self._sleep(POLL_S)
        raise SensorFault(NOT_READY, f"{self._where} still measuring after {STATUS_POLLS} polls")
