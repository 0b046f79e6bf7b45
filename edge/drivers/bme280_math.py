"""BME280 calibration words and the datasheet's integer compensation (Bosch BST-BME280-DS002).

Pure functions: the driver feeds them register bytes, tests feed them the datasheet's
worked example. The integer forms are the ones Bosch recommends for reproducible results;
Python's arithmetic shift on negative numbers matches the C reference.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ADC_H_SKIPPED",
    "ADC_T_SKIPPED",
    "CALIB_HUM_LEN",
    "CALIB_HUM_START",
    "CALIB_TP_LEN",
    "CALIB_TP_START",
    "Calibration",
    "adc_values",
    "compensate_humidity",
    "compensate_temperature",
    "parse_calibration",
]

CALIB_TP_START, CALIB_TP_LEN = 0x88, 26  # 0x88..0xA1: dig_T1..dig_P9, 0xA0 unused, dig_H1
CALIB_HUM_START, CALIB_HUM_LEN = 0xE1, 7  # 0xE1..0xE7: dig_H2..dig_H6
ADC_T_SKIPPED = 0x80000  # temperature register value when no conversion has run
ADC_H_SKIPPED = 0x8000  # humidity register value when humidity was not measured


@dataclass(frozen=True, slots=True)
class Calibration:
    t1: int
    t2: int
    t3: int
    h1: int
    h2: int
    h3: int
    h4: int
    h5: int
    h6: int


def _u16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little", signed=False)


def _s16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "little", signed=True)


def _s8(value: int) -> int:
    return value - 256 if value & 0x80 else value


def parse_calibration(tp: bytes, hum: bytes) -> Calibration:
    """Calibration words from registers 0x88..0xA1 (``tp``) and 0xE1..0xE7 (``hum``)."""
    if len(tp) != CALIB_TP_LEN or len(hum) != CALIB_HUM_LEN:
        raise ValueError(
            f"expected {CALIB_TP_LEN}+{CALIB_HUM_LEN} calibration bytes, got {len(tp)}+{len(hum)}"
        )
    return Calibration(
        t1=_u16(tp, 0),
        t2=_s16(tp, 2),
        t3=_s16(tp, 4),
        h1=tp[25],  # 0xA1
        h2=_s16(hum, 0),  # 0xE1/0xE2
        h3=hum[2],  # 0xE3
        # dig_H4 and dig_H5 are 12-bit signed values sharing register 0xE5.
        h4=(_s8(hum[3]) << 4) | (hum[4] & 0x0F),
        h5=(_s8(hum[5]) << 4) | (hum[4] >> 4),
        h6=_s8(hum[6]),
    )


def adc_values(data: bytes) -> tuple[int, int]:
    """(adc_T, adc_H) from the burst read of 0xF7..0xFE (pressure bytes are ignored)."""
    if len(data) != 8:
        raise ValueError(f"expected 8 data bytes (0xF7..0xFE), got {len(data)}")
    adc_t = (data[3] << 12) | (data[4] << 4) | (data[5] >> 4)
    adc_h = (data[6] << 8) | data[7]
    return adc_t, adc_h


def compensate_temperature(cal: Calibration, adc_t: int) -> tuple[float, int]:
    """(°C, t_fine): ``BME280_compensate_T_int32``; t_fine feeds the humidity formula."""
    var1 = (((adc_t >> 3) - (cal.t1 << 1)) * cal.t2) >> 11
    var2 = (((((adc_t >> 4) - cal.t1) * ((adc_t >> 4) - cal.t1)) >> 12) * cal.t3) >> 14
    t_fine = var1 + var2
    return ((t_fine * 5 + 128) >> 8) / 100, t_fine


def compensate_humidity(cal: Calibration, adc_h: int, t_fine: int) -> float:
    """%RH: ``bme280_compensate_H_int32`` (Q22.10 fixed point), clamped to 0..100."""
    v = t_fine - 76800
    scaled = (((adc_h << 14) - (cal.h4 << 20) - (cal.h5 * v)) + 16384) >> 15
    gain = (((v * cal.h6) >> 10) * (((v * cal.h3) >> 11) + 32768)) >> 10
    x = scaled * ((((gain + 2097152) * cal.h2) + 8192) >> 14)
    x -= ((((x >> 15) * (x >> 15)) >> 7) * cal.h1) >> 4
    x = min(max(x, 0), 419430400)
    return (x >> 12) / 1024
