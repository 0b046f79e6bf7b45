from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.provenance.errors import KeyStoreError
from cloud.provenance.keys import (
    KEYRING_FILE,
    BrandKey,
    Keyring,
    create_brand_key,
    key_id,
    load_keyring,
    load_private_key,
    revoke_key,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_create_store_list_rotate_revoke(tmp_path: Path) -> None:
    first_path, first = create_brand_key(tmp_path, now=NOW)
    assert stat.S_IMODE(first_path.stat().st_mode) == 0o600
    assert key_id(load_private_key(first_path).public_key()) == first.kid
    _, second = create_brand_key(tmp_path, now=NOW)
    ring = load_keyring(tmp_path)
    assert [k.kid for k in ring.keys] == [first.kid, second.kid]
    revoked = revoke_key(tmp_path, first.kid, now=NOW)
    assert revoked.revoked == "2025-03-01T12:00:00+00:00"
    assert load_keyring(tmp_path).get(first.kid) == revoked
    with pytest.raises(KeyStoreError, match="no key"):
        revoke_key(tmp_path, "00000000")


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    path, _ = create_brand_key(tmp_path, key=key)
    with pytest.raises(KeyStoreError, match="already in"):
        create_brand_key(tmp_path, key=key)
    (tmp_path / KEYRING_FILE).unlink()
    path.write_bytes(b"existing")
    with pytest.raises(KeyStoreError, match="refusing to overwrite"):
        create_brand_key(tmp_path, key=key)
    assert path.read_bytes() == b"existing"


def test_keyring_round_trip_and_validation(tmp_path: Path) -> None:
    _, entry = create_brand_key(tmp_path)
    ring = Keyring((entry,))
    assert Keyring.from_json(ring.to_json()) == ring
    assert BrandKey.from_json(entry.to_json()) == entry  # type: ignore[arg-type]
    with pytest.raises(KeyStoreError, match="does not match"):
        BrandKey("00000000", entry.public_key, entry.created)
    with pytest.raises(KeyStoreError, match="duplicate"):
        Keyring((entry, entry))
    with pytest.raises(KeyStoreError, match="keyring is not JSON"):
        Keyring.from_json("[]")


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="cannot read brand key"):
        load_private_key(tmp_path / "missing.pem")
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    with pytest.raises(KeyStoreError, match="not an unencrypted PEM"):
        load_private_key(bad)
    assert load_keyring(tmp_path / "empty") == Keyring()
