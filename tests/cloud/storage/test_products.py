"""Product and distributor validation (pure), and saving them. (GTIN check digits: the one
GS1 implementation, tests/wire/test_gs1.py.)"""

from __future__ import annotations

import psycopg
import pytest

from cloud.errors import StorageError
from cloud.migrate import migrate
from cloud.storage.products import Distributor, Product, save_distributor, save_product
from wire.errors import IdentifierError


def test_product_profile_ranges_are_checked() -> None:
    with pytest.raises(IdentifierError, match="check digit 3; expected 2"):
        Product("brand", "00012345600013", "Wine")
    with pytest.raises(StorageError, match="min <= max"):
        Product("brand", "10614141000415", "Wine", temp_min_c=18, temp_max_c=12)
    with pytest.raises(StorageError, match=r"outside 0\.\.100"):
        Product("brand", "10614141000415", "Wine", humidity_min_pct=-1)
    with pytest.raises(StorageError, match="itself"):
        Distributor("brand", "d1", "D1", parent_id="d1")


@pytest.mark.integration
def test_products_and_distributors_are_saved(database_url: str) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES ('brand', 'Brand')")
        save_product(conn, Product("brand", "10614141000415", "Wine", 12.0, 18.0, 50.0, 75.0))
        save_product(conn, Product("brand", "10614141000415", "Red wine", 12.0, 16.0))
        save_distributor(conn, Distributor("brand", "big", "Big", ("CN-31", "CN-32")))
        save_distributor(conn, Distributor("brand", "small", "Small", ("CN-31",), "big"))
        conn.execute(
            "INSERT INTO sites (tenant_id, id, name, region, distributor_id)"
            " VALUES ('brand', 'wh', 'WH', 'CN-31', 'small')"
        )
        assert conn.execute("SELECT name, temp_max_c FROM products").fetchall() == [
            ("Red wine", 16.0)
        ]
        authorised = conn.execute(
            "SELECT s.id FROM sites s JOIN distributors d USING (tenant_id)"
            " WHERE d.id = s.distributor_id AND s.region = ANY (d.regions)"
        ).fetchall()
        assert authorised == [("wh",)]
        # The database refuses what Python would refuse, should anything bypass it.
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO products (tenant_id, gtin, name) VALUES ('brand', '123', 'x')"
            )
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(
                "INSERT INTO sites (tenant_id, id, name, distributor_id)"
                " VALUES ('brand', 'wh2', 'WH2', 'nobody')"
            )
