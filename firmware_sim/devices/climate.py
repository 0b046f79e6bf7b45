"""A simulated warehouse room and its temperature/humidity probe, seedable and time-based.

The room is a small thermal model integrated over the time between samples (so the signal
does not depend on how often it is sampled):

- outside air follows a daily cycle (coolest before dawn, warmest mid-afternoon) plus slow
  weather (an Ornstein-Uhlenbeck walk with a time constant of hours);
- heat leaks in through the walls towards the outside temperature;
- refrigerated rooms (dairy, pharma, frozen) run a compressor that switches on above and
  off below a dead band around the set point, giving the familiar saw-tooth; other rooms
  have HVAC that pulls towards a set point that itself swings a little with the day;
- doors open at random, more often in working hours; an open door exchanges air fast;
- an HVAC or compressor failure stops cooling, and the room drifts towards outside air;
- humidity falls as the room warms and jumps towards outside humidity with open doors.

The probe then adds noise, and optional faults (`firmware_sim.devices.faults`). Same seed and
same timestamps give the same readings.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime

from firmware_sim.devices.faults import FaultRates, FaultState
from wire import Metric, Reading

__all__ = ["PROFILES", "SCENARIOS", "ClimateProfile", "ClimateSensor", "Room", "Scenario"]

_MAX_STEP_S = 10.0  # integration step
_MAX_CATCH_UP_S = 6 * 3600.0  # a longer gap restarts the model from equilibrium


@dataclass(frozen=True, slots=True)
class ClimateProfile:
    """Storage conditions for a kind of goods: where the room sits and what is acceptable."""

    name: str
    set_point_c: float
    daily_swing_c: float  # how much the day shows through (HVAC rooms)
    humidity_pct: float
    min_c: float  # acceptable range: alarm limits for this kind of goods
    max_c: float
    refrigerated: bool = False
    band_c: float = 1.0  # compressor dead band (refrigerated rooms)


PROFILES: dict[str, ClimateProfile] = {
    "wine": ClimateProfile("wine", 14.0, 1.0, 65.0, min_c=10.0, max_c=18.0),
    "dairy": ClimateProfile("dairy", 4.0, 0.3, 85.0, 2.0, 6.0, refrigerated=True, band_c=1.2),
    "pharma": ClimateProfile("pharma", 5.0, 0.2, 55.0, 2.0, 8.0, refrigerated=True, band_c=1.0),
    "frozen": ClimateProfile(
        "frozen", -20.0, 0.3, 70.0, -30.0, -18.0, refrigerated=True, band_c=1.5
    ),
    "ambient": ClimateProfile("ambient", 21.0, 3.0, 50.0, min_c=15.0, max_c=25.0),
}


@dataclass(frozen=True, slots=True)
class Scenario:
    """What happens to the room and probe beyond normal operation."""

    doors_per_h: float = 4.0  # openings per working hour (08-18); a quarter of that at night
    hvac_failure_after_s: float | None = None  # from the first sample
    hvac_failure_s: float = 2 * 3600.0
    faults: FaultRates = field(default_factory=FaultRates)


SCENARIOS: dict[str, Scenario] = {
    "normal": Scenario(),
    "busy": Scenario(doors_per_h=30.0),
    "hvac_failure": Scenario(hvac_failure_after_s=600.0),
    "faulty": Scenario(faults=FaultRates.faulty()),
}


class Room:
    """The thermal state of one room; `advance` integrates it to a new time."""

    def __init__(self, profile: ClimateProfile, scenario: Scenario, rng: random.Random) -> None:
        self.profile = profile
        self.scenario = scenario
        self._rng = rng
        self.t: float | None = None
        self.started: float | None = None
        self.temperature = profile.set_point_c
        self.humidity = profile.humidity_pct
        self.weather = 0.0  # outside deviation from the daily mean, OU process
        self.compressor_on = False
        self.door_open_until = -math.inf

    def outside(self, t: float) -> tuple[float, float]:
        """Outside temperature and humidity at ``t`` (epoch seconds, UTC as local time)."""
        day = (t % 86_400) / 86_400
        temperature = 18.0 + 6.0 * math.sin(2 * math.pi * (day - 0.375)) + self.weather
        humidity = 60.0 - 1.5 * (temperature - 18.0)
        return temperature, max(5.0, min(100.0, humidity))

    def hvac_failed(self, t: float) -> bool:
        after = self.scenario.hvac_failure_after_s
        if after is None or self.started is None:
            return False
        start = self.started + after
        return start <= t < start + self.scenario.hvac_failure_s

    def target(self, t: float) -> float:
        """Where the HVAC of a non-refrigerated room steers: the set point, swinging a bit."""
        p = self.profile
        day = (t % 86_400) / 86_400
        return p.set_point_c + p.daily_swing_c * math.sin(2 * math.pi * (day - 0.375))

    def advance(self, t: float) -> None:
        if self.t is None or t - self.t > _MAX_CATCH_UP_S:
            self._settle(t)
            return
        while self.t < t:
            dt = min(_MAX_STEP_S, t - self.t)
            self._step(self.t + dt, dt)
            self.t += dt

    def _settle(self, t: float) -> None:
        self.t = t
        self.started = t if self.started is None else self.started
        self.temperature = (
            self.target(t)
            if not self.profile.refrigerated
            else (self.profile.set_point_c + self._rng.uniform(-0.5, 0.5) * self.profile.band_c)
        )
        self.humidity = self.profile.humidity_pct

    def _step(self, t: float, dt: float) -> None:
        p, rng = self.profile, self._rng
        # Weather: tau 6 h, about 2 degC standard deviation.
        tau = 6 * 3600.0
        self.weather += -self.weather * dt / tau + 2.0 * math.sqrt(2 * dt / tau) * rng.gauss(0, 1)
        outside_t, outside_h = self.outside(t)
        hour = (t % 86_400) / 3600
        rate = self.scenario.doors_per_h * (1.0 if 8 <= hour < 18 else 0.25)
        if t >= self.door_open_until and rng.random() < 1 - math.exp(-rate * dt / 3600):
            self.door_open_until = t + rng.uniform(20, 180)
        door = t < self.door_open_until
        failed = self.hvac_failed(t)
        # Wall leak (tau 2 h for cold rooms, 4 h otherwise) and an open door (tau 30 min;
        # cold rooms have strip curtains, tau 1.5 h).
        leak = (outside_t - self.temperature) / (7200.0 if p.refrigerated else 14_400.0)
        if door:
            leak += (outside_t - self.temperature) / (5400.0 if p.refrigerated else 1800.0)
        if p.refrigerated:
            if self.temperature > p.set_point_c + p.band_c / 2:
                self.compressor_on = not failed
            elif self.temperature < p.set_point_c - p.band_c / 2 or failed:
                self.compressor_on = False
            # Capacity: about three times the worst wall leak, so it keeps up with doors.
            cooling = -3.0 * max(5.0, 38.0 - p.set_point_c) / 7200.0 if self.compressor_on else 0
        else:
            cooling = 0.0 if failed else (self.target(t) - self.temperature) / 1800.0
        self.temperature += (leak + cooling) * dt
        # Humidity: relaxes to the profile's level, lower when warmer; doors pull to outside.
        goal = p.humidity_pct - 2.5 * (self.temperature - p.set_point_c)
        relax = dt / (300.0 if door else 1200.0)
        self.humidity += ((outside_h if door else goal) - self.humidity) * min(1.0, relax)
        self.humidity = max(0.0, min(100.0, self.humidity))


class ClimateSensor:
    """One probe in one simulated room, reporting temperature and relative humidity."""

    def __init__(
        self,
        sensor_id: str,
        *,
        profile: str = "wine",
        seed: int = 0,
        scenario: str | Scenario = "normal",
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(PROFILES)}")
        if isinstance(scenario, str):
            if scenario not in SCENARIOS:
                raise ValueError(
                    f"unknown scenario {scenario!r}; expected one of {sorted(SCENARIOS)}"
                )
            scenario = SCENARIOS[scenario]
        self.sensor_id = sensor_id
        self.profile = PROFILES[profile]
        self._rng = random.Random(seed)
        self.room = Room(self.profile, scenario, random.Random(self._rng.getrandbits(64)))
        self._faults = {
            metric: FaultState(scenario.faults, random.Random(self._rng.getrandbits(64)))
            for metric in Metric
        }

    def sample(self, now: datetime) -> list[Reading]:
        t = now.timestamp()
        self.room.advance(t)
        true = {
            Metric.TEMPERATURE_C: self.room.temperature + self._rng.gauss(0, 0.05),
            Metric.HUMIDITY_PCT: self.room.humidity + self._rng.gauss(0, 0.4),
        }
        readings = []
        for metric, value in true.items():
            reported, fault = self._faults[metric].apply(t, value)
            if reported is None and fault is None:
                continue  # dropout: the probe said nothing
            if reported is not None and math.isfinite(reported):
                digits = 3 if metric is Metric.TEMPERATURE_C else 2
                if metric is Metric.HUMIDITY_PCT:
                    reported = max(0.0, min(100.0, reported))
                readings.append(
                    Reading(
                        sensor=self.sensor_id, metric=metric, ts=now, value=round(reported, digits)
                    )
                )
            else:
                readings.append(
                    Reading(sensor=self.sensor_id, metric=metric, ts=now, fault=fault or "nan")
                )
        return readings
