from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.provenance.coldchain import (
    Reading,
    StorageProfile,
    exposure,
    mean_kinetic_temperature,
    sensor_element,
)
from cloud.provenance.custody import CustodyInterval, compute_custody
from cloud.provenance.epcis import event_issues
from cloud.provenance.errors import ColdChainError
from wire.epc import canonical_epc

from ._events import DC_A, FACTORY, T0, UNITS, normalised, object_event, supply_chain

PROFILE = StorageProfile(2.0, 8.0, max_gap=timedelta(minutes=15))


def series(start_min: int, values: list[float], step: int = 10) -> list[Reading]:
    return [Reading(T0 + timedelta(minutes=start_min + i * step), v) for i, v in enumerate(values)]


def test_mkt_reference_values() -> None:
    assert mean_kinetic_temperature([(25.0, 1.0)]) == pytest.approx(25.0)
    # Equal time at 20 °C and 30 °C, by hand: ln((e^-34.1122 + e^-32.9870) / 2) = -33.3991,
    # 10000 / 33.3991 = 299.41 K = 26.26 °C (above the 25 °C arithmetic mean, as it must be).
    assert mean_kinetic_temperature([(20.0, 1), (30.0, 1)]) == pytest.approx(26.26, abs=0.01)
    with pytest.raises(ColdChainError, match="at least one sample"):
        mean_kinetic_temperature([])


@given(st.lists(st.tuples(st.floats(-30, 60), st.floats(0.1, 100)), min_size=1, max_size=30))
def test_mkt_lies_between_mean_and_max(samples: list[tuple[float, float]]) -> None:
    mkt = mean_kinetic_temperature(samples)
    mean = sum(c * w for c, w in samples) / sum(w for _, w in samples)
    assert mean - 1e-6 <= mkt <= max(c for c, _ in samples) + 1e-6


def test_time_weighted_exposure_with_a_gap() -> None:
    interval = CustodyInterval(DC_A, T0, T0 + timedelta(minutes=120))
    # 0..60 min: readings every 10 min; 60..120: silence (one reading held at most 15 min).
    readings = {DC_A: series(0, [5, 5, 9, 9, 5, 1, 5])}
    result = exposure([interval], readings, PROFILE, until=T0 + timedelta(days=1))
    assert result.total_minutes == 120
    assert result.covered_minutes == 75  # 6 × 10 min + last reading held 15 min
    assert result.coverage == pytest.approx(75 / 120)
    assert result.minutes_above == 20
    assert result.minutes_below == 10
    assert result.minutes_outside == 30
    assert result.min_celsius == 1
    assert result.max_celsius == 9
    assert result.mean_celsius == pytest.approx((5 * 10 * 2 + 9 * 20 + 1 * 10 + 5 * 25) / 75)
    assert result.mkt_celsius is not None
    assert result.mean_celsius is not None
    assert result.mkt_celsius > result.mean_celsius


def test_no_data_is_not_in_range() -> None:
    interval = CustodyInterval(None, T0, T0 + timedelta(hours=5))  # in transit, no logger
    result = exposure([interval], {}, PROFILE, until=T0)
    assert result.covered_minutes == 0
    assert result.coverage == 0
    assert result.minutes_outside == 0
    assert result.mean_celsius is None
    assert sensor_element(result) == []
    with_logger = exposure(
        [interval], {"reefer-1": series(0, [4] * 30)}, PROFILE, until=T0, transit_key="reefer-1"
    )
    assert with_logger.coverage == 1


def test_custody_joined_with_site_readings() -> None:
    events = normalised(supply_chain()[:5])
    unit = compute_custody(events)[canonical_epc(UNITS[0])]
    readings = {
        FACTORY: series(0, [4.0] * 18, step=10),  # 3 h at 4 °C
        DC_A: series(27 * 60, [6.0] * 6 * 12, step=10),  # 12 h at 6 °C
    }
    result = exposure(unit.intervals, readings, PROFILE, until=T0 + timedelta(hours=39))
    assert result.total_minutes == 39 * 60
    assert result.covered_minutes == 15 * 60  # 24 h in transit uncovered
    assert result.minutes_outside == 0


def test_sensor_element_validates_on_a_shipping_event() -> None:
    interval = CustodyInterval(DC_A, T0, T0 + timedelta(minutes=60))
    result = exposure([interval], {DC_A: series(0, [5, 6, 7, 9, 4, 5])}, PROFILE, until=T0)
    fragment = sensor_element(result, device_id="urn:epc:id:giai:9506000.1")
    event = object_event(2, UNITS, "OBSERVE", "shipping", sensorElementList=fragment)
    assert event_issues(event) == ()
    report = fragment[0]["sensorReport"]
    assert report[0]["minValue"] == 4
    assert report[0]["maxValue"] == 9
    assert math.isclose(report[1]["value"], round(result.mkt_celsius or 0, 3))


def test_invalid_profiles_and_intervals() -> None:
    with pytest.raises(ColdChainError, match="below maximum"):
        StorageProfile(8, 2)
    with pytest.raises(ColdChainError, match="no custody intervals"):
        exposure([], {}, PROFILE, until=T0)
    backwards = CustodyInterval(DC_A, T0, T0 - timedelta(minutes=1))
    with pytest.raises(ColdChainError, match="ends before"):
        exposure([backwards], {}, PROFILE, until=T0)
