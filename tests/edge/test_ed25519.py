"""The agent's Ed25519 keys (libsodium) sign and verify exactly as `cryptography` does."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec as ec_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from edge.ed25519 import PublicKey, SigningKey, load_signing_key, parse_verify_key
from wire import WireError, format_public_key, generate_private_key, write_private_key

seeds = st.binary(min_size=32, max_size=32)
messages = st.binary(max_size=4096)


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


@given(seed=seeds, message=messages)
def test_signatures_are_byte_for_byte_those_of_cryptography(
    seed: bytes, message: bytes
) -> None:
    reference = Ed25519PrivateKey.from_private_bytes(seed)
    assert SigningKey(seed).sign(message) == reference.sign(message)


@given(seed=seeds, message=messages, flip=st.integers(min_value=0, max_value=8 * 64 - 1))
def test_verify_accepts_the_signature_and_nothing_else(
    seed: bytes, message: bytes, flip: int
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


def test_a_cryptography_public_key_converts() -> None:
    key = generate_private_key()
    public = PublicKey.of(key.public_key())
    assert public.raw == raw_public(key)
    assert public.verify(key.sign(b"config"), b"config")
    assert PublicKey.of(public) is public


def test_provisioned_key_file_loads_without_cryptography(tmp_path: Path) -> None:
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


def test_public_key_text_round_trips_with_the_wire_messages() -> None:
    key = generate_private_key()
    assert parse_verify_key(format_public_key(key)).raw == raw_public(key)
    with pytest.raises(WireError, match="must start with 'ed25519:'"):
        parse_verify_key("rsa:AAAA")
    with pytest.raises(WireError, match="not valid base64"):
        parse_verify_key("ed25519:***")
    with pytest.raises(WireError, match="must be 32 bytes; got 3"):
        parse_verify_key("ed25519:AAAA")


def test_keys_refuse_wrong_lengths() -> None:
    with pytest.raises(ValueError, match="32 bytes; got 31"):
        SigningKey(bytes(31))
    with pytest.raises(ValueError, match="32 bytes; got 33"):
        PublicKey(bytes(33))


def test_a_small_order_public_key_verifies_nothing() -> None:
    # The identity point encodes as 0x01 followed by zeros: with it, a forged "signature"
    # (R = identity, S = 0) satisfies the verification equation for any message in lax
    # implementations. libsodium refuses small-order keys outright.
    identity = bytes([1]) + bytes(31)
    forged = identity + bytes(32)
    assert not PublicKey(identity).verify(forged, b"any config")
