"""The production guards accept a deployment made as deploy/README.md says, and refuse the
placeholders of deploy/.env.example: each cloud service's compose environment, with its
secrets made by the real tools, passes the checks the services run at start."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from cloud.auth.errors import AuthConfigError
from cloud.auth.tokens import token_secret
from cloud.settings import Settings
from ledger.errors import KeyConfigError
from ledger.note import LogKey
from ledger.service.keys import load_anchor_private_key, load_log_key, write_key_file
from tests.deploy import _deploy as d


def _dot_env() -> dict[str, str]:
    """A deploy/.env filled as step 1 says: one token_urlsafe(32) per secret."""
    example = d.read_env_file(d.DEPLOY / ".env.example")
    keep = {"CHANNELTRACE_IMAGE", "TRUSTED_PROXIES"}  # not secrets
    return {k: v if k in keep else secrets.token_urlsafe(32) for k, v in example.items()}


def _secret_files(directory: Path) -> dict[str, Path]:
    ledger_key = directory / "ledger_key"
    write_key_file(ledger_key, LogKey.generate("brand.example/ledger"))
    anchor_key = directory / "anchor_key"
    anchor_key.write_text("0x" + secrets.token_hex(32) + "\n")
    anchor_key.chmod(0o600)
    return {"ledger_key": ledger_key, "anchor_key": anchor_key}


def _apply(env: dict[str, str], files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("CT_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        resolved = value
        for name, path in files.items():
            resolved = resolved.replace(f"/run/secrets/{name}", str(path))
        monkeypatch.setenv(key, resolved)


def _services(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    compose = d.load_compose(env=env)
    return {n: s for n, s in d.services(compose).items() if d.runs_our_image(s)}


@pytest.mark.parametrize("name", sorted(_services(_dot_env())))
def test_service_passes_the_production_guards(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _services(_dot_env())[name]
    _apply(d.environment(service), _secret_files(tmp_path), monkeypatch)
    cloud = Settings()
    assert cloud.environment == "production"
    assert len(token_secret(cloud)) >= 32
    ledger = Settings()
    assert ledger.environment == "production"
    assert load_log_key(ledger).name == "brand.example/ledger"
    assert load_anchor_private_key(ledger).startswith("0x")


def test_the_env_example_placeholders_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _services(d.read_env_file(d.DEPLOY / ".env.example"))["api"]
    _apply(d.environment(service), _secret_files(tmp_path), monkeypatch)
    with pytest.raises(AuthConfigError, match="at least 32 bytes"):
        token_secret(Settings())


def test_missing_key_files_are_refused_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _services(_dot_env())["scheduler"]
    _apply(d.environment(service), {}, monkeypatch)  # /run/secrets/* do not exist here
    with pytest.raises(KeyConfigError, match="cannot read"):
        load_log_key(Settings())
