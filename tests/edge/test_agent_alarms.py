"""Local threshold alarms: hysteresis, persistence, and their way into the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.alarms import AlarmMonitor
from wire import Metric, Reading, Threshold

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def temps(*values: float | None) -> list[Reading]:
    return [
        Reading(
            sensor="p1",
            metric=Metric.TEMPERATURE_C,
            ts=T0 + timedelta(seconds=i),
            value=v,
            fault=None if v is not None else "nan",
        )
        for i, v in enumerate(values)
    ]


def states(monitor: AlarmMonitor, *values: float | None) -> list[tuple[str, str, float]]:
    return [(e.state, e.bound, e.value) for e in monitor.observe(temps(*values))]


def test_raise_and_clear_with_hysteresis() -> None:
    monitor = AlarmMonitor({Metric.TEMPERATURE_C: Threshold(min=2.0, max=6.0, hysteresis=0.5)})
    assert states(monitor, 5.0, 6.0, 6.1, 7.0, 5.9, 5.6, 5.5, 6.2) == [
        ("raised", "max", 6.1),
        ("cleared", "max", 5.5),
        ("raised", "max", 6.2),
    ]
    assert states(monitor, 1.9, None, 2.4, 2.5) == [
        ("cleared", "max", 1.9),
        ("raised", "min", 1.9),
        ("cleared", "min", 2.5),
    ]


def test_active_alarms_survive_a_restart(tmp_path: Path) -> None:
    limits = {Metric.TEMPERATURE_C: Threshold(max=6.0)}
    first = AlarmMonitor(limits, tmp_path / "alarms.json")
    assert states(first, 7.0) == [("raised", "max", 7.0)]
    second = AlarmMonitor(limits, tmp_path / "alarms.json")
    assert states(second, 7.5) == []  # not raised twice
    assert states(second, 5.0) == [("cleared", "max", 5.0)]


def test_removed_limit_clears_its_alarm() -> None:
    monitor = AlarmMonitor({Metric.TEMPERATURE_C: Threshold(max=6.0)})
    assert states(monitor, 9.0) == [("raised", "max", 9.0)]
    monitor.set_thresholds({})
    assert states(monitor, 9.0) == [("cleared", "max", 9.0)]
    assert monitor.active == []
