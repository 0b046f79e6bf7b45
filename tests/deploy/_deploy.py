"""Readers for the deploy/ files, shared by the static deployment tests.

Compose interpolation (``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$``) is
resolved with the values of ``deploy/.env.example``, as ``docker compose`` would with a
``deploy/.env`` copied from it.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from tests.plugins.services import missing_service_outcome

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yml"
OUR_IMAGE = "channeltrace:local"

_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def missing_tool(reason: str) -> NoReturn:
    """A tool the bootstrap installs is missing: fail in CI, skip elsewhere (as services)."""
    if missing_service_outcome(os.environ) == "fail":
        pytest.fail(f"{reason} (CI=true: a missing tool fails, it is never skipped)", False)
    pytest.skip(reason)


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a Compose env file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        if not sep:
            raise ValueError(f"{path}: not KEY=value: {line!r}")
        values[key.strip()] = value.strip()
    return values


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``text`` with Compose's ``${...}`` references replaced; an unset ``:?`` variable raises."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name)
        if op in (":?", "?") and not value:
            raise KeyError(f"${{{name}}} is required: {arg}")
        if op in (":-", "-") and not value:
            return arg or ""
        return value or ""

    return _VAR.sub(replace, text)


def variables(text: str) -> set[str]:
    """Names of the variables ``text`` interpolates."""
    return {m.group("name") for m in _VAR.finditer(text) if m.group("name")}


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """deploy/compose.yml, YAML anchors merged, interpolated with ``env`` (.env.example)."""
    values = read_env_file(DEPLOY / ".env.example") if env is None else env
    loaded = yaml.safe_load(interpolate(COMPOSE.read_text(encoding="utf-8"), values))
    assert isinstance(loaded, dict)
    return loaded


def raw_compose() -> dict[str, Any]:
    """deploy/compose.yml as written (no interpolation), for the schema."""
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def runs_our_image(service: Mapping[str, Any]) -> bool:
    return service.get("image") == OUR_IMAGE


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """The service's environment: its env files that exist as ``*.example`` plus ``environment``."""
    env: dict[str, str] = {}
    for entry in service.get("env_file", []):
        path = entry["path"] if isinstance(entry, dict) else entry
        example = DEPLOY / f"{path}.example"
        if example.exists():
            env.update(read_env_file(example))
    raw = service.get("environment", {})
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    env.update({k: "" if v is None else str(v) for k, v in raw.items()})
    return env


def aliases(service: Mapping[str, Any]) -> list[str]:
    """Network aliases of the service on the ``backend`` network."""
    networks = service.get("networks", [])
    if isinstance(networks, list):
        return []
    return list((networks.get("backend") or {}).get("aliases", []))


def dns_names(compose: Mapping[str, Any]) -> dict[str, list[str]]:
    """Name on the backend network → the services it resolves to (service names, aliases)."""
    names: dict[str, list[str]] = {}
    for name, service in compose["services"].items():
        for dns in [name, *aliases(service)]:
            names.setdefault(dns, []).append(name)
    return names


@dataclass(frozen=True)
class PortBinding:
    host_ip: str | None
    host_port: int
    container_port: int


def port_bindings(service: Mapping[str, Any]) -> list[PortBinding]:
    """``ports`` in short syntax (``[IP:]HOST:CONTAINER``)."""
    bindings = []
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        if len(parts) == 3:
            bindings.append(PortBinding(parts[0], int(parts[1]), int(parts[2])))
        elif len(parts) == 2:
            bindings.append(PortBinding(None, int(parts[0]), int(parts[1])))
        else:
            raise ValueError(f"publish both ports explicitly: {entry!r}")
    return bindings


def settings_classes() -> list[type[BaseSettings]]:
    """Every ``BaseSettings`` subclass of the deployables, found by importing their modules."""
    for module in _modules_defining_settings():
        importlib.import_module(module)
    found: list[type[BaseSettings]] = []
    stack = list(BaseSettings.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in _PACKAGES and cls not in found:
            found.append(cls)
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def settings_problems_under(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What every settings class refuses with exactly ``env`` as its ``CT_*`` variables."""
    for key in [k for k in os.environ if k.startswith("CT_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    problems = []
    for cls in settings_classes():
        try:
            cls()
        except ValidationError as exc:
            problems.append(f"{cls.__name__}: {exc}")
    return problems


_PACKAGES = ("cloud", "ledger", "channeltrace", "edge", "firmware_sim", "wire")
# ``class Name(BaseSettings)``, also among several bases written over several lines.
_DECLARES_SETTINGS = re.compile(r"^class \w+\([^)]*\bBaseSettings\b", re.MULTILINE)


def _modules_defining_settings() -> Iterator[str]:
    """Modules whose source declares a ``BaseSettings`` subclass (read, not imported)."""
    for package in _PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if _DECLARES_SETTINGS.search(path.read_text(encoding="utf-8")):
                parts = path.relative_to(ROOT).with_suffix("").parts
                yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def variables_read_by_name() -> set[str]:
    """``CT_*`` names the code reads from the environment itself (string constants such as
    ``"CT_ENVIRONMENT"``), besides the settings classes."""
    names: set[str] = set()
    for package in _PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            names.update(_CT_LITERAL.findall(path.read_text(encoding="utf-8")))
    return names


_CT_LITERAL = re.compile(r"""["'](CT_[A-Z0-9_]*[A-Z0-9])["']""")


def env_names(cls: type[BaseSettings]) -> dict[str, str]:
    """``CT_NAME`` → field name for each field of ``cls`` (prefix from its model_config)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = {}
    for field_name, field in cls.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        names[(alias or f"{prefix}{field_name}").upper()] = field_name
    return names
