"""``channeltrace cloud tenants`` and ``cloud channel`` against real PostgreSQL: the
operator's tenant, the demo's channel imported from its CSV (a dry run, a file with a
problem, idempotent re-import), exported and imported back unchanged, listed and logged."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from channeltrace.cli import app
from channeltrace.demo_channel import channel_file
from cloud.auth.tokens import login
from cloud.migrate import migrate
from cloud.settings import Settings

pytestmark = pytest.mark.integration


def test_tenant_channel_import_export_round_trip(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate(database_url)
    runner = CliRunner()
    db = ["--database-url", database_url]

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["cloud", *args, *db])
        assert result.exit_code == code, result.output
        return result.output

    monkeypatch.setenv("CT_TEST_PW", "correct horse battery")
    out = run("tenants", "create", "acme", "--name", "Acme Wines", "--manager", "ana@acme",
              "--password-env", "CT_TEST_PW")  # fmt: skip
    assert "created tenant acme (Acme Wines) with brand manager ana@acme" in out
    assert "exists already" in run("tenants", "create", "acme", "--name", "Again", "--manager",
                                   "bob", "--password-env", "CT_TEST_PW", code=2)  # fmt: skip
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert login(conn, Settings(), "ana@acme", "correct horse battery") is not None

    channel = tmp_path / "channel.csv"
    channel.write_bytes(channel_file())
    broken = tmp_path / "broken.csv"
    broken.write_bytes(channel_file().replace(b"30.2084", b"300.2084"))
    out = run("channel", "import", str(broken), "--tenant", "acme", code=1)
    assert "broken.csv: not applied: 24 rows, 2 problems; would create 4 distributors" in out
    assert ("broken.csv row 6, latitude: expected a number from -90 to 90 (degrees north, "
            "WGS-84), got '300.2084'") in out  # fmt: skip
    assert ("row 16, site_id: expected the id of an existing site of acme (broken.csv row 6 "
            "has it, with problems), got 'factory'") in out  # fmt: skip
    assert "dry run: 24 rows, 0 problems" in run("channel", "import", str(channel), "--tenant",
                                                   "acme", "--dry-run")  # fmt: skip
    assert run("channel", "list", "sites", "--tenant", "acme") == ""
    assert "applied: 24 rows, 0 problems; created 4 distributors, 6 locations, 4 parties, " \
        "3 products, 7 sites" in run("channel", "import", str(channel), "--tenant", "acme")
    out = run("channel", "import", str(channel), "--tenant", "acme", "--json")
    assert json.loads(out)["unchanged"] == {"distributors": 4, "sites": 7, "products": 3,
                                            "locations": 6, "parties": 4}  # fmt: skip
    sites = [json.loads(line) for line in
             run("channel", "list", "site", "--tenant", "acme", "--json").splitlines()]
    regions = {s["id"]: s["region"] for s in sites}
    assert regions["wh-guangzhou"] == "440100"  # from the coordinates
    assert regions["wh-nanjing"] == "320100"  # given (no coordinates yet)

    workbook = tmp_path / "export.xlsx"
    assert "wrote 24 records of acme" in run("channel", "export", "--tenant", "acme", "--out",
                                             str(workbook))  # fmt: skip
    book = load_workbook(workbook, read_only=True)
    assert book.sheetnames == ["prefixes", "distributors", "sites", "products", "locations",
                               "parties"]  # fmt: skip
    out = run("channel", "import", str(workbook), "--tenant", "acme")
    assert "applied: 24 rows, 0 problems; created none; updated none" in out
    exported = tmp_path / "export.csv"
    run("channel", "export", "--tenant", "acme", "--out", str(exported))
    assert "created none; updated none" in run("channel", "import", str(exported), "--tenant",
                                               "acme")  # fmt: skip

    log = run("channel", "changes", "--tenant", "acme", "--limit", "200")
    assert "cli:" in log
    assert "create distributor dist-sh-retail" in log
    assert "no tenant 'nobody'" in run("channel", "list", "site", "--tenant", "nobody", code=2)
    assert "--kind: expected" in run("channel", "import", str(channel), "--tenant", "acme",
                                     "--kind", "warehouse", code=2)  # fmt: skip
    template = tmp_path / "template.xlsx"
    run("tenants", "create", "zeta", "--name", "Zeta", "--manager", "zoe@zeta",
        "--password-env", "CT_TEST_PW")  # fmt: skip
    run("channel", "export", "--tenant", "zeta", "--out", str(template), "--examples")
    out = run("channel", "import", str(template), "--tenant", "zeta", "--dry-run")
    assert "would create 1 distributors, 1 locations" in out
    assert "acme\tAcme Wines\t1 login(s)" in run("tenants", "list")


def test_locate_and_region_need_no_database() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["cloud", "channel", "locate", "22.5431", "114.0579"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["province\t440000\t广东省", "city\t440300\t深圳市",
                                          "district\t440304\t福田区"]  # fmt: skip
    result = runner.invoke(app, ["cloud", "channel", "locate", "37.5665", "126.978"])
    assert result.exit_code == 2
    assert "not in China's administrative boundaries" in result.output
    result = runner.invoke(app, ["cloud", "channel", "region", "CN-GD"])
    assert result.output.strip() == "440000\tprovince\t广东省"
