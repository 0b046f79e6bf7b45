"""Cold-chain exposure of a unit: its custody intervals joined with each site's readings.

Readings are held (sample-and-hold) until the next reading, but never longer than the
profile's ``max_gap``: beyond that the time is *uncovered*, counted neither in range nor out
of range, and reported as coverage. Minutes outside the storage profile, min/max/mean and
the mean kinetic temperature (USP <1079>, ΔH/R = 10 000 K by default) are time-weighted
over covered time only. In-transit intervals (site ``None``) are uncovered unless the caller
names a reading series for them with ``transit_key`` (e.g. the reefer's logger).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.provenance.custody import CustodyInterval
from cloud.provenance.errors import ColdChainError

__all__ = [
    "DEFAULT_DH_R",
    "MKT_METHOD",
    "Exposure",
    "Reading",
    "StorageProfile",
    "combine",
    "exposure",
    "mean_kinetic_temperature",
    "sensor_element",
]

_logger = logging.getLogger(__name__)

DEFAULT_DH_R = 10_000.0  # ΔH/R in kelvin (ΔH = 83.144 kJ/mol), USP <1079>
KELVIN = 273.15
#: Names the processing method of the MKT sensor report (a URN: not a GS1 vocabulary term).
MKT_METHOD = "urn:channeltrace:method:mean-kinetic-temperature"


@dataclass(frozen=True, slots=True)
class Reading:
    time: datetime
    celsius: float


@dataclass(frozen=True, slots=True)
class StorageProfile:
    """The product's storage range in °C and the longest a reading stays valid."""

    min_celsius: float
    max_celsius: float
    max_gap: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if not self.min_celsius < self.max_celsius:
            raise ColdChainError(
                f"profile minimum {self.min_celsius} °C must be below maximum {self.max_celsius}"
            )
        if self.max_gap <= timedelta(0):
            raise ColdChainError("max_gap must be positive")


@dataclass(frozen=True, slots=True)
class Exposure:
    start: datetime
    end: datetime
    total_minutes: float
    covered_minutes: float
    minutes_below: float
    minutes_above: float
    min_celsius: float | None
    max_celsius: float | None
    mean_celsius: float | None
    mkt_celsius: float | None

    @property
    def coverage(self) -> float:
        return 0.0 if self.total_minutes == 0 else self.covered_minutes / self.total_minutes

    @property
    def minutes_outside(self) -> float:
        return self.minutes_below + self.minutes_above


def mean_kinetic_temperature(
    samples: Sequence[tuple[float, float]], dh_r: float = DEFAULT_DH_R
) -> float:
    """MKT in °C of ``(celsius, weight)`` samples: ΔH/R ÷ −ln(Σ wᵢ·e^(−ΔH/RTᵢ) / Σ wᵢ) − 273.15."""
    total = sum(w for _, w in samples)
    if not samples or total <= 0:
        raise ColdChainError("MKT needs at least one sample with positive weight")
    acc = sum(w * math.exp(-dh_r / (c + KELVIN)) for c, w in samples)
    return dh_r / -math.log(acc / total) - KELVIN


def _segments(
    readings: Sequence[Reading], start: datetime, end: datetime, max_gap: timedelta
) -> list[tuple[float, float]]:
    """``(celsius, minutes)`` of covered time within [start, end)."""
    out: list[tuple[float, float]] = []
    ordered = sorted(readings, key=lambda r: r.time)
    for i, reading in enumerate(ordered):
        valid_until = reading.time + max_gap
        if i + 1 < len(ordered):
            valid_until = min(valid_until, ordered[i + 1].time)
        lo, hi = max(reading.time, start), min(valid_until, end)
        if hi > lo:
            out.append((reading.celsius, (hi - lo).total_seconds() / 60))
    return out


def exposure(
    intervals: Sequence[CustodyInterval],
    readings: Mapping[str, Sequence[Reading]],
    profile: StorageProfile,
    *,
    until: datetime,
    transit_key: str | None = None,
    dh_r: float = DEFAULT_DH_R,
) -> Exposure:
    """Exposure over ``intervals`` (an open interval ends at ``until``)."""
    if not intervals:
        raise ColdChainError("no custody intervals: nothing to compute exposure over")
    segments: list[tuple[float, float]] = []
    total = 0.0
    for interval in intervals:
        end = interval.end or until
        if end < interval.start:
            raise ColdChainError(f"custody interval ends before it starts: {interval}")
        total += (end - interval.start).total_seconds() / 60
        key = interval.site if interval.site is not None else transit_key
        series = readings.get(key, ()) if key is not None else ()
        segments.extend(_segments(series, interval.start, end, profile.max_gap))
    covered = sum(m for _, m in segments)
    values = [c for c, _ in segments]
    return Exposure(
        start=min(i.start for i in intervals),
        end=max(i.end or until for i in intervals),
        total_minutes=total,
        covered_minutes=covered,
        minutes_below=sum(m for c, m in segments if c < profile.min_celsius),
        minutes_above=sum(m for c, m in segments if c > profile.max_celsius),
        min_celsius=min(values) if values else None,
        max_celsius=max(values) if values else None,
        mean_celsius=sum(c * m for c, m in segments) / covered if covered else None,
        mkt_celsius=mean_kinetic_temperature(segments, dh_r) if covered else None,
    )


def combine(parts: Sequence[Exposure], dh_r: float = DEFAULT_DH_R) -> Exposure | None:
    """The exposure over several disjoint periods from each period's exposure (exact:
    minutes add up, the mean is covered-time weighted, and the MKT's sum of weights
    e^(-ΔH/RT) is recovered from each period's MKT)."""
    if not parts:
        return None
    covered = sum(p.covered_minutes for p in parts)
    measured = [p for p in parts if p.covered_minutes > 0 and p.mean_celsius is not None]
    lows = [p.min_celsius for p in measured if p.min_celsius is not None]
    highs = [p.max_celsius for p in measured if p.max_celsius is not None]
    mean = mkt = None
    if covered > 0 and measured:
        mean = sum((p.mean_celsius or 0.0) * p.covered_minutes for p in measured) / covered
        acc = sum(
            p.covered_minutes * math.exp(-dh_r / ((p.mkt_celsius or 0.0) + KELVIN))
            for p in measured
        )
        mkt = dh_r / -math.log(acc / covered) - KELVIN
    return Exposure(
        start=min(p.start for p in parts),
        end=max(p.end for p in parts),
        total_minutes=sum(p.total_minutes for p in parts),
        covered_minutes=covered,
        minutes_below=sum(p.minutes_below for p in parts),
        minutes_above=sum(p.minutes_above for p in parts),
        min_celsius=min(lows) if lows else None,
        max_celsius=max(highs) if highs else None,
        mean_celsius=mean,
        mkt_celsius=mkt,
    )


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sensor_element(
    result: Exposure, device_id: str | None = None, dh_r: float = DEFAULT_DH_R
) -> list[dict[str, Any]]:
    """An EPCIS 2.0 ``sensorElementList`` summarising ``result`` (for a shipping event).

    One report with min/max/mean temperature, one with the MKT; empty when no reading
    covered the period (EPCIS has no way to say "no data" in a sensor report).
    """
    low, high, mean, mkt_value = (
        result.min_celsius,
        result.max_celsius,
        result.mean_celsius,
        result.mkt_celsius,
    )
    if low is None or high is None or mean is None or mkt_value is None:
        return []
    metadata: dict[str, Any] = {"startTime": _time(result.start), "endTime": _time(result.end)}
    if device_id is not None:
        metadata["deviceID"] = device_id
    stats = {
        "type": "Temperature",
        "minValue": round(low, 3),
        "maxValue": round(high, 3),
        "meanValue": round(mean, 3),
        "uom": "CEL",
    }
    mkt = {
        "type": "Temperature",
        "value": round(mkt_value, 3),
        "uom": "CEL",
        "dataProcessingMethod": f"{MKT_METHOD}:dh-r-{dh_r:g}K",
    }
    return [{"sensorMetadata": metadata, "sensorReport": [stats, mkt]}]
