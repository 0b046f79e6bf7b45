"""Sensor and scanner drivers behind one small protocol."""

from edge.drivers.base import Sensor, build_sensor

__all__ = ["Sensor", "build_sensor"]
