"""deploy/prometheus checked by Prometheus's own promtool: the config and rules load, and
the alert rules fire (and stay quiet) as tests/deploy/promtool/rules_test.yml expects.

promtool comes with Debian's ``prometheus`` package; without it these tests skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy import _deploy as d

PROMETHEUS = d.DEPLOY / "prometheus"
RULES_TEST = Path(__file__).with_name("promtool") / "rules_test.yml"


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        d.missing_tool("promtool not found (apt-get install -y prometheus)")
    return found


def _run(promtool: str, *args: str, cwd: Path) -> None:
    result = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_config_and_rules_load(promtool: str, tmp_path: Path) -> None:
    config = (PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8")
    # The config names the rules where compose mounts them; promtool reads them from here.
    assert "/etc/prometheus/rules.yml" in config
    local = config.replace("/etc/prometheus/rules.yml", "rules.yml")
    (tmp_path / "prometheus.yml").write_text(local)
    shutil.copy(PROMETHEUS / "rules.yml", tmp_path / "rules.yml")
    _run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)
    _run(promtool, "check", "rules", "rules.yml", cwd=tmp_path)


def test_alert_rules_fire_as_expected(promtool: str, tmp_path: Path) -> None:
    shutil.copy(PROMETHEUS / "rules.yml", tmp_path / "rules.yml")
    shutil.copy(RULES_TEST, tmp_path / "rules_test.yml")
    _run(promtool, "test", "rules", "rules_test.yml", cwd=tmp_path)
