"""Sensor faults and clock skew, as real probes and gateways show them.

Faults are a time-based random process (rates per hour, durations in seconds), so the same
seed gives the same faults whatever the sampling rate. Kinds:

- ``stuck``: the probe repeats its last value for a while (frozen ADC, I²C bus hang);
- ``drift``: a growing calibration offset after onset (ageing thermistor), never recovers;
- ``dropout``: no reading at all for a while (loose connector, brown-out);
- ``spike``: one wild value (EMI, a compressor starting on the same circuit);
- ``nan``: the driver gets NaN (CRC error, disconnected 1-Wire probe), which becomes a
  reading with no value and ``fault="nan"``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["FaultRates", "FaultState", "SkewedClock"]


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Onsets per hour of each fault kind, and how long the lasting ones last."""

    stuck_per_h: float = 0.0
    drift_per_h: float = 0.0
    dropout_per_h: float = 0.0
    spike_per_h: float = 0.0
    nan_per_h: float = 0.0
    stuck_s: float = 300.0
    dropout_s: float = 60.0
    drift_per_day: float = 0.5  # value units per day once drifting
    spike_size: float = 25.0

    @classmethod
    def faulty(cls) -> FaultRates:
        """Rates high enough to see every fault within minutes, for demos and tests."""
        return cls(stuck_per_h=6, drift_per_h=1, dropout_per_h=6, spike_per_h=30, nan_per_h=30)


class FaultState:
    """Applies `FaultRates` to one metric's true values over time."""

    def __init__(self, rates: FaultRates, rng: random.Random) -> None:
        self._rates = rates
        self._rng = rng
        self._last_t: float | None = None
        self._stuck_until = -math.inf
        self._stuck_value: float | None = None
        self._dropout_until = -math.inf
        self._drift_since: float | None = None
        self._last_value: float | None = None

    def _happens(self, per_hour: float, dt: float) -> bool:
        return per_hour > 0 and self._rng.random() < 1 - math.exp(-per_hour * dt / 3600)

    def apply(self, t: float, value: float) -> tuple[float | None, str | None]:
        """What the probe reports at ``t`` (seconds) for the true ``value``: (value, fault).

        ``(None, None)`` means no reading at all (dropout).
        """
        r = self._rates
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        if self._drift_since is None and self._happens(r.drift_per_h, dt):
            self._drift_since = t
        if self._drift_since is not None:
            value += r.drift_per_day * (t - self._drift_since) / 86_400
        if t < self._dropout_until or self._happens(r.dropout_per_h, dt):
            if t >= self._dropout_until:
                self._dropout_until = t + r.dropout_s * self._rng.uniform(0.5, 1.5)
            return None, None
        if t < self._stuck_until:
            return self._stuck_value, None
        if self._last_value is not None and self._happens(r.stuck_per_h, dt):
            self._stuck_until = t + r.stuck_s * self._rng.uniform(0.5, 1.5)
            self._stuck_value = self._last_value
            return self._stuck_value, None
        if self._happens(r.nan_per_h, dt):
            return None, "nan"
        if self._happens(r.spike_per_h, dt):
            return value + self._rng.choice((-1, 1)) * r.spike_size, None
        self._last_value = value
        return value, None


@dataclass(frozen=True, slots=True)
class SkewedClock:
    """A gateway clock ``offset_s`` off and running ``drift_ppm`` fast (negative: slow).

    Wraps a true clock; pass it as the agent's ``clock`` to simulate a Pi without RTC.
    """

    true_clock: Callable[[], datetime]
    offset_s: float = 0.0
    drift_ppm: float = 0.0
    epoch: datetime | None = None

    def __call__(self) -> datetime:
        now = self.true_clock()
        elapsed = 0.0 if self.epoch is None else (now - self.epoch).total_seconds()
        return now + timedelta(seconds=self.offset_s + elapsed * self.drift_ppm * 1e-6)
