"""Cold-chain excursions: a reading stream outside its limits, with duration and hysteresis.

A stream (one sensor's metric) leaves the band when a value crosses a limit and comes back
only when a value is ``hysteresis`` inside it, so noise around a limit does not flap.
Excursions closer together than ``merge_within`` are one (time hysteresis), and only an
excursion lasting ``min_duration`` or more counts. The limits of a site are the tightest
of the storage profiles of the products it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from cloud.alerts.model import AlertKind, Condition, Severity

__all__ = [
    "Excursion",
    "Limits",
    "Sample",
    "excursion_condition",
    "excursions",
    "merge",
    "tightest",
]

Bound = Literal["min", "max"]


@dataclass(frozen=True, slots=True)
class Limits:
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"empty range: low {self.low} > high {self.high}")

    @property
    def empty(self) -> bool:
        return self.low is None and self.high is None


def tightest(profiles: Iterable[tuple[float | None, float | None]]) -> Limits | None:
    """The intersection of ``(min, max)`` ranges (None: unbounded); None if they conflict."""
    low: float | None = None
    high: float | None = None
    for lo, hi in profiles:
        if lo is not None:
            low = lo if low is None else max(low, lo)
        if hi is not None:
            high = hi if high is None else min(high, hi)
    if low is not None and high is not None and low > high:
        return None  # products needing incompatible rooms: every reading is wrong for one
    return Limits(low, high)


@dataclass(frozen=True, slots=True)
class Sample:
    time: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Excursion:
    """Out of band from ``start`` (first offending sample) to ``end`` (first sample back in
    band), or still out at ``last`` (the stream's last sample) when ``end`` is None."""

    start: datetime
    end: datetime | None
    last: datetime
    bound: Bound
    limit: float
    peak: float  # the worst value seen
    samples: int

    @property
    def duration(self) -> timedelta:
        return (self.end or self.last) - self.start

    @property
    def stop(self) -> datetime:
        return self.end or self.last


def _outside(value: float, limits: Limits) -> Bound | None:
    if limits.high is not None and value > limits.high:
        return "max"
    if limits.low is not None and value < limits.low:
        return "min"
    return None


def _back_inside(value: float, bound: Bound, limits: Limits, hysteresis: float) -> bool:
    if bound == "max":
        assert limits.high is not None
        return value <= limits.high - hysteresis
    assert limits.low is not None
    return value >= limits.low + hysteresis


def _raw(samples: Sequence[Sample], limits: Limits, hysteresis: float) -> list[Excursion]:
    found: list[Excursion] = []
    current: Excursion | None = None
    for s in samples:
        if current is None:
            bound = _outside(s.value, limits)
            if bound is not None:
                limit = limits.high if bound == "max" else limits.low
                assert limit is not None
                current = Excursion(s.time, None, s.time, bound, limit, s.value, 1)
            continue
        if _back_inside(s.value, current.bound, limits, hysteresis):
            found.append(replace(current, end=s.time, last=s.time))
            current = None
            continue
        worse = max if current.bound == "max" else min
        current = replace(
            current, last=s.time, peak=worse(current.peak, s.value), samples=current.samples + 1
        )
    if current is not None:
        found.append(current)
    return found


def merge(found: Iterable[Excursion], within: timedelta) -> list[Excursion]:
    """Excursions (of any streams) overlapping or closer than ``within``, joined."""
    merged: list[Excursion] = []
    for e in sorted(found, key=lambda x: x.start):
        if merged and e.start - merged[-1].stop <= within:
            prev = merged[-1]
            later = e if e.stop >= prev.stop else prev
            worse = e.bound == prev.bound and (
                e.peak > prev.peak if e.bound == "max" else e.peak < prev.peak
            )
            worst = e if worse else prev
            merged[-1] = Excursion(
                start=prev.start,
                end=later.end,
                last=max(prev.last, e.last),
                bound=worst.bound,
                limit=worst.limit,
                peak=worst.peak,
                samples=prev.samples + e.samples,
            )
        else:
            merged.append(e)
    return merged


def excursions(
    samples: Sequence[Sample],
    limits: Limits,
    *,
    hysteresis: float,
    min_duration: timedelta,
    merge_within: timedelta = timedelta(0),
) -> list[Excursion]:
    """The excursions of one stream (samples in time order) lasting ``min_duration`` or more."""
    if limits.empty:
        return []
    if hysteresis < 0:
        raise ValueError(f"expected hysteresis >= 0, got {hysteresis}")
    joined = merge(_raw(samples, limits, hysteresis), merge_within)
    return [e for e in joined if e.duration >= min_duration]


def excursion_condition(
    tenant_id: str,
    site_id: str,
    metric: str,
    excursion: Excursion,
    *,
    critical_after: timedelta,
    streams: Sequence[str] = (),
) -> Condition:
    """The alert condition of a site's latest excursion on ``metric``."""
    unit = "°C" if metric == "temperature_c" else "%"
    word = "above" if excursion.bound == "max" else "below"
    state = "ongoing" if excursion.end is None else f"ended {excursion.end.isoformat()}"
    minutes = excursion.duration.total_seconds() / 60
    return Condition(
        kind=AlertKind.EXCURSION,
        tenant_id=tenant_id,
        site_id=site_id,
        key=f"{site_id}:{metric}",
        severity=Severity.CRITICAL if excursion.duration >= critical_after else Severity.WARNING,
        since=excursion.start,
        cleared_at=excursion.end,
        summary=(
            f"{site_id}: {metric} {word} {excursion.limit:g}{unit} for {minutes:.0f} min "
            f"(worst {excursion.peak:g}{unit}, {state})"
        ),
        details={
            "metric": metric,
            "bound": excursion.bound,
            "limit": excursion.limit,
            "peak": excursion.peak,
            "start": excursion.start.isoformat(),
            "end": None if excursion.end is None else excursion.end.isoformat(),
            "duration_s": excursion.duration.total_seconds(),
            "samples": excursion.samples,
        },
        evidence=[{"stream": s} for s in streams],
    )
