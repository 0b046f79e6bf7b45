"""Sensirion SHT3x (SHT30/31/35) temperature and humidity over I²C.

Each sample sends the single-shot, high-repeatability command *without* clock
stretching (0x2400): the Raspberry Pi's I²C controller mishandles clock stretching, so we
wait out the conversion (15 ms max) ourselves and then read six bytes — temperature MSB,
LSB, CRC, humidity MSB, LSB, CRC. A read the sensor NACKs means it is still converting
and is retried briefly. Each word carries a CRC-8 (polynomial 0x31, init 0xFF).
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Callable
from datetime import datetime

from edge.drivers.config import Sht3xConfig
from edge.drivers.faults import (
    ABSENT,
    BUS_ERROR,
    CLIMATE,
    CRC,
    NOT_READY,
    FaultLog,
    SensorFault,
    faulted,
    measured,
)
from edge.drivers.i2c import BusFactory, I2cBus, bus_fault, require_smbus2, smbus_factory
from wire import Metric, Reading

__all__ = ["MEASURE_HIGH_NO_STRETCH", "Sht3x", "convert", "crc8"]

_logger = logging.getLogger(__name__)

MEASURE_HIGH_NO_STRETCH = (0x24, 0x00)
CONVERSION_S = 0.016  # datasheet: 15 ms max at high repeatability
READ_ATTEMPTS = 3
RETRY_S = 0.005


def crc8(data: bytes) -> int:
    """Sensirion CRC-8: polynomial 0x31, init 0xFF, no reflection, no final XOR."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def convert(frame: bytes) -> tuple[float, float]:
    """(°C, %RH) from the six-byte measurement frame; :class:`SensorFault` if it is bad."""
    if len(frame) != 6:
        raise SensorFault(BUS_ERROR, f"expected 6 bytes, got {len(frame)}")
    if frame == b"\xff" * 6:
        raise SensorFault(BUS_ERROR, "all-ones frame (nothing drove the bus)")
    for word, checksum, name in ((frame[0:2], frame[2], "temperature"),
                                 (frame[3:5], frame[5], "humidity")):  # fmt: skip
        expected = crc8(word)
        if checksum != expected:
            raise SensorFault(CRC, f"{name} word {word.hex()} has CRC {checksum:#04x}, "
                                   f"expected {expected:#04x}")  # fmt: skip
    raw_t = int.from_bytes(frame[0:2], "big")
    raw_rh = int.from_bytes(frame[3:5], "big")
    return -45 + 175 * raw_t / 65535, 100 * raw_rh / 65535


class Sht3x:
    """One SHT3x; :meth:`sample` gives temperature and humidity, values or faults."""

    def __init__(
        self,
        config: Sht3xConfig,
        *,
        open_bus: BusFactory | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sensor_id = config.id
        self._address = config.address
        self._where = f"SHT3x at {config.address:#04x} on bus {config.bus}"
        self._i2c_msg = require_smbus2(config.driver).i2c_msg
        self._open_bus = open_bus or smbus_factory(config.driver, config.bus)
        self._sleep = sleep
        self._faults = FaultLog(_logger, config.id)

    def sample(self, now: datetime) -> list[Reading]:
        try:
            temperature, humidity = convert(self._measure())
        except SensorFault as fault:
            self._faults.fault(fault)
            return faulted(self.sensor_id, now, CLIMATE, fault.fault)
        self._faults.ok()
        return measured(
            self.sensor_id, now, {Metric.TEMPERATURE_C: temperature, Metric.HUMIDITY_PCT: humidity}
        )

    def _measure(self) -> bytes:
        try:
            bus = self._open_bus()
        except OSError as exc:
            raise bus_fault(exc, f"opening the bus for the {self._where}") from None
        try:
            return self._transfer(bus)
        finally:
            bus.close()

    def _transfer(self, bus: I2cBus) -> bytes:
        try:
            bus.i2c_rdwr(self._i2c_msg.write(self._address, list(MEASURE_HIGH_NO_STRETCH)))
        except OSError as exc:
            raise bus_fault(exc, f"measure command to the {self._where}") from None
        self._sleep(CONVERSION_S)
        attempts_left = READ_ATTEMPTS
        while True:
            read = self._i2c_msg.read(self._address, 6)
            try:
                bus.i2c_rdwr(read)
            except OSError as exc:
                fault = bus_fault(exc, f"reading the {self._where}")
                if fault.fault != ABSENT:
                    raise fault from None
                # A NACKed read header: the sensor is still converting.
                attempts_left -= 1
                if attempts_left == 0:
                    raise SensorFault(NOT_READY, fault.detail) from None
                self._sleep(RETRY_S)
                continue
            return ctypes.string_at(read.buf, read.len)
