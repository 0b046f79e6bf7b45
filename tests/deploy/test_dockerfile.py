"""deploy/Dockerfile: builds every package the project installs, with its build context."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ledger.service import anchor
from tests.deploy import _deploy as d

DOCKERFILE = (d.DEPLOY / "Dockerfile").read_text(encoding="utf-8")
IGNORE = [
    line.strip()
    for line in (d.DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


def _copied_sources() -> set[str]:
    sources: set[str] = set()
    for match in re.finditer(r"^COPY (?!--from)(.+)$", DOCKERFILE, flags=re.MULTILINE):
        *src, _dest = match.group(1).split()
        sources.update(src)
    return sources


def test_image_contains_every_installed_package() -> None:
    pyproject = tomllib.loads((d.ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = _copied_sources()
    assert packages <= copied, f"not copied into the image: {packages - copied}"
    assert {"pyproject.toml", "README.md"} <= copied
    assert 'pip wheel --no-cache-dir --wheel-dir /wheels ".[cloud]"' in DOCKERFILE


def test_build_context_sends_what_the_dockerfile_copies() -> None:
    assert IGNORE[0] == "**"  # everything else (.venv, node_modules, data) stays out
    allowed = {line.removeprefix("!").rstrip("/") for line in IGNORE if line.startswith("!")}
    for source in _copied_sources():
        assert source.rstrip("/") in allowed, f"{source} is excluded from the build context"
        assert (d.ROOT / source).exists(), source


def test_anchor_contract_lands_where_ledger_deploy_reads_it() -> None:
    # ledger.service.anchor resolves the artifact beside the packages:
    # <purelib>/contracts/Anchor.json.
    package_parent = Path(anchor.__file__).resolve().parents[2]
    assert package_parent / "contracts" / "Anchor.json" == anchor.DEFAULT_ARTIFACT
    assert "COPY contracts/Anchor.json" in DOCKERFILE
    assert '"$site/contracts/Anchor.json"' in DOCKERFILE


def test_runs_as_an_unprivileged_user_with_no_secret_baked_in() -> None:
    assert re.search(r"^USER channeltrace$", DOCKERFILE, flags=re.MULTILINE)
    assert not re.search(r"^(ENV|ARG) .*(KEY|SECRET|PASSWORD)", DOCKERFILE, flags=re.MULTILINE)
    assert 'ENTRYPOINT ["channeltrace"]' in DOCKERFILE
