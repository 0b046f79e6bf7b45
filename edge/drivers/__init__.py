"""Sensor and scanner drivers behind two small protocols.

Sensors: ``sim.climate`` (firmware_sim), ``ds18b20`` (1-Wire sysfs), ``sht3x`` and
``bme280`` (I²C, the ``i2c`` extra). Scanners: ``scanner.serial`` and ``scanner.wedge``
(line-oriented barcode/RFID readers producing stock in/out scan events).
"""

from edge.drivers.base import Scanner, Sensor, build_scanner, build_sensor
from edge.drivers.config import ScannerConfig, SensorConfig

__all__ = ["Scanner", "ScannerConfig", "Sensor", "SensorConfig", "build_scanner", "build_sensor"]
