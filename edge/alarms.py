"""Local threshold alarms: per-metric min/max limits with hysteresis, evaluated on the gateway.

Alarms are decided where the readings are taken, so they work with no network at all; the
agent stores each raised/cleared event in the outbox as a ``state`` message (never evicted)
and it reaches the cloud when the link returns. An alarm raises when a value goes beyond a
limit and clears only once the value is back inside by the hysteresis, so a reading hovering
at the limit does not flap. Which alarms are active is persisted, so a restart neither
repeats a raise nor forgets to clear.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from edge.statefile import read_state, write_state
from wire import AlarmEvent, Metric, Reading, Threshold

__all__ = ["DEFAULT_HYSTERESIS", "AlarmMonitor"]

_logger = logging.getLogger(__name__)

#: Used when a threshold does not name its own hysteresis: about twice probe noise.
DEFAULT_HYSTERESIS: dict[Metric, float] = {Metric.TEMPERATURE_C: 0.3, Metric.HUMIDITY_PCT: 2.0}
Bound = Literal["min", "max"]
_Key = tuple[str, Metric, Bound]


class AlarmMonitor:
    """Turns readings into raised/cleared alarm events; remembers active alarms in ``path``."""

    def __init__(self, thresholds: Mapping[Metric, Threshold], path: Path | None = None) -> None:
        self._thresholds = dict(thresholds)
        self._path = path
        self._active: dict[_Key, float] = {}  # -> limit that raised it
        if path is not None:
            for entry in read_state(path).get("active", []):
                try:
                    sensor, metric, bound, limit = entry
                    self._active[(str(sensor), Metric(metric), bound)] = float(limit)
                except (TypeError, ValueError):
                    _logger.error("ignoring unreadable alarm state entry %r in %s", entry, path)

    @property
    def active(self) -> list[tuple[str, Metric, Bound]]:
        return sorted(self._active)

    def set_thresholds(self, thresholds: Mapping[Metric, Threshold]) -> None:
        """New limits apply from the next reading; alarms whose limit is gone clear then."""
        self._thresholds = dict(thresholds)

    def observe(self, readings: Iterable[Reading]) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        for reading in readings:
            if reading.value is None:  # a faulted reading says nothing about the room
                continue
            threshold = self._thresholds.get(reading.metric)
            found = [self._check(reading, reading.value, threshold, b) for b in ("min", "max")]
            # A jump from one side to the other clears the old alarm before raising the new.
            events += sorted(
                (e for e in found if e is not None), key=lambda e: e.state != "cleared"
            )
        if events and self._path is not None:
            write_state(
                self._path,
                {"active": [[s, m.value, b, lim] for (s, m, b), lim in self._active.items()]},
            )
        return events

    def _check(
        self, reading: Reading, value: float, threshold: Threshold | None, bound: Bound
    ) -> AlarmEvent | None:
        key = (reading.sensor, reading.metric, bound)
        limit = None if threshold is None else getattr(threshold, bound)
        raised_at = self._active.get(key)
        if raised_at is not None:
            if limit is None:  # the limit was removed by a new config
                return self._event(reading, value, bound, raised_at, "cleared")
            hysteresis = self._hysteresis(reading.metric, threshold)
            back_inside = (
                value <= limit - hysteresis if bound == "max" else value >= limit + hysteresis
            )
            if back_inside:
                return self._event(reading, value, bound, limit, "cleared")
            self._active[key] = limit
            return None
        if limit is None:
            return None
        beyond = value > limit if bound == "max" else value < limit
        return self._event(reading, value, bound, limit, "raised") if beyond else None

    def _event(
        self,
        reading: Reading,
        value: float,
        bound: Bound,
        limit: float,
        state: Literal["raised", "cleared"],
    ) -> AlarmEvent:
        key = (reading.sensor, reading.metric, bound)
        if state == "raised":
            self._active[key] = limit
        else:
            self._active.pop(key, None)
        _logger.warning(
            "alarm %s: %s %s=%s, %s limit %s",
            state,
            reading.sensor,
            reading.metric.value,
            value,
            bound,
            limit,
        )
        return AlarmEvent(
            sensor=reading.sensor,
            metric=reading.metric,
            state=state,
            bound=bound,
            limit=limit,
            value=value,
            ts=reading.ts,
        )

    @staticmethod
    def _hysteresis(metric: Metric, threshold: Threshold | None) -> float:
        if threshold is not None and threshold.hysteresis is not None:
            return threshold.hysteresis
        return DEFAULT_HYSTERESIS.get(metric, 0.0)
