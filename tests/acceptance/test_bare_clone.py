"""A user's clone has nothing beside it: the README's two commands pass there.

Clones this repository's HEAD into an empty folder (no ``../shared``, no venv, no
node_modules) and runs the README's set-up commands in it, exactly as written: first the
demo, then the whole suite. Takes about as long as the suite itself, so it runs in CI
(``CI=true``) or when asked for with ``CT_TEST_BARE_CLONE=1``; the suite it starts inside
the clone does not start it again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

_ROOT = Path(__file__).resolve().parents[2]
_NESTED = "CT_BARE_CLONE_NESTED"
_OUTCOMES = "CT_BARE_CLONE_OUTCOMES"
_MAKE_VARIABLES = frozenset({"MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES"})
_PYTEST_SUMMARY = re.compile(r"^=+ (.*) in [0-9.]+s(?: \(.*\))? =+$", re.MULTILINE)
_DEMO_SECTIONS = (
    "== Delivery",
    "== Provenance ledger",
    "== Consumer scans",
    "== Alerts",
    "== Console",
    "== Access control",
)


def _wanted() -> str | None:
    """Why this check does not run here, or None when it does."""
    if os.environ.get(_NESTED):
        return "already inside the bare clone that this check made"
    ci = os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}
    if not (ci or os.environ.get("CT_TEST_BARE_CLONE") == "1"):
        return (
            "runs the README's two commands on a fresh clone (as long as the suite itself): "
            "in CI (CI=true) or with CT_TEST_BARE_CLONE=1"
        )
    if shutil.which("git") is None or not (_ROOT / ".git").exists():
        return "needs git and a git checkout to clone from"
    return None


def readme_setup_commands(readme: str) -> list[str]:
    """The shell blocks of the README's set-up section, in order."""
    section = readme.split("## Set up and run", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


def test_readme_names_the_demo_then_the_suite() -> None:
    commands = readme_setup_commands((_ROOT / "README.md").read_text(encoding="utf-8"))
    assert commands == ["make demo", "make test"]


@pytest.fixture
def bare_clone() -> Iterator[Path]:
    reason = _wanted()
    if reason:
        pytest.skip(reason)
    # Not tmp_path: the services the commands start drop root and must enter the folders.
    empty = Path(tempfile.mkdtemp(prefix="ct-bare-"))
    empty.chmod(0o755)
    clone = empty / "channeltrace"
    subprocess.run(["git", "clone", "--quiet", "--no-local", str(_ROOT), str(clone)], check=True)
    assert sorted(p.name for p in empty.iterdir()) == ["channeltrace"]  # nothing beside it
    try:
        yield clone
    finally:
        shutil.rmtree(empty, ignore_errors=True)


def _run(
    command: str, clone: Path, log: Path, timeout: float, extra: dict[str, str] | None = None
) -> str:
    # A user's shell: none of our settings, no venv, and not inside another make (CI's
    # `make test` runs this check; a nested make would also print "Leaving directory").
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CT_", "VIRTUAL_ENV")) and k not in _MAKE_VARIABLES
    }
    env[_NESTED] = "1"
    env.update(extra or {})
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            ["bash", "-c", command], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT,
            timeout=timeout, check=False,
        )  # fmt: skip
    text = log.read_text(encoding="utf-8", errors="replace")
    if outcomes := os.environ.get(_OUTCOMES):  # CI: the clone goes, its logs stay beside
        shutil.copyfile(log, Path(outcomes).parent / f"bare-clone-{log.name}")
    assert done.returncode == 0, f"`{command}` exited {done.returncode}:\n{text[-6000:]}"
    return text


@pytest.mark.timeout(5400)
def test_the_readme_commands_pass_on_a_clone_with_nothing_beside_it(bare_clone: Path) -> None:
    demo_command, test_command = readme_setup_commands(
        (bare_clone / "README.md").read_text(encoding="utf-8")
    )
    logs = bare_clone.parent

    demo = _run(demo_command, bare_clone, logs / "demo.log", timeout=1800)
    assert "Traceback" not in demo, demo[-6000:]
    assert re.search(r"^\s*lost\s+0\s*$", demo, re.MULTILINE), demo[-6000:]
    for section in _DEMO_SECTIONS:
        assert section in demo, f"{section!r} missing from the demo's output:\n{demo[-6000:]}"

    # CI's `make test` records what passed here and then runs, in its own checkout, only
    # what this clone skipped (tests/plugins/outcomes.py).
    outcomes = os.environ.get(_OUTCOMES)
    extra = {}
    if outcomes:
        options = os.environ.get("PYTEST_ADDOPTS", "")
        extra["PYTEST_ADDOPTS"] = f"{options} --record-outcomes={outcomes}".strip()
    suite = _run(test_command, bare_clone, logs / "test.log", timeout=3600, extra=extra)
    summaries = _PYTEST_SUMMARY.findall(suite)
    assert summaries, suite[-6000:]
    summary = summaries[-1]
    assert re.search(r"\d+ passed", summary), summary
    assert not re.search(r"\d+ (failed|error)", summary), summary
