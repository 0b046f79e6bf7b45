"""Run each test once in CI: on the bare clone, and here only what the bare clone skipped.

CI runs the whole suite inside a fresh clone with nothing beside it
(tests/acceptance/test_bare_clone.py, the README's commands as a user runs them). That
run records every test's outcome (``--record-outcomes PATH``). The checkout's own run then
keeps only the tests that did not pass there (``--only-skipped-in PATH``): those that need
``../shared`` (the official GS1 and RFC 9162 artefacts, the TimescaleDB build) and skip
without it. Every test runs at least once, in CI's most demanding place for it, instead of
the whole suite twice (the Makefile's ``test`` target wires the two runs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

__all__ = [
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_runtest_logreport",
    "pytest_sessionfinish",
]

_RECORDED: dict[str, str] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("channeltrace")
    group.addoption("--record-outcomes", metavar="PATH", default=None,
                    help="write each test's outcome (passed, skipped, failed) as JSON")  # fmt: skip
    group.addoption("--only-skipped-in", metavar="PATH", default=None,
                    help="run only the tests that did not pass in that recorded run")  # fmt: skip


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _RECORDED[report.nodeid] = "skipped"
    elif report.failed:
        _RECORDED[report.nodeid] = "failed"
    elif report.when == "call":
        _RECORDED.setdefault(report.nodeid, "passed")


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("--record-outcomes")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(_RECORDED, indent=0, sort_keys=True), encoding="utf-8")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    path = config.getoption("--only-skipped-in")
    if not path:
        return
    try:
        recorded = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(
            f"--only-skipped-in {path}: no outcomes recorded by the bare-clone run ({exc})"
        ) from None
    passed = [item for item in items if recorded.get(item.nodeid) == "passed"]
    if passed:
        config.hook.pytest_deselected(items=passed)
        items[:] = [item for item in items if recorded.get(item.nodeid) != "passed"]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"{len(passed)} tests passed on the bare clone ({path}); running the "
            f"{len(items)} it skipped or never ran"
        )
