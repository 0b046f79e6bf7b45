"""The command line: what exists, and that the gateway path needs no cloud dependency."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from channeltrace.cli import app

# Runs the CLI with the cloud-only packages made unimportable, as on a gateway
# that installed only the `edge` extra.
_EDGE_ONLY = """
import sys
BLOCKED = {"psycopg", "psycopg_pool", "fastapi", "uvicorn", "web3", "apscheduler"}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed on a gateway")
        return None
sys.meta_path.insert(0, Block())
from channeltrace.cli import app
app(sys.argv[1:])
"""


def test_top_level_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "edge", "cloud"):
        assert command in result.output


def test_edge_provision_works_without_cloud_dependencies(tmp_path: Path) -> None:
    target = tmp_path / "gw"
    result = subprocess.run(
        [sys.executable, "-c", _EDGE_ONLY, "edge", "provision", "--device", "gw-7",
         "--tenant", "acme", "--site", "wh-1", "--sensor", "ds18b20", "--dir", str(target)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    registration = json.loads((target / "registration.json").read_text())
    assert registration["device_id"] == "gw-7"
    assert registration["public_key"].startswith("ed25519:")
    # The agent's modules import too (they are what `edge run` loads).
    imports = _EDGE_ONLY.replace(
        "from channeltrace.cli import app\napp(sys.argv[1:])",
        "import edge.agent, edge.publisher, edge.outbox",
    )
    check = subprocess.run([sys.executable, "-c", imports], capture_output=True, text=True,
                           check=False)  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_provision_refuses_to_replace_a_key(tmp_path: Path) -> None:
    args = ["edge", "provision", "--device", "gw-1", "--tenant", "a", "--site", "s",
            "--sensor", "sim", "--dir", str(tmp_path)]  # fmt: skip
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0
    assert "SIMULATED probe" in first.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2
    assert "refusing to replace" in again.output


def test_provision_needs_the_sensor_named(tmp_path: Path) -> None:
    args = ["edge", "provision", "--device", "gw-1", "--tenant", "a", "--site", "s",
            "--dir", str(tmp_path)]  # fmt: skip
    missing = CliRunner().invoke(app, args)
    assert missing.exit_code == 2
    assert "Missing option '--sensor'" in missing.output
    assert not (tmp_path / "device.pem").exists()
    wrong = CliRunner().invoke(app, [*args, "--sensor", "sht3x", "--i2c-address", "forty"])
    assert wrong.exit_code == 2
    assert "--i2c-address: expected a number such as 0x44, got 'forty'" in wrong.output
    real = CliRunner().invoke(app, [*args, "--sensor", "sht3x", "--i2c-address", "0x45"])
    assert real.exit_code == 0, real.output
    assert "SIMULATED" not in real.output
    assert "address = 0x45" in (tmp_path / "agent.toml").read_text(encoding="utf-8")


def test_edge_run_reports_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("[device]\nid = 'bad/id'\n")
    result = CliRunner().invoke(app, ["edge", "run", "--config", str(config)])
    assert result.exit_code == 2
    assert "device.id" in result.output


def test_version_is_printed_by_both_entry_points() -> None:
    from importlib.metadata import version

    expected = version("channeltrace")
    full = subprocess.run([sys.executable, "-m", "channeltrace", "--version"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert full.stdout.strip() == f"channeltrace {expected}"
    lean = subprocess.run([sys.executable, "-m", "edge", "--version"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert lean.stdout.strip() == f"channeltrace-edge {expected}"


def test_a_url_with_the_wrong_scheme_is_refused_in_one_line() -> None:
    import os

    cases = [
        (["cloud", "migrate"], "CT_DATABASE_URL", "mysql://root:s3cret@db/ct",
         "CT_DATABASE_URL: a database URL must start with postgresql://"),
        (["ledger", "checkpoint"], "CT_DATABASE_URL", "mysql://root:s3cret@db/ct",
         "CT_DATABASE_URL: a database URL must start with postgresql://"),
        (["cloud", "ingest"], "CT_MQTT_URL", "http://broker:1883",
         "CT_MQTT_URL: MQTT URL must start with mqtt:// or mqtts://"),
    ]  # fmt: skip
    for args, variable, value, expected in cases:
        env = {**os.environ, "CT_ENVIRONMENT": "development", variable: value}
        done = subprocess.run([sys.executable, "-m", "channeltrace", *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.strip().splitlines() == [f"error: {done.stderr.strip()[7:]}"]
        assert expected in done.stderr
        assert "s3cret" not in done.stderr
        assert "Traceback" not in done.stderr
    option = subprocess.run(
        [sys.executable, "-m", "channeltrace", "cloud", "migrate", "--database-url",
         "mysql://root:s3cret@db/ct"],
        env={**os.environ, "CT_ENVIRONMENT": "development"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert option.returncode == 2
    assert "Invalid value for '--database-url'" in option.stderr
    assert "must start with" in " ".join(option.stderr.split())
    assert "s3cret" not in option.stderr
