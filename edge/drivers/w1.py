"""DS18B20 temperature probes on the Linux 1-Wire bus, read through sysfs (``w1-therm``).

The kernel exposes each probe as ``/sys/bus/w1/devices/28-<rom>/``. Reading ``w1_slave``
starts a conversion (up to 750 ms at 12-bit resolution, so ``sample`` blocks that long)
and returns the scratchpad with the kernel's CRC verdict::

    72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
    72 01 4b 46 7f ff 0e 10 57 t=23125

Newer kernels also offer ``temperature`` (millidegrees only; a CRC failure surfaces as
EIO). Three readings that look valid are not: ``NO`` (CRC), ``t=85000`` (the register's
power-on value, read before a conversion completed, typically after a brown-out on the
probe's supply) and an all-zero scratchpad whose CRC is trivially 0 (the data line held
low, a probe unplugged mid-read). Each is retried, then reported as a fault.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from edge.drivers.config import Ds18b20Config
from edge.drivers.faults import (
    ABSENT,
    AMBIGUOUS,
    BUS_ERROR,
    CRC,
    OUT_OF_RANGE,
    POWER_ON_RESET,
    READ_ERROR,
    FaultLog,
    SensorFault,
    faulted,
    measured,
)
from wire import Metric, Reading

__all__ = ["Ds18b20", "parse_temperature", "parse_w1_slave"]

_logger = logging.getLogger(__name__)

POWER_ON_MILLIDEGREES = 85_000
MIN_MILLIDEGREES, MAX_MILLIDEGREES = -55_000, 125_000  # the part's measuring range
_RETRYABLE = frozenset({CRC, POWER_ON_RESET, BUS_ERROR, READ_ERROR})


def _checked(millidegrees: int) -> float:
    if millidegrees == POWER_ON_MILLIDEGREES:
        raise SensorFault(POWER_ON_RESET, "85 °C power-on value: no conversion completed")
    if not MIN_MILLIDEGREES <= millidegrees <= MAX_MILLIDEGREES:
        raise SensorFault(OUT_OF_RANGE, f"{millidegrees / 1000} °C is outside -55..125 °C")
    return millidegrees / 1000


def parse_w1_slave(text: str) -> float:
    """Degrees Celsius from a ``w1_slave`` file; :class:`SensorFault` when unusable."""
    lines = text.splitlines()
    if len(lines) < 2 or ":" not in lines[0] or "t=" not in lines[1]:
        raise SensorFault(READ_ERROR, f"expected two w1_slave lines with crc and t=, got {text!r}")
    scratchpad, _, verdict = lines[0].partition(":")
    verdict_word = verdict.split()[-1] if verdict.split() else ""
    if verdict_word == "NO":
        raise SensorFault(CRC, f"kernel reports a CRC mismatch: {lines[0].strip()!r}")
    if verdict_word != "YES":
        raise SensorFault(READ_ERROR, f"expected crc=.. YES or NO, got {lines[0].strip()!r}")
    try:
        data = bytes(int(b, 16) for b in scratchpad.split())
        millidegrees = int(lines[1].rpartition("t=")[2])
    except ValueError:
        raise SensorFault(READ_ERROR, f"unparseable w1_slave text {text!r}") from None
    if data and data.count(0) == len(data):
        raise SensorFault(BUS_ERROR, "all-zero scratchpad (data line held low)")
    return _checked(millidegrees)


def parse_temperature(text: str) -> float:
    """Degrees Celsius from the newer ``temperature`` attribute (millidegrees)."""
    try:
        return _checked(int(text.strip()))
    except ValueError:
        raise SensorFault(READ_ERROR, f"expected millidegrees, got {text!r}") from None


class Ds18b20:
    """One probe; :meth:`sample` gives one ``temperature_c`` reading, value or fault."""

    def __init__(
        self, config: Ds18b20Config, *, read_text: Callable[[Path], str] | None = None
    ) -> None:
        self.sensor_id = config.id
        self._config = config
        self._faults = FaultLog(_logger, config.id)
        # The OS boundary: each read of w1_slave makes the kernel run a new conversion.
        self._read_text = read_text or (lambda path: path.read_text(encoding="ascii"))

    def sample(self, now: datetime) -> list[Reading]:
        retries_left = self._config.retries
        while True:
            try:
                value = self._read_once()
            except SensorFault as fault:
                if fault.fault in _RETRYABLE and retries_left > 0:
                    retries_left -= 1
                    _logger.debug("%s: %s; retrying", self.sensor_id, fault)
                    continue
                self._faults.fault(fault)
                return faulted(self.sensor_id, now, [Metric.TEMPERATURE_C], fault.fault)
            self._faults.ok()
            return measured(self.sensor_id, now, {Metric.TEMPERATURE_C: value})

    def _device(self) -> Path:
        config = self._config
        if config.device_id is not None:
            return config.base_path / config.device_id
        assert config.glob is not None  # the config model requires one of the two
        found = sorted(
            p for p in config.base_path.glob(config.glob) if not p.name.startswith("w1_bus_master")
        )
        if not found:
            raise SensorFault(ABSENT, f"no 1-Wire device matches {config.base_path}/{config.glob}")
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise SensorFault(AMBIGUOUS, f"{config.glob} matches {len(found)} probes: {names}")
        return found[0]

    def _read_once(self) -> float:
        device = self._device()
        slave, temperature = device / "w1_slave", device / "temperature"
        source = self._config.source
        if source == "auto":
            source = "w1_slave" if slave.exists() or not temperature.exists() else "temperature"
        path = slave if source == "w1_slave" else temperature
        try:
            text = self._read_text(path)
        except FileNotFoundError:
            raise SensorFault(ABSENT, f"{path} does not exist (probe unplugged?)") from None
        except (OSError, UnicodeDecodeError) as exc:
            # w1-therm answers EIO when the CRC fails or the probe stops responding.
            reason = errno.errorcode.get(getattr(exc, "errno", None) or 0, str(exc))
            raise SensorFault(READ_ERROR, f"reading {path} failed: {reason}") from None
        return parse_w1_slave(text) if source == "w1_slave" else parse_temperature(text)
