"""`codes key new` and `codes issue` with --database-url: what is printed is resolvable."""

from __future__ import annotations

import csv
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from channeltrace.cli import app
from cloud.migrate import migrate

pytestmark = pytest.mark.integration


def test_issued_batches_are_recorded_and_never_reuse_a_serial(
    database_url: str, tmp_path: Path
) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (id, name) VALUES ('acme', 'Acme')")
    runner = CliRunner()
    keys = tmp_path / "keys"
    made = runner.invoke(app, ["codes", "key", "new", "--dir", str(keys),
                               "--database-url", database_url, "--tenant", "acme"])  # fmt: skip
    assert made.exit_code == 0, made.output
    [key_file] = [p for p in keys.iterdir() if p.suffix == ".pem"]

    def issue(batch: str, *start: str) -> tuple[int, str]:
        result = runner.invoke(app, [
            "codes", "issue", "--gtin", "09506000134352", "--lot", "L1", "--count", "5",
            "--brand-key", str(key_file), "--resolver", "id.acme.example",
            "--out", str(tmp_path / batch), "--qr", "none", *start,
            "--database-url", database_url, "--tenant", "acme",
        ])  # fmt: skip
        return result.exit_code, result.output

    # A brand issues codes only for GTINs under its own registered company prefixes.
    code, output = issue("b0")
    assert code == 2
    assert "not under a company prefix registered to acme" in output
    assert not (tmp_path / "b0").exists()
    added = runner.invoke(app, ["cloud", "prefixes", "add", "9506000", "--tenant", "acme",
                                "--database-url", database_url])  # fmt: skip
    assert added.exit_code == 0, added.output
    serials: list[str] = []
    for batch, start in (("b1", ("--start-serial", "1")), ("b2", ())):
        code, output = issue(batch, *start)
        assert code == 0, output
        with (tmp_path / batch / "codes.csv").open() as handle:
            serials += [row["serial"] for row in csv.DictReader(handle)]
    # Sequential serials that were issued before are refused, and nothing is written.
    code, output = issue("b3", "--start-serial", "3")
    assert code == 2
    assert "already issued" in output
    assert not (tmp_path / "b3").exists()
    with psycopg.connect(database_url) as conn:
        recorded = conn.execute("SELECT serial, batch FROM trace_codes ORDER BY serial").fetchall()
        brand_keys = conn.execute("SELECT count(*) FROM brand_keys").fetchone()
    assert len(set(serials)) == 10
    assert sorted(s for s, _ in recorded) == sorted(serials)
    assert {b for _, b in recorded} == {"b1", "b2"}
    assert brand_keys == (1,)


def test_tenant_is_required_with_a_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["codes", "key", "new", "--dir", str(tmp_path),
                                      "--database-url", "postgresql://x/y"])  # fmt: skip
    assert result.exit_code == 2
    assert "--tenant is required" in result.output
