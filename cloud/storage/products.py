"""Products (GTIN-14 with storage profile) and distributors (authorised sales regions).

The database checks that a GTIN is 14 digits; the GS1 check digit is checked here
(:class:`wire.gs1.Gtin`, raising :class:`wire.errors.IdentifierError`), before anything is
written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from cloud.errors import StorageError
from wire.gs1 import Gtin

__all__ = ["Distributor", "Product", "save_distributor", "save_product"]


def _check_range(what: str, lo: float | None, hi: float | None) -> None:
    if lo is not None and hi is not None and lo > hi:
        raise StorageError(f"{what}: expected min <= max, got {lo} > {hi}")


@dataclass(frozen=True, slots=True)
class Product:
    tenant_id: str
    gtin: str
    name: str
    temp_min_c: float | None = None
    temp_max_c: float | None = None
    humidity_min_pct: float | None = None
    humidity_max_pct: float | None = None

    def __post_init__(self) -> None:
        Gtin(self.gtin)  # 14 digits with a valid check digit, else IdentifierError
        if not self.name.strip():
            raise StorageError(f"product {self.gtin}: expected a name")
        _check_range(f"product {self.gtin} temperature", self.temp_min_c, self.temp_max_c)
        _check_range(f"product {self.gtin} humidity", self.humidity_min_pct, self.humidity_max_pct)
        for value in (self.humidity_min_pct, self.humidity_max_pct):
            if value is not None and not 0 <= value <= 100:
                raise StorageError(f"product {self.gtin}: humidity {value} outside 0..100 %")


@dataclass(frozen=True, slots=True)
class Distributor:
    tenant_id: str
    id: str
    name: str
    regions: tuple[str, ...] = field(default_factory=tuple)
    parent_id: str | None = None

    def __post_init__(self) -> None:
        if any(not r.strip() for r in self.regions):
            raise StorageError(f"distributor {self.id}: empty region code in {self.regions!r}")
        if self.parent_id == self.id:
            raise StorageError(f"distributor {self.id} cannot buy from itself")


def save_product(conn: psycopg.Connection[Any], product: Product) -> None:
    """Insert or update a product (by tenant and GTIN)."""
    conn.execute(
        "INSERT INTO products (tenant_id, gtin, name, temp_min_c, temp_max_c,"
        " humidity_min_pct, humidity_max_pct) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, gtin) DO UPDATE SET name = excluded.name,"
        " temp_min_c = excluded.temp_min_c, temp_max_c = excluded.temp_max_c,"
        " humidity_min_pct = excluded.humidity_min_pct,"
        " humidity_max_pct = excluded.humidity_max_pct",
        (
            product.tenant_id,
            product.gtin,
            product.name,
            product.temp_min_c,
            product.temp_max_c,
            product.humidity_min_pct,
            product.humidity_max_pct,
        ),
    )


def save_distributor(conn: psycopg.Connection[Any], distributor: Distributor) -> None:
    """Insert or update a distributor and its authorised sales regions."""
    conn.execute(
        "INSERT INTO distributors (tenant_id, id, name, regions, parent_id)"
        " VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name,"
        " regions = excluded.regions, parent_id = excluded.parent_id",
        (
            distributor.tenant_id,
            distributor.id,
            distributor.name,
            list(distributor.regions),
            distributor.parent_id,
        ),
    )
