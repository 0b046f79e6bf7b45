"""The console script hands ``edge run``/``edge status`` to the lean agent entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('typer loaded' if 'typer' in sys.modules else 'lean'))\n"
    "sys.argv = ['channeltrace', *sys.argv[1:]]\n"
    "from channeltrace.entry import main\n"
    "main()\n"
)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["run", "status"])
def test_edge_agent_commands_skip_the_full_command_line(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    result = _run("edge", command, "--config", str(missing))
    assert result.stdout.strip().splitlines()[-1] == "lean"
    assert result.returncode == 2
    assert "absent.toml" in result.stderr


def test_help_and_other_commands_use_the_typer_application() -> None:
    result = _run("edge", "run", "--help")
    assert result.returncode == 0
    assert "--config" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "typer loaded"
