"""The driver protocols and the factories that build drivers from config entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from edge.drivers.config import (
    Bme280Config,
    Ds18b20Config,
    LineScannerConfig,
    ScannerConfig,
    SensorConfig,
    SerialScannerConfig,
    Sht3xConfig,
    SimClimateConfig,
)
from wire import Reading, ScanEvent

__all__ = ["Scanner", "Sensor", "build_scanner", "build_sensor"]


class Sensor(Protocol):
    """Something that, when asked at time ``now``, reports zero or more readings.

    ``sample`` does not raise for device trouble: it returns readings with a ``fault``.
    Hardware drivers block for the conversion (DS18B20 up to 750 ms, I²C parts ~20 ms).
    """

    sensor_id: str

    def sample(self, now: datetime) -> Sequence[Reading]: ...


class Scanner(Protocol):
    """A reader polled every agent loop: returns the scans that arrived, never waits.

    ``poll`` does not raise for device trouble (it logs and reopens); ``close`` releases
    the device at shutdown.
    """

    scanner_id: str

    def poll(self, now: datetime) -> list[ScanEvent]: ...

    def close(self) -> None: ...


def build_sensor(config: SensorConfig) -> Sensor:
    """The driver for one ``[[sensors]]`` entry; :class:`DriverError` if it cannot be set up."""
    if isinstance(config, SimClimateConfig):
        from firmware_sim.devices.climate import ClimateSensor

        return ClimateSensor(config.id, profile=config.profile, seed=config.seed)
    if isinstance(config, Ds18b20Config):
        from edge.drivers.w1 import Ds18b20

        return Ds18b20(config)
    if isinstance(config, Sht3xConfig):
        from edge.drivers.sht3x import Sht3x

        return Sht3x(config)
    if isinstance(config, Bme280Config):
        from edge.drivers.bme280 import Bme280

        return Bme280(config)
    raise TypeError(f"no sensor driver for {type(config).__name__}")  # pragma: no cover


def build_scanner(config: ScannerConfig) -> Scanner:
    """The driver for one ``[[scanners]]`` entry; :class:`DriverError` if it is unusable."""
    from edge.drivers.scanner import LineScanner
    from edge.drivers.sources import SerialSource, StreamSource

    if isinstance(config, SerialScannerConfig):
        return LineScanner(config, SerialSource(config.path, config.baud))
    if isinstance(config, LineScannerConfig):
        return LineScanner(config, StreamSource(config.path))
    raise TypeError(f"no scanner driver for {type(config).__name__}")  # pragma: no cover
