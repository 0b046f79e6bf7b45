"""The driver protocol and the factory that builds drivers from config entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from edge.config import SensorConfig
from wire import Reading

__all__ = ["Sensor", "build_sensor"]


class Sensor(Protocol):
    """Something that, when asked at time ``now``, reports zero or more readings."""

    sensor_id: str

    def sample(self, now: datetime) -> Sequence[Reading]: ...


def build_sensor(config: SensorConfig) -> Sensor:
    if config.driver == "sim.climate":
        from firmware_sim.climate import ClimateSensor

        return ClimateSensor(config.id, profile=config.profile, seed=config.seed)
    raise ValueError(f"unknown sensor driver {config.driver!r}")  # pragma: no cover
