"""Fault injection and clock skew of the simulator."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from firmware_sim.devices.faults import FaultRates, FaultState, SkewedClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_no_rates_no_faults() -> None:
    state = FaultState(FaultRates(), random.Random(1))
    assert [state.apply(float(t), 5.0) for t in range(100)] == [(5.0, None)] * 100


def test_stuck_probe_repeats_its_last_value() -> None:
    state = FaultState(FaultRates(stuck_per_h=3600, stuck_s=50), random.Random(2))
    out = [state.apply(float(t), float(t)) for t in range(30)]
    repeated = [v for (v, _), t in zip(out, range(30), strict=True) if v is not None and v < t]
    assert repeated  # values lag behind the true, rising value


def test_drift_grows_with_time() -> None:
    state = FaultState(FaultRates(drift_per_h=1e6, drift_per_day=86_400), random.Random(3))
    first = state.apply(0.0, 0.0)[0]
    state.apply(1.0, 0.0)
    later = state.apply(100.0, 0.0)[0]
    assert first is not None
    assert later is not None
    assert later > first + 50


def test_nan_becomes_a_fault_and_dropout_gives_nothing() -> None:
    nan = FaultState(FaultRates(nan_per_h=1e9), random.Random(4))
    nan.apply(0.0, 1.0)
    assert nan.apply(1.0, 1.0) == (None, "nan")
    drop = FaultState(FaultRates(dropout_per_h=1e9, dropout_s=100), random.Random(5))
    drop.apply(0.0, 1.0)
    assert drop.apply(1.0, 1.0) == (None, None)
    assert drop.apply(2.0, 1.0) == (None, None)  # lasts a while


def test_skewed_clock_offsets_and_drifts() -> None:
    now = [T0]
    clock = SkewedClock(lambda: now[0], offset_s=-90.0, drift_ppm=100.0, epoch=T0)
    assert clock() == T0 - timedelta(seconds=90)
    now[0] = T0 + timedelta(days=1)
    assert clock() == now[0] - timedelta(seconds=90) + timedelta(seconds=8.64)
