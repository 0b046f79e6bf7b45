"""Simulated stock flows at a warehouse dock: receiving, picking, shipping, counts, shrinkage.

`SimScanner` is a seedable, time-based process (like a scanner driver, it is polled with
the current time) that keeps a book of units per product and produces:

- ``in`` scans when a delivery is received and ``out`` scans when an order is picked and
  shipped, one per unit, each unit with its own GS1 Digital Link code;
- optionally an EPCIS 2.0 ``ObjectEvent`` per delivery or shipment (custody events);
- periodic `StockCount` cycle counts, which show *shrinkage*: units that leave without a
  scan (theft, breakage, mis-picks) are missing from the count but not from the book.

Products carry the storage profile of the room (wine, dairy, ...).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from wire import ScanEvent, StockCount
from wire.gs1 import Gtin

__all__ = ["CATALOGUE", "Product", "SimScanner", "gtin14"]

_OPS_PER_SCAN = 1 / 4.0  # a delivery or order moves about four units on average
_SHRINK_PER_UNIT_DAY = 0.01  # about 1 % of units per day: visible in a demo


def gtin14(company: str, item: str) -> str:
    """A GTIN-14 (indicator 0) from a company prefix and item reference (12 digits)."""
    return Gtin.from_parts("0", company, item).value


@dataclass(frozen=True, slots=True)
class Product:
    gtin: str
    name: str
    profile: str


CATALOGUE: dict[str, tuple[Product, ...]] = {
    "wine": (
        Product(gtin14("950600", "013435"), "Cabernet 2019 0.75 l", "wine"),
        Product(gtin14("950600", "013436"), "Chardonnay 2021 0.75 l", "wine"),
        Product(gtin14("950600", "013437"), "Baijiu 52% 0.5 l", "wine"),
    ),
    "dairy": (
        Product(gtin14("950601", "000101"), "Fresh milk 1 l", "dairy"),
        Product(gtin14("950601", "000102"), "Yoghurt 4x125 g", "dairy"),
    ),
    "pharma": (Product(gtin14("950602", "000201"), "Insulin pen 5x3 ml", "pharma"),),
    "frozen": (Product(gtin14("950603", "000301"), "Dumplings 1 kg", "frozen"),),
    "ambient": (
        Product(gtin14("950604", "000401"), "Infant formula 800 g", "ambient"),
        Product(gtin14("950604", "000402"), "Green tea 250 g", "ambient"),
    ),
}


class SimScanner:
    """A dock scanner and the stock flow it sees; poll it with the current time."""

    def __init__(
        self,
        reader_id: str,
        *,
        profile: str = "wine",
        seed: int = 0,
        scans_per_min: float = 6.0,
        count_interval_s: float = 3600.0,
        custody_events: bool = True,
        site: str = "site",
        code_host: str = "id.example.com",
    ) -> None:
        if profile not in CATALOGUE:
            raise ValueError(f"unknown profile {profile!r}; expected one of {sorted(CATALOGUE)}")
        if scans_per_min <= 0 or count_interval_s <= 0:
            raise ValueError("scans_per_min and count_interval_s must be positive")
        self.reader_id = reader_id
        self.products = CATALOGUE[profile]
        self._rng = random.Random(seed)
        self._ops_per_s = scans_per_min * _OPS_PER_SCAN / 60.0
        self._count_interval = count_interval_s
        self._custody = custody_events
        self._site = site
        self._host = code_host
        self._serial = seed * 1_000_000
        # Book stock and the units physically present (serials), per GTIN.
        self.units: dict[str, list[str]] = {p.gtin: [] for p in self.products}
        self.book: dict[str, int] = {p.gtin: 0 for p in self.products}
        self._next_op: datetime | None = None
        self._next_count: datetime | None = None
        self._last: datetime | None = None
        self.scans = self.events = self.counts = self.shrunk = 0

    def _code(self, gtin: str) -> str:
        self._serial += 1
        return f"https://{self._host}/01/{gtin}/21/SN{self._serial:010d}"

    def poll(self, now: datetime) -> list[ScanEvent | StockCount | dict[str, Any]]:
        out: list[ScanEvent | StockCount | dict[str, Any]] = []
        if self._last is None:
            self._last = now
            self._next_op = now + self._wait()
            self._next_count = now + timedelta(seconds=self._count_interval)
            for product in self.products:  # opening stock, already on the shelves
                self.units[product.gtin] = [self._code(product.gtin) for _ in range(20)]
                self.book[product.gtin] = 20
            return out
        assert self._next_op is not None
        assert self._next_count is not None
        self._shrink((now - self._last).total_seconds())
        self._last = now
        while self._next_op <= now:
            out.extend(self._operation(self._next_op))
            self._next_op += self._wait()
        while self._next_count <= now:
            out.extend(self._count(self._next_count))
            self._next_count += timedelta(seconds=self._count_interval)
        return out

    def _wait(self) -> timedelta:
        return timedelta(seconds=self._rng.expovariate(self._ops_per_s))

    def _operation(self, ts: datetime) -> list[ScanEvent | dict[str, Any]]:
        product = self._rng.choice(self.products)
        gtin = product.gtin
        size = 1 + min(50, int(self._rng.expovariate(1 / 3.0)))
        # Receive when low, otherwise ship three times out of five.
        receiving = len(self.units[gtin]) < size or self._rng.random() < 0.4
        if receiving:
            codes = [self._code(gtin) for _ in range(size)]
            self.units[gtin].extend(codes)
            self.book[gtin] += size
        else:
            codes = [self.units[gtin].pop(0) for _ in range(size)]
            self.book[gtin] -= size
        direction: Literal["in", "out"] = "in" if receiving else "out"
        scans: list[ScanEvent | dict[str, Any]] = [
            ScanEvent(ts=ts, code=code, direction=direction, reader=self.reader_id, gtin=gtin)
            for code in codes
        ]
        self.scans += len(codes)
        if self._custody:
            scans.append(self._epcis(ts, codes, "receiving" if receiving else "shipping"))
            self.events += 1
        return scans

    def _epcis(self, ts: datetime, codes: list[str], step: str) -> dict[str, Any]:
        return {
            "type": "ObjectEvent",
            "eventTime": ts.isoformat().replace("+00:00", "Z"),
            "eventTimeZoneOffset": "+00:00",
            "epcList": codes,
            "action": "OBSERVE",
            "bizStep": step,
            "disposition": "in_progress" if step == "shipping" else "in_possession",
            "readPoint": {"id": f"urn:epc:id:sgln:{self._site}.{self.reader_id}"},
        }

    def _shrink(self, dt: float) -> None:
        for units in self.units.values():
            expected = len(units) * _SHRINK_PER_UNIT_DAY * dt / 86_400
            if units and self._rng.random() < 1 - math.exp(-expected):
                units.pop(self._rng.randrange(len(units)))  # gone, and nobody scanned it
                self.shrunk += 1

    def _count(self, ts: datetime) -> list[StockCount]:
        self.counts += len(self.units)
        return [
            StockCount(ts=ts, gtin=gtin, quantity=len(units), location=self.reader_id)
            for gtin, units in self.units.items()
        ]
