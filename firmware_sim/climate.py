"""A simulated warehouse temperature/humidity probe with a realistic, seedable signal.

The signal is a daily cycle around the storage profile's set point plus slow
weather drift and sensor noise; humidity moves against temperature, as it does
in a closed room. Same seed and same timestamps give the same readings, so runs
are reproducible.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime

from wire import Metric, Reading

__all__ = ["PROFILES", "ClimateProfile", "ClimateSensor"]


@dataclass(frozen=True, slots=True)
class ClimateProfile:
    """Where a well-run room for this kind of goods sits, and how much it swings."""

    name: str
    set_point_c: float
    daily_swing_c: float
    humidity_pct: float


PROFILES: dict[str, ClimateProfile] = {
    "wine": ClimateProfile("wine", set_point_c=14.0, daily_swing_c=1.5, humidity_pct=65.0),
    "dairy": ClimateProfile("dairy", set_point_c=4.0, daily_swing_c=0.8, humidity_pct=85.0),
    "ambient": ClimateProfile("ambient", set_point_c=21.0, daily_swing_c=3.0, humidity_pct=50.0),
    "frozen": ClimateProfile("frozen", set_point_c=-20.0, daily_swing_c=1.0, humidity_pct=70.0),
}


class ClimateSensor:
    """One probe reporting temperature and relative humidity."""

    def __init__(self, sensor_id: str, *, profile: str = "wine", seed: int = 0) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(PROFILES)}")
        self.sensor_id = sensor_id
        self.profile = PROFILES[profile]
        self._rng = random.Random(seed)
        self._drift = 0.0  # slow random walk: weather, door traffic

    def sample(self, now: datetime) -> list[Reading]:
        p = self.profile
        seconds = now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6
        # Warmest mid-afternoon (15:00 local to the stamp), coolest before dawn.
        daily = math.sin(2 * math.pi * (seconds / 86_400 - 0.375))
        self._drift = max(-1.0, min(1.0, self._drift + self._rng.gauss(0, 0.02)))
        temperature = p.set_point_c + p.daily_swing_c * daily + self._drift
        temperature += self._rng.gauss(0, 0.05)
        humidity = p.humidity_pct - 2.5 * (temperature - p.set_point_c) + self._rng.gauss(0, 0.4)
        humidity = max(0.0, min(100.0, humidity))
        return [
            Reading(
                sensor=self.sensor_id,
                metric=Metric.TEMPERATURE_C,
                ts=now,
                value=round(temperature, 3),
            ),
            Reading(
                sensor=self.sensor_id, metric=Metric.HUMIDITY_PCT, ts=now, value=round(humidity, 2)
            ),
        ]
