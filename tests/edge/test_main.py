"""``python -m edge`` (``channeltrace-edge``): the same run and status as ``channeltrace edge``,
in a process that loads neither the full command line nor `cryptography`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge.provision import SensorChoice, provision

# Runs the lean entry point in a fresh interpreter, then reports which of the modules the
# gateway's memory budget cannot afford were loaded along the way.
PROBE = """
import sys
from edge.__main__ import main
code = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"cryptography", "typer", "rich", "click"})
print(f"heavy={','.join(heavy)}", file=sys.stderr)
sys.exit(code)
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    result = provision(
        tmp_path / "gw", device="gw-main", tenant="acme", site="wh-1",
        broker_url="mqtt://127.0.0.1:1",  # nothing listens: the agent runs offline
        sensor=SensorChoice.simulated(),
    )  # fmt: skip
    text = result.config_path.read_text().replace("interval_s = 1.0", "interval_s = 0.05")
    result.config_path.write_text(text)
    return result.config_path


def lean(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", PROBE, *args]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)


def test_run_and_status_without_the_full_command_line_or_cryptography(config: Path) -> None:
    run = lean("run", "--config", str(config), "--samples", "3", "--drain", "0")
    assert run.returncode == 0, run.stderr
    assert "heavy=\n" in run.stderr  # signed batches, yet no cryptography, typer or rich
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["agent"] == "stopped"
    assert summary["samples"] == 3
    assert summary["readings"] == summary["accepted"]["telemetry"] > 0
    assert summary["pending_messages"] >= 1  # sealed and signed, waiting for a broker

    status = lean("status", "-c", str(config))
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["accepted"] == summary["accepted"]
    assert report["pending_messages"] == summary["pending_messages"]


def test_errors_exit_2_with_the_reason(tmp_path: Path) -> None:
    result = lean("run", "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert f"error: cannot read agent config {tmp_path / 'missing.toml'}" in result.stderr
    usage = lean("run")
    assert usage.returncode == 2
    assert "--config" in usage.stderr
