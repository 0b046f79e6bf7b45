"""Log and anchor keys: from files or the environment, development defaults refused elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.errors import KeyConfigError
from ledger.note import LogKey
from ledger.service.keys import (
    DEV_ANCHOR_PRIVATE_KEY,
    DEV_LOG_KEY,
    load_anchor_private_key,
    load_log_key,
    write_key_file,
)
from ledger.service.settings import LedgerSection
from tests.plugins.environment import TEST_ENVIRONMENT


def settings(**values: object) -> LedgerSection:
    """The section as the tests' environment gives it (CT_ENVIRONMENT), with ``values``."""
    return LedgerSection.model_validate({"environment": TEST_ENVIRONMENT, **values})


def test_key_file_round_trip(tmp_path: Path) -> None:
    key = LogKey.generate("brand.example/ledger")
    path = tmp_path / "log.key"
    write_key_file(path, key)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_log_key(settings(environment="production", ledger_key_file=path)) == key
    with pytest.raises(KeyConfigError, match="refusing to overwrite"):
        write_key_file(path, key)


def test_key_from_environment_string() -> None:
    key = LogKey.generate("brand.example/ledger")
    assert load_log_key(settings(environment="staging", ledger_key=key.to_skey())) == key


def test_development_defaults_only_in_development(tmp_path: Path) -> None:
    assert load_log_key(settings()) == DEV_LOG_KEY
    assert load_anchor_private_key(settings()) == DEV_ANCHOR_PRIVATE_KEY
    with pytest.raises(KeyConfigError, match="CT_LEDGER_KEY_FILE is required in production"):
        load_log_key(settings(environment="production"))
    path = tmp_path / "dev.key"
    write_key_file(path, DEV_LOG_KEY)
    with pytest.raises(KeyConfigError, match="public development key: refused in production"):
        load_log_key(settings(environment="production", ledger_key_file=path))
    with pytest.raises(KeyConfigError, match="public development account"):
        load_anchor_private_key(
            settings(environment="production", ledger_anchor_key=DEV_ANCHOR_PRIVATE_KEY)
        )


def test_malformed_or_missing_key_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("PRIVATE+KEY+nope\n")
    with pytest.raises(KeyConfigError, match="malformed"):
        load_log_key(settings(ledger_key_file=bad))
    with pytest.raises(KeyConfigError, match="cannot read"):
        load_log_key(settings(ledger_key_file=tmp_path / "missing.key"))
    with pytest.raises(KeyConfigError, match="32 bytes of hex"):
        load_anchor_private_key(settings(ledger_anchor_key="0x1234"))
