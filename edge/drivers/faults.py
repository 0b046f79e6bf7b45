"""Fault readings: how a sensor driver reports that it has no usable value.

A driver's ``sample`` never raises for device trouble; it returns one reading per metric
with ``value=None`` and a short fault code, so the cloud sees *why* a probe went quiet
and the agent keeps sampling the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from edge.errors import EdgeError
from wire import Metric, Reading

__all__ = [
    "ABSENT",
    "AMBIGUOUS",
    "BUS_ERROR",
    "CLIMATE",
    "CRC",
    "IO_ERROR",
    "NOT_READY",
    "OUT_OF_RANGE",
    "POWER_ON_RESET",
    "READ_ERROR",
    "WRONG_CHIP",
    "FaultLog",
    "SensorFault",
    "faulted",
    "measured",
]

# Fault codes (documented in docs/edge.md; the cloud stores them verbatim).
ABSENT = "absent"  # no such device on the bus
AMBIGUOUS = "ambiguous"  # a glob matched more than one probe
BUS_ERROR = "bus_error"  # the bus returned an all-zero or all-ones frame
CRC = "crc"  # checksum mismatch
IO_ERROR = "io_error"  # the kernel refused the transfer (NACK, timeout, EIO)
NOT_READY = "not_ready"  # the chip did not finish a measurement in time
OUT_OF_RANGE = "out_of_range"  # a value outside what the part can measure
POWER_ON_RESET = "power_on_reset"  # DS18B20 register still at its 85 °C reset value
READ_ERROR = "read_error"  # a sysfs read failed or returned text we cannot parse
WRONG_CHIP = "wrong_chip"  # the chip id is not the one the driver speaks to

CLIMATE = (Metric.TEMPERATURE_C, Metric.HUMIDITY_PCT)


class SensorFault(EdgeError):
    """Raised inside a driver and turned into fault readings by its ``sample``."""

    def __init__(self, fault: str, detail: str) -> None:
        super().__init__(f"{fault}: {detail}")
        self.fault = fault
        self.detail = detail


def faulted(sensor: str, now: datetime, metrics: Iterable[Metric], fault: str) -> list[Reading]:
    return [Reading(sensor=sensor, metric=m, ts=now, fault=fault) for m in metrics]


def measured(sensor: str, now: datetime, values: Mapping[Metric, float]) -> list[Reading]:
    return [Reading(sensor=sensor, metric=m, ts=now, value=v) for m, v in values.items()]


class FaultLog:
    """Logs when a sensor's fault starts, changes or clears, not on every sample."""

    def __init__(self, logger: logging.Logger, sensor_id: str) -> None:
        self._logger = logger
        self._sensor_id = sensor_id
        self.current: str | None = None

    def fault(self, exc: SensorFault) -> None:
        if exc.fault != self.current:
            self._logger.warning("sensor %s: %s", self._sensor_id, exc)
        else:
            self._logger.debug("sensor %s: %s", self._sensor_id, exc)
        self.current = exc.fault

    def ok(self) -> None:
        if self.current is not None:
            self._logger.info("sensor %s: recovered from %s", self._sensor_id, self.current)
        self.current = None
