"""Fake I²C buses emulating an SHT3x and a BME280 behind the smbus2 methods the drivers call.

They answer at the OS boundary: NACKs are ``OSError(EREMOTEIO)`` as the Raspberry Pi's
i2c-bcm2835 reports them, reads fill the caller's ``i2c_msg`` buffer, and every command
byte is checked against the datasheets and recorded.
"""

from __future__ import annotations

import ctypes
import errno
from typing import Any, ClassVar

I2C_M_RD = 0x0001  # linux/i2c.h


def nack() -> OSError:
    return OSError(errno.EREMOTEIO, "Remote I/O error")


def sensirion_crc(data: bytes) -> int:
    """CRC-8 (poly 0x31, init 0xFF) as the bit-serial LFSR the datasheet draws."""
    crc = 0xFF
    for byte in data:
        for i in range(7, -1, -1):
            feedback = ((crc >> 7) & 1) ^ ((byte >> i) & 1)
            crc = (crc << 1) & 0xFF
            if feedback:
                crc ^= 0x31
    return crc


class FakeSht3x:
    """SHT3x: accepts single-shot commands, NACKs reads until a measurement is pending."""

    # Single shot, repeatability high/medium/low, without and with clock stretching.
    COMMANDS: ClassVar[frozenset[bytes]] = frozenset(
        bytes.fromhex(c) for c in ("2400", "240b", "2416", "2c06", "2c0d", "2c10")
    )

    def __init__(self, raw_t: int = 0x6666, raw_rh: int = 0x8000, address: int = 0x44) -> None:
        self.address = address
        self.raw_t, self.raw_rh = raw_t, raw_rh
        self.present = True
        self.busy_reads = 0  # reads NACKed while "converting"
        self.corrupt_humidity_crc = False
        self.frame_override: bytes | None = None
        self.fail_with: int | None = None  # errno for the next transfer
        self.commands: list[bytes] = []
        self.closed = 0
        self._pending = False

    def i2c_rdwr(self, *msgs: Any) -> None:
        for msg in msgs:
            if self.fail_with is not None:
                code, self.fail_with = self.fail_with, None
                raise OSError(code, "fake bus failure")
            if not self.present or msg.addr != self.address:
                raise nack()
            if msg.flags & I2C_M_RD:
                self._read(msg)
            else:
                command = ctypes.string_at(msg.buf, msg.len)
                assert command in self.COMMANDS, f"not an SHT3x single-shot command: {command!r}"
                self.commands.append(command)
                self._pending = True

    def _read(self, msg: Any) -> None:
        if not self._pending:
            raise nack()
        if self.busy_reads:
            self.busy_reads -= 1
            raise nack()
        assert msg.len == 6, f"SHT3x sends 6 bytes per measurement, asked for {msg.len}"
        t, rh = self.raw_t.to_bytes(2, "big"), self.raw_rh.to_bytes(2, "big")
        rh_crc = sensirion_crc(rh) ^ (0x01 if self.corrupt_humidity_crc else 0)
        frame = self.frame_override or t + bytes([sensirion_crc(t)]) + rh + bytes([rh_crc])
        ctypes.memmove(msg.buf, frame, 6)
        self._pending = False

    # SMBus register access would prefix a register byte the SHT3x would take as a command.
    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        raise AssertionError("the SHT3x has no registers: use raw i2c_rdwr transfers")

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        raise AssertionError("the SHT3x has no registers: use raw i2c_rdwr transfers")

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        raise AssertionError("the SHT3x has no registers: use raw i2c_rdwr transfers")

    def close(self) -> None:
        self.closed += 1


# Datasheet worked example for temperature (BST-BMP280-DS001 §3.12, same formula in the
# BME280); humidity trimming as read from a production BME280.
EXAMPLE_CAL = {"T1": 27504, "T2": 26435, "T3": -1000, "P1": 36477, "P2": -10685, "P3": 3024,
               "P4": 2855, "P5": 140, "P6": -7, "P7": 15500, "P8": -14600, "P9": 6000,
               "H1": 75, "H2": 362, "H3": 0, "H4": 313, "H5": 50, "H6": 30}  # fmt: skip
EXAMPLE_ADC_T = 519888  # -> 25.08 °C, t_fine 128422


class FakeBme280:
    """BME280 register map: chip id, calibration NVM, ctrl_hum/ctrl_meas, forced mode."""

    def __init__(self, cal: dict[str, int] = EXAMPLE_CAL, address: int = 0x76) -> None:
        self.address = address
        self.regs = bytearray(256)
        self.regs[0xD0] = 0x60
        self._write_calibration(cal)
        self.regs[0xF7:0xFF] = bytes([0x80, 0, 0, 0x80, 0, 0, 0x80, 0])  # reset values
        self.adc_t, self.adc_h, self.adc_p = EXAMPLE_ADC_T, 30000, 415148
        self.present = True
        self.busy_polls = 1  # status reads that still show "measuring"
        self.fail_with: int | None = None
        self.writes: list[tuple[int, int]] = []
        self.closed = 0
        self._busy = 0

    def _write_calibration(self, c: dict[str, int]) -> None:
        def put(reg: int, value: int, signed: bool) -> None:
            self.regs[reg : reg + 2] = value.to_bytes(2, "little", signed=signed)

        put(0x88, c["T1"], False)
        put(0x8A, c["T2"], True)
        put(0x8C, c["T3"], True)
        put(0x8E, c["P1"], False)
        for i in range(2, 10):
            put(0x8E + 2 * (i - 1), c[f"P{i}"], True)
        self.regs[0xA1] = c["H1"]
        put(0xE1, c["H2"], True)
        self.regs[0xE3] = c["H3"]
        self.regs[0xE4] = (c["H4"] >> 4) & 0xFF
        self.regs[0xE5] = (c["H4"] & 0x0F) | ((c["H5"] & 0x0F) << 4)
        self.regs[0xE6] = (c["H5"] >> 4) & 0xFF
        self.regs[0xE7] = c["H6"] & 0xFF

    def _check(self, addr: int) -> None:
        if self.fail_with is not None:
            code, self.fail_with = self.fail_with, None
            raise OSError(code, "fake bus failure")
        if not self.present or addr != self.address:
            raise nack()

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int:
        self._check(i2c_addr)
        if register == 0xF3:
            measuring = self._busy > 0
            self._busy = max(0, self._busy - 1)
            return 0x08 if measuring else 0x00
        return self.regs[register]

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]:
        self._check(i2c_addr)
        assert length <= 32, "SMBus block reads are limited to 32 bytes"
        return list(self.regs[register : register + length])

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None:
        self._check(i2c_addr)
        assert register in (0xF2, 0xF4, 0xF5, 0xE0), f"register {register:#04x} is read-only"
        self.writes.append((register, value))
        self.regs[register] = value
        if register == 0xF4 and value & 0b11 in (0b01, 0b10):  # forced mode: one conversion
            self._convert(osrs_t=value >> 5, osrs_p=(value >> 2) & 0b111)
            self.regs[0xF4] = value & ~0b11  # back to sleep

    def _convert(self, osrs_t: int, osrs_p: int) -> None:
        # ctrl_hum is latched by this ctrl_meas write (datasheet §5.4.3).
        osrs_h = self.regs[0xF2] & 0b111
        if osrs_p:
            self.regs[0xF7:0xFA] = (self.adc_p << 4).to_bytes(3, "big")
        if osrs_t:
            self.regs[0xFA:0xFD] = (self.adc_t << 4).to_bytes(3, "big")
        if osrs_h:
            self.regs[0xFD:0xFF] = self.adc_h.to_bytes(2, "big")
        self._busy = self.busy_polls

    def i2c_rdwr(self, *msgs: Any) -> None:
        raise AssertionError("the BME280 driver uses register access, not raw transfers")

    def close(self) -> None:
        self.closed += 1
