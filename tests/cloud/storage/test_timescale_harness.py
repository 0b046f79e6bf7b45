"""What the TimescaleDB fixtures do when the server cannot run (tests/plugins/timescale.py):
skip on a user's clone, fail in CI when the build is there but unusable."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.plugins.timescale as ts


def test_no_build_beside_the_repository_skips_even_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ts, "SHARED_BUILD", Path("/nonexistent/shared/timescaledb"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.skip.Exception, match="absent, as in a user's clone"):
        ts.timescale_bindir()


def test_a_build_not_installed_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(ts, "SHARED_BUILD", tmp_path)  # the build is there
    monkeypatch.setattr(ts, "_BINDIR", tmp_path / "bin")  # but not installed
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"run scripts/bootstrap\.sh"):
        ts.timescale_bindir()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"run scripts/bootstrap\.sh"):
        ts.timescale_bindir()
