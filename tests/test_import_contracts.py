"""The floors between packages ([tool.importlinter] in pyproject.toml, docs/architecture.md).

``lint-imports`` keeps the real tree (also in ``make lint``); here we show that the contracts
really refuse what they forbid: a copy of a contract on a tiny throwaway tree that breaks it
fails. Contracts that name modules one by one are checked to name every module they must.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONFIG: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
    "tool"
]["importlinter"]
CONTRACTS: dict[str, dict[str, Any]] = {c["id"]: c for c in CONFIG["contracts"]}
PREFIX = "tiny_"  # the throwaway tree's packages: tiny_ledger, tiny_common, ...


def _lint(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def _ours(module: str) -> bool:
    return module.split(".", maxsplit=1)[0] in CONFIG["root_packages"]


def _renamed(module: str) -> str:
    """A module of ours under the throwaway prefix (``*`` made concrete); others as they are."""
    module = module.replace("*", "anything")
    return PREFIX + module if _ours(module) else module


def _layer_modules(layer: str) -> list[str]:
    for delimiter in ("|", ":"):
        if delimiter in layer:
            return [m.strip() for m in layer.split(delimiter)]
    return [layer.strip()]


def _write_tree(base: Path, modules: set[str], imports: dict[str, str]) -> None:
    """Every module in ``modules`` (top-level ones and those with submodules are packages);
    ``imports`` maps a module to the one it imports."""
    parents = {m.rsplit(".", i)[0] for m in modules for i in range(m.count(".") + 1)}
    for module in modules | parents:
        parts = module.split(".")
        if module in parents:
            path = base.joinpath(*parts, "__init__.py")
        else:
            path = base.joinpath(*parts[:-1], parts[-1] + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        for i in range(1, len(parts)):
            (base.joinpath(*parts[:i]) / "__init__.py").touch()
        body = f"import {imports[module]}\n" if module in imports else ""
        path.write_text(body, encoding="utf-8")


def _broken_copy(base: Path, contract_id: str) -> dict[str, Any]:
    """A copy of the contract on a tree with one import it forbids; the copy's config."""
    contract = dict(CONTRACTS[contract_id])
    if contract["type"] == "layers":
        layers = [[_renamed(m) for m in _layer_modules(layer)] for layer in contract["layers"]]
        delimiters = [":" if ":" in layer else "|" for layer in contract["layers"]]
        contract["layers"] = [d.join(ms) for d, ms in zip(delimiters, layers, strict=True)]
        modules = {m for layer in layers for m in layer}
        importer, imported = layers[-1][0], layers[0][0]  # the floor imports the top
    else:
        sources = [_renamed(m) for m in contract["source_modules"]]
        forbidden = [_renamed(m) for m in contract["forbidden_modules"]]
        contract["source_modules"], contract["forbidden_modules"] = sources, forbidden
        modules = set(sources) | {m for m in forbidden if m.startswith(PREFIX)}
        importer, imported = sources[0], forbidden[0]
    _write_tree(base, modules, {importer: imported})
    roots = sorted({m.split(".")[0] for m in modules})
    return {"root_packages": roots, "include_external_packages": True, "contracts": [contract]}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "[" + ", ".join(_toml(v) for v in value) + "]"


def _write_config(path: Path, config: dict[str, Any]) -> None:
    lines = ["[tool.importlinter]"]
    lines += [f"{k} = {_toml(v)}" for k, v in config.items() if k != "contracts"]
    for contract in config["contracts"]:
        lines += ["", "[[tool.importlinter.contracts]]"]
        lines += [f"{k} = {_toml(v)}" for k, v in contract.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_the_real_tree_keeps_every_contract() -> None:
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(CONTRACTS)} kept, 0 broken" in run.stdout


@pytest.mark.parametrize("contract_id", sorted(CONTRACTS))
def test_a_forbidden_import_is_caught(tmp_path: Path, contract_id: str) -> None:
    config = tmp_path / "pyproject.toml"
    _write_config(config, _broken_copy(tmp_path, contract_id))
    run = _lint(tmp_path, str(config))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 broken" in run.stdout, run.stdout + run.stderr


def test_the_same_tree_without_the_import_passes(tmp_path: Path) -> None:
    # The failure above comes from the one forbidden import, not from the copied config.
    config = _broken_copy(tmp_path, "ledger-core-pure")
    for module in tmp_path.rglob("*.py"):
        module.write_text("", encoding="utf-8")
    _write_config(tmp_path / "pyproject.toml", config)
    run = _lint(tmp_path, str(tmp_path / "pyproject.toml"))
    assert run.returncode == 0, run.stdout + run.stderr


def _modules(package: str) -> set[str]:
    base = ROOT / package
    found = set()
    for path in base.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def test_the_ledger_core_is_named_in_full() -> None:
    core = {m for m in _modules("ledger") if not m.startswith("ledger.service")}
    assert set(CONTRACTS["ledger-core-pure"]["source_modules"]) == core
    floor = next(layer for layer in CONTRACTS["floors"]["layers"] if "ledger.errors" in layer)
    assert set(_layer_modules(floor)) - {"wire"} == core - {"ledger"}  # the __init__: no layer


def test_every_module_but_the_cli_and_the_demos_is_kept_from_the_demos() -> None:
    contract = CONTRACTS["demos-apart"]
    named = set(contract["source_modules"])
    for module in _modules("channeltrace"):
        if module == "channeltrace.cli" or module.startswith("channeltrace.demo"):
            assert module not in named
            continue
        parent = module.rsplit(".", 1)[0]
        assert module in named or f"{parent}.*" in named, f"{module} not in demos-apart"
    demos = {m for m in _modules("channeltrace") if m.startswith("channeltrace.demo")}
    assert set(contract["forbidden_modules"]) == demos
