"""The slice of smbus2 that the I²C drivers use, and how a bus is opened.

Drivers open the bus for each sample and close it afterwards: one ``open`` of
``/dev/i2c-N`` per second costs nothing, and a bus that disappeared and came back (an
overlay reloaded, a USB-I²C bridge replugged) is picked up without a restart. Tests pass a
factory that returns a fake bus emulating the chip.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from edge.drivers.faults import ABSENT, IO_ERROR, SensorFault
from edge.errors import DriverError

if TYPE_CHECKING:
    from smbus2 import i2c_msg

__all__ = ["BusFactory", "I2cBus", "bus_fault", "require_smbus2", "smbus_factory"]

# What the kernel answers when nothing acknowledges the address: EREMOTEIO from the
# Raspberry Pi's i2c-bcm2835, ENXIO from most other adapters.
_NACK = frozenset({errno.EREMOTEIO, errno.ENXIO})


class I2cBus(Protocol):
    """The smbus2.SMBus methods the drivers call."""

    def i2c_rdwr(self, *i2c_msgs: i2c_msg) -> None: ...

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int: ...

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None: ...

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]: ...

    def close(self) -> None: ...


BusFactory = Callable[[], I2cBus]


def require_smbus2(driver: str) -> ModuleType:
    """The smbus2 module, or :class:`DriverError` naming the extra to install."""
    try:
        import smbus2
    except ImportError:
        raise DriverError(
            f"driver {driver!r} needs smbus2, which is not installed: "
            "pip install 'channeltrace[edge,i2c]'"
        ) from None
    return smbus2


def smbus_factory(driver: str, bus: int) -> BusFactory:
    """Opens ``/dev/i2c-{bus}`` with smbus2 on each call."""
    smbus2 = require_smbus2(driver)

    def open_bus() -> I2cBus:
        opened: I2cBus = smbus2.SMBus(bus)
        return opened

    return open_bus


def bus_fault(exc: OSError, what: str) -> SensorFault:
    """An OSError from the bus as a fault: ``absent`` for a NACK, ``io_error`` otherwise."""
    code = exc.errno or 0
    name = errno.errorcode.get(code, str(exc))
    if code in _NACK:
        return SensorFault(ABSENT, f"{what}: no acknowledge ({name})")
    if code == errno.ENOENT:
        return SensorFault(IO_ERROR, f"{what}: no such bus ({exc}); is I²C enabled?")
    return SensorFault(IO_ERROR, f"{what}: {name}")
