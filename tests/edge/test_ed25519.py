"""The agent's lean Ed25519 keys sign and verify exactly as `cryptography` does."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec as ec_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge import ed25519
from edge.ed25519 import PublicKey, SigningKey, load_signing_key, parse_verify_key
from wire import WireError, format_public_key, generate_private_key, write_private_key

seeds = st.binary(min_size=32, max_size=32)
messages = st.binary(max_size=4096)
# The backend fixture only selects an implementation; nothing in it changes per example.
shared_backend = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(params=["libcrypto", "cryptography"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs on the system libcrypto and on the `cryptography` fallback."""
    if request.param == "cryptography":
        monkeypatch.setattr(ed25519, "_lib", None)
        monkeypatch.setattr(ed25519, "_lib_checked", True)
    assert ed25519.backend() == request.param
    return str(request.param)


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


@shared_backend
@given(seed=seeds, message=messages)
def test_signatures_are_byte_for_byte_those_of_cryptography(
    backend: str, seed: bytes, message: bytes
) -> None:
    reference = Ed25519PrivateKey.from_private_bytes(seed)
    assert SigningKey(seed).sign(message) == reference.sign(message)


@shared_backend
@given(seed=seeds, message=messages, flip=st.integers(min_value=0, max_value=8 * 64 - 1))
def test_verify_accepts_the_signature_and_nothing_else(
    backend: str, seed: bytes, message: bytes, flip: int
) -> None:
    reference = Ed25519PrivateKey.from_private_bytes(seed)
    signature = reference.sign(message)
    public = PublicKey(raw_public(reference))
    assert public.verify(signature, message)
    tampered = bytearray(signature)
    tampered[flip // 8] ^= 1 << (flip % 8)
    assert not public.verify(bytes(tampered), message)
    assert not public.verify(signature, message + b"\x00")
    assert not public.verify(signature[:63], message)


def test_a_cryptography_public_key_converts(backend: str) -> None:
    key = generate_private_key()
    public = PublicKey.of(key.public_key())
    assert public.raw == raw_public(key)
    assert public.verify(key.sign(b"config"), b"config")
    assert PublicKey.of(public) is public


def test_provisioned_key_file_loads_without_cryptography(backend: str, tmp_path: Path) -> None:
    key = generate_private_key()
    write_private_key(key, tmp_path / "device.pem")
    loaded = load_signing_key(tmp_path / "device.pem")
    assert isinstance(loaded, SigningKey)
    assert loaded.sign(b"batch") == key.sign(b"batch")


def test_other_pem_goes_through_wire_keys(tmp_path: Path) -> None:
    ec = ec_key.generate_private_key(ec_key.SECP256R1())
    pem = ec.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "ec.pem").write_bytes(pem)
    with pytest.raises(WireError, match=r"holds a .*, expected an Ed25519 key"):
        load_signing_key(tmp_path / "ec.pem")
    (tmp_path / "junk.pem").write_text("-----BEGIN PRIVATE KEY-----\nnot base64!\n"
                                       "-----END PRIVATE KEY-----\n")  # fmt: skip
    with pytest.raises(WireError, match="is not an unencrypted PEM private key"):
        load_signing_key(tmp_path / "junk.pem")
    with pytest.raises(WireError, match="cannot read private key"):
        load_signing_key(tmp_path / "missing.pem")


def test_public_key_text_round_trips_with_the_wire_messages(backend: str) -> None:
    key = generate_private_key()
    assert parse_verify_key(format_public_key(key)).raw == raw_public(key)
    with pytest.raises(WireError, match="must start with 'ed25519:'"):
        parse_verify_key("rsa:AAAA")
    with pytest.raises(WireError, match="not valid base64"):
        parse_verify_key("ed25519:***")
    with pytest.raises(WireError, match="must be 32 bytes; got 3"):
        parse_verify_key("ed25519:AAAA")


def test_keys_refuse_wrong_lengths(backend: str) -> None:
    with pytest.raises(ValueError, match="32 bytes; got 31"):
        SigningKey(bytes(31))
    with pytest.raises(ValueError, match="32 bytes; got 33"):
        PublicKey(bytes(33))
