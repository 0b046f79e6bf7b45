"""Simulated stock flows: scans, custody events, counts and shrinkage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from firmware_sim.devices.stock import CATALOGUE, SimScanner, gtin14
from wire import ScanEvent, StockBatch, StockCount

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


def hour(scanner: SimScanner) -> list[object]:
    return [i for s in range(3600) for i in scanner.poll(T0 + timedelta(seconds=s))]


def test_gtins_have_valid_check_digits() -> None:
    assert gtin14("950600", "013435") == "09506000134352"  # GS1's own example number
    assert all(len(p.gtin) == 14 for products in CATALOGUE.values() for p in products)


def test_flows_are_seedable_and_time_based() -> None:
    a = hour(SimScanner("dock-1", seed=7, scans_per_min=30))
    assert a == hour(SimScanner("dock-1", seed=7, scans_per_min=30))
    scans = [i for i in a if isinstance(i, ScanEvent)]
    assert 900 < len(scans) < 2700  # about 30 a minute
    assert {s.direction for s in scans} == {"in", "out"}
    assert all(s.ts <= T0 + timedelta(hours=1) for s in scans)


def test_book_matches_scans_and_counts_show_shrinkage() -> None:
    scanner = SimScanner("dock-1", profile="dairy", seed=3, scans_per_min=20, count_interval_s=600)
    items = [i for d in range(0, 3 * 86_400, 5) for i in scanner.poll(T0 + timedelta(seconds=d))]
    scans = [i for i in items if isinstance(i, ScanEvent)]
    counts = [i for i in items if isinstance(i, StockCount)]
    for product in scanner.products:
        moved = sum(1 if s.direction == "in" else -1 for s in scans if s.gtin == product.gtin)
        assert scanner.book[product.gtin] == 20 + moved
    assert scanner.shrunk > 0
    assert sum(scanner.book.values()) - sum(len(u) for u in scanner.units.values()) == (
        scanner.shrunk
    )
    assert {c.gtin for c in counts} == {p.gtin for p in scanner.products}


def test_custody_events_name_the_scanned_units() -> None:
    items = hour(SimScanner("dock-2", seed=1, scans_per_min=10, site="wh-sh-01"))
    events = [i for i in items if isinstance(i, dict)]
    scans = {i.code for i in items if isinstance(i, ScanEvent)}
    assert events
    assert {e["bizStep"] for e in events} <= {"receiving", "shipping"}
    assert {code for e in events for code in e["epcList"]} == scans


def test_output_fits_the_wire_models() -> None:
    items = hour(SimScanner("dock-1", seed=2, scans_per_min=30, count_interval_s=900))
    stock = [i for i in items if isinstance(i, ScanEvent | StockCount)]
    batch = StockBatch(
        sent_at=T0,
        scans=[i for i in stock if isinstance(i, ScanEvent)],
        counts=[i for i in stock if isinstance(i, StockCount)],
    )
    assert StockBatch.model_validate_json(batch.model_dump_json()) == batch


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        SimScanner("d", profile="caviar")
    with pytest.raises(ValueError, match="positive"):
        SimScanner("d", scans_per_min=0)
