"""Config entries for sensor and scanner drivers: one model per driver, chosen by ``driver``.

``[[sensors]]`` and ``[[scanners]]`` tables in the agent's TOML file validate into these
models; the ``driver`` key picks the model (a discriminated union), so an error names that
driver's own fields instead of every model's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails

from wire.models import Identifier

__all__ = [
    "BAUD_RATES",
    "Bme280Config",
    "Direction",
    "Ds18b20Config",
    "LineScannerConfig",
    "ScannerConfig",
    "SensorConfig",
    "SerialScannerConfig",
    "Sht3xConfig",
    "SimClimateConfig",
]

Direction = Literal["in", "out"]
# Baud rates termios names on Linux that barcode and RFID readers actually use.
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


def _untagged(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Report a driver table's errors at its own fields (``sensors.0.profile``).

    A pydantic discriminated union puts the tag into the location
    (``sensors.0.sim.climate.profile``); this drops it, and reports a missing or unknown
    ``driver`` at ``sensors.0.driver``.
    """
    try:
        return handler(value)
    except ValidationError as exc:
        errors: list[InitErrorDetails] = []
        for error in exc.errors():
            kind, loc = error["type"], error["loc"]
            if kind == "union_tag_not_found":
                errors.append({"type": "missing", "loc": ("driver",), "input": value})
                continue
            detail: InitErrorDetails = {
                "type": kind,
                "loc": ("driver",) if kind == "union_tag_invalid" else loc[1:],
                "input": error["input"],
            }
            if "ctx" in error:
                detail["ctx"] = error["ctx"]
            errors.append(detail)
        raise ValidationError.from_exception_data(exc.title, errors) from None


def _one_of(address: int, allowed: tuple[int, ...]) -> int:
    if address not in allowed:
        expected = " or ".join(f"{a:#04x}" for a in allowed)
        raise ValueError(f"I²C address must be {expected}, got {address:#04x}")
    return address


class _Driver(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Identifier


class SimClimateConfig(_Driver):
    """A simulated temperature/humidity probe (firmware_sim.devices.climate)."""

    driver: Literal["sim.climate"]
    profile: str = "wine"
    seed: int = 0

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        from firmware_sim.devices.climate import PROFILES

        if value not in PROFILES:
            raise ValueError(
                f"unknown storage profile {value!r}; expected one of {sorted(PROFILES)}"
            )
        return value


class Ds18b20Config(_Driver):
    """A DS18B20 probe on the kernel's 1-Wire bus (``w1-gpio`` + ``w1-therm``)."""

    driver: Literal["ds18b20"]
    # Exactly one of: the ROM id as the kernel names it ("28-0316a2795eff"), or a glob
    # that must match exactly one probe ("28-*" when a single probe hangs on the bus).
    device_id: Annotated[str, Field(pattern=r"^28-[0-9a-f]{12}$")] | None = None
    glob: Annotated[str, Field(min_length=1, pattern=r"^[^/]+$")] | None = None
    base_path: Path = Path("/sys/bus/w1/devices")
    # "auto" reads w1_slave (CRC verdict and scratchpad visible) and falls back to the
    # newer "temperature" attribute when w1_slave is missing.
    source: Literal["auto", "w1_slave", "temperature"] = "auto"
    # Extra reads after a CRC failure, power-on-reset value or an all-zero scratchpad.
    retries: Annotated[int, Field(ge=0, le=5)] = 2

    @model_validator(mode="after")
    def _one_selector(self) -> Ds18b20Config:
        if (self.device_id is None) == (self.glob is None):
            raise ValueError("set exactly one of device_id (e.g. '28-0316a2795eff') or glob")
        return self


class Sht3xConfig(_Driver):
    """A Sensirion SHT30/31/35 on an I²C bus (``/dev/i2c-{bus}``)."""

    driver: Literal["sht3x"]
    bus: Annotated[int, Field(ge=0, le=255)] = 1
    address: int = 0x44  # 0x45 with the ADDR pin high

    @field_validator("address")
    @classmethod
    def _address(cls, value: int) -> int:
        return _one_of(value, (0x44, 0x45))


class Bme280Config(_Driver):
    """A Bosch BME280 on an I²C bus (``/dev/i2c-{bus}``)."""

    driver: Literal["bme280"]
    bus: Annotated[int, Field(ge=0, le=255)] = 1
    address: int = 0x76  # 0x77 with SDO high

    @field_validator("address")
    @classmethod
    def _address(cls, value: int) -> int:
        return _one_of(value, (0x76, 0x77))


SensorConfig = Annotated[
    Annotated[
        SimClimateConfig | Ds18b20Config | Sht3xConfig | Bme280Config,
        Field(discriminator="driver"),
    ],
    WrapValidator(_untagged),
]


class _Scanner(_Driver):
    # Direction of the first scans after start, and the one a reader keeps when it has
    # no mode codes (a fixed dock-in or dock-out reader).
    direction: Direction = "in"
    # Scanning one of these codes switches the direction of the scans that follow; it is
    # not itself a stock event. Use {} for a reader fixed to its dock.
    mode_codes: dict[Annotated[str, Field(min_length=1, max_length=64)], Direction] = {
        "IN": "in",
        "OUT": "out",
    }
    # Fall back to ``direction`` after this long without a scan (a handheld left in "OUT").
    mode_timeout_s: Annotated[float, Field(gt=0)] | None = None
    # Drop repeats of the same code within this window (RFID portals read a tag many times
    # per pass). 0 keeps every read: two scans of one EAN are two units.
    dedupe_s: Annotated[float, Field(ge=0, le=3600)] = 0.0
    # Seconds between attempts to reopen a device that is missing or failed.
    reopen_s: Annotated[float, Field(gt=0, le=3600)] = 5.0


class SerialScannerConfig(_Scanner):
    """A reader on a serial line: RS-232 adapter, or USB in CDC/virtual-COM mode."""

    driver: Literal["scanner.serial"]
    path: Path
    baud: int = 9600

    @field_validator("baud")
    @classmethod
    def _known_baud(cls, value: int) -> int:
        if value not in BAUD_RATES:
            raise ValueError(f"unsupported baud rate {value}; expected one of {BAUD_RATES}")
        return value


class LineScannerConfig(_Scanner):
    """Keyboard-wedge style line input: a FIFO, a file, or ``-`` for the agent's stdin."""

    driver: Literal["scanner.wedge"]
    path: Path = Path("-")


ScannerConfig = Annotated[
    Annotated[SerialScannerConfig | LineScannerConfig, Field(discriminator="driver")],
    WrapValidator(_untagged),
]
