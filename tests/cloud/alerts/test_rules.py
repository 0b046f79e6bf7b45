"""Rule cores for stock, devices, gaps, scan suspicions and the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.alerts.model import AlertKind, Condition, Severity
from cloud.alerts.rules import devices, ledger, scans, stock

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
GTIN = "09506000134352"


def test_totals_sum_the_latest_count_of_each_point() -> None:
    counts = [
        stock.Count(NOW, "d/A", 10),
        stock.Count(NOW, "d/B", 5),
        stock.Count(NOW + timedelta(hours=1), "d/A", 7),
    ]
    assert stock.totals(counts) == [(NOW, 15), (NOW + timedelta(hours=1), 12)]


def test_forecast_fits_a_falling_line() -> None:
    points = [(NOW + timedelta(hours=h), 100 - 10 * h) for h in range(5)]
    f = stock.forecast(points)
    assert f is not None
    assert f.quantity == 60
    assert f.per_hour == pytest.approx(-10)
    assert f.zero_at == NOW + timedelta(hours=10)
    assert stock.forecast(points[:2]) is None  # too few points
    rising = stock.forecast([(NOW + timedelta(hours=h), 10 + h) for h in range(5)])
    assert rising is not None
    assert rising.zero_at is None


def test_stockout_within_the_horizon_only() -> None:
    f = stock.Forecast(60, -10.0, NOW + timedelta(hours=6))
    c = stock.stockout_condition(
        "brand", "wh", GTIN, f, now=NOW, horizon=timedelta(hours=72), since=NOW
    )
    assert c is not None
    assert c.kind is AlertKind.STOCKOUT_FORECAST
    assert c.severity is Severity.CRITICAL
    assert c.key == f"wh:{GTIN}"
    far = stock.Forecast(60, -0.1, NOW + timedelta(days=25))
    assert (
        stock.stockout_condition(
            "brand", "wh", GTIN, far, now=NOW, horizon=timedelta(hours=72), since=NOW
        )
        is None
    )


def test_low_stock_at_or_below_threshold() -> None:
    assert stock.low_stock_condition("brand", "wh", GTIN, NOW, 11, 10) is None
    low = stock.low_stock_condition("brand", "wh", GTIN, NOW, 10, 10)
    out = stock.low_stock_condition("brand", "wh", GTIN, NOW, 0, 10)
    assert low is not None
    assert low.severity is Severity.WARNING
    assert out is not None
    assert out.severity is Severity.CRITICAL


def device(status: str, seen: datetime | None) -> devices.DeviceRow:
    return devices.DeviceRow("brand", "wh", "gw-1", status, seen)


def test_offline_from_death_message_or_silence() -> None:
    timeout = timedelta(minutes=3)
    dead = devices.offline_condition(device("offline", NOW), now=NOW, timeout=timeout)
    assert dead is not None
    assert "death message" in dead.summary
    assert dead.key == "gw-1"
    silent = devices.offline_condition(
        device("online", NOW - timedelta(minutes=4)), now=NOW, timeout=timeout
    )
    assert silent is not None
    assert silent.since == NOW - timedelta(minutes=4)
    fine = device("online", NOW - timedelta(minutes=2))
    assert devices.offline_condition(fine, now=NOW, timeout=timeout) is None
    assert devices.offline_condition(device("registered", None), now=NOW, timeout=timeout) is None
    assert devices.offline_condition(device("retired", NOW), now=NOW, timeout=timeout) is None


def test_gaps_after_grace_and_not_evicted() -> None:
    old = NOW - timedelta(hours=1)
    rows = [
        devices.GapRow("brand", "wh", "gw-1", 5, 9, 5, old),
        devices.GapRow("brand", "wh", "gw-1", 20, 21, 0, old),  # all evicted on purpose
        devices.GapRow("brand", "wh", "gw-2", 3, 3, 1, NOW),  # too recent
    ]
    (c,) = devices.gap_conditions(rows, now=NOW, grace=timedelta(minutes=15))
    assert c.key == "gw-1"
    assert c.details["lost_seqs"] == 5
    assert len(c.evidence) == 1


def scan(verdict: str, minutes: int, serial: str = "S1") -> scans.SuspectScan:
    return scans.SuspectScan(
        "brand", NOW + timedelta(minutes=minutes), GTIN, "L1", serial, verdict, "why", "CN-44"
    )


def test_suspicions_one_per_code_and_verdict_since_latest_scan() -> None:
    found = scans.suspicion_conditions(
        [
            scan("suspected_clone", 0),
            scan("suspected_clone", 5),
            scan("suspected_diversion", 1, "S2"),
            scan("genuine", 2, "S3"),
        ]
    )
    kinds = {(c.kind, c.key) for c in found}
    assert kinds == {(AlertKind.CLONE, f"{GTIN}/S1"), (AlertKind.DIVERSION, f"{GTIN}/S2")}
    clone = next(c for c in found if c.kind is AlertKind.CLONE)
    assert clone.since == NOW + timedelta(minutes=5)
    assert clone.details["scans"] == 2


def test_ledger_audit_findings_fan_out_to_tenants() -> None:
    run = ledger.AuditRun(NOW, 10, [{"kind": "corrupt", "index": 3, "detail": "x"}], NOW)
    found = ledger.audit_conditions(run, ["a", "b"])
    assert [c.tenant_id for c in found] == ["a", "b"]
    assert all(c.kind is AlertKind.LEDGER_AUDIT for c in found)
    assert ledger.audit_conditions(ledger.AuditRun(NOW, 10, [], NOW), ["a"]) == []
    assert ledger.audit_conditions(None, ["a"]) == []


def test_anchoring_stalled_when_unanchored_too_long_or_pending_stuck() -> None:
    kw = {
        "now": NOW,
        "anchor_interval": timedelta(minutes=1),
        "missed_intervals": 5,
        "pending_after": timedelta(minutes=15),
    }
    fresh = ledger.AnchorState(8, (10, NOW - timedelta(minutes=2)), None)
    assert ledger.anchoring_conditions(fresh, ["a"], **kw) == []  # type: ignore[arg-type]
    late = ledger.AnchorState(8, (10, NOW - timedelta(minutes=6)), None)
    (c,) = ledger.anchoring_conditions(late, ["a"], **kw)  # type: ignore[arg-type]
    assert c.kind is AlertKind.ANCHORING_STALLED
    assert "checkpoint 10" in c.summary
    stuck = ledger.AnchorState(8, None, (10, NOW - timedelta(minutes=20)))
    (p,) = ledger.anchoring_conditions(stuck, ["a"], **kw)  # type: ignore[arg-type]
    assert "pending" in p.summary


def test_condition_validates() -> None:
    with pytest.raises(ValueError, match="tenant and a key"):
        Condition(AlertKind.CLONE, "", "k", Severity.INFO, NOW)
    with pytest.raises(ValueError, match="before since"):
        Condition(AlertKind.CLONE, "t", "k", Severity.INFO, NOW, cleared_at=NOW - timedelta(1))
