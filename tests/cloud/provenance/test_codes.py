from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.provenance.codes import CodeStatus, SignedCode, check_code, sign_link
from cloud.provenance.errors import CodeVerificationError
from cloud.provenance.issue import make_qr
from cloud.provenance.keys import BrandKey, Keyring, key_id
from wire.digital_link import DigitalLink
from wire.errors import IdentifierError
from wire.gs1 import CSET82

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
LINK = DigitalLink.build("id.brand.example", "9506000134352", lot="L2024-07", serial="7KQ2M9XR4TBW")


def keyring(*keys: Ed25519PrivateKey) -> Keyring:
    return Keyring.of(*(k.public_key() for k in keys))


def test_signed_code_shape_and_round_trip() -> None:
    code = sign_link(LINK, KEY)
    assert code.uri.startswith(LINK.uri + f"?k={key_id(KEY.public_key())}&s=")
    assert len(code.uri.rsplit("s=", 1)[1]) == 86
    assert SignedCode.parse(code.uri) == code
    assert check_code(code.uri, keyring(KEY)).status is CodeStatus.VALID


@pytest.mark.parametrize(
    "alter",
    [
        lambda u: u.replace("7KQ2M9XR4TBW", "7KQ2M9XR4TBX"),  # another serial
        lambda u: u.replace("/10/L2024-07", "/10/L2024-08"),  # another lot
        lambda u: u.replace("09506000134352", "09506000134369"),  # another (valid) GTIN
        lambda u: u.replace("id.brand.example", "id.other.example"),  # another resolver
        lambda u: u.replace("/10/L2024-07", ""),  # lot removed
    ],
)
def test_altered_codes_fail(alter: object) -> None:
    code = sign_link(LINK, KEY).uri
    altered = alter(code)  # type: ignore[operator]
    assert altered != code
    assert check_code(altered, keyring(KEY)).status is CodeStatus.BAD_SIGNATURE


def test_never_issued_code_fails() -> None:
    forged = sign_link(LINK, OTHER).uri  # a counterfeiter's own key
    check = check_code(forged, keyring(KEY))
    assert check.status is CodeStatus.UNKNOWN_KEY
    # ... even when they copy our key id
    kid = key_id(KEY.public_key())
    spoofed = forged.replace(f"k={key_id(OTHER.public_key())}", f"k={kid}")
    assert check_code(spoofed, keyring(KEY)).status is CodeStatus.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (LINK.uri, "no signature"),
        (LINK.uri + "?k=ABCDEF12&s=x", "lower-case hex"),
        (LINK.uri + "?k=abcdef12&s=short", "86 base64url"),
        (LINK.uri + "?k=abcdef12&k=abcdef12&s=" + "A" * 86, "more than once"),
        ("https://id.brand.example/01/09506000134352?k=abcdef12&s=" + "A" * 86, "needs a serial"),
        ("not a uri", "not a GS1 Digital Link"),
    ],
)
def test_malformed_codes(text: str, fragment: str) -> None:
    with pytest.raises(CodeVerificationError, match=fragment):
        SignedCode.parse(text)
    check = check_code(text, keyring(KEY))
    assert check.status is CodeStatus.MALFORMED
    assert fragment in check.reason


def test_non_canonical_base64_is_refused() -> None:
    code = sign_link(LINK, KEY)
    sig = code.uri.rsplit("s=", 1)[1]
    # The 86th character carries 2 unused bits: setting them decodes to the same bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    mutated = sig[:-1] + alphabet[alphabet.index(sig[-1]) | 1]
    if mutated == sig:
        mutated = sig[:-1] + alphabet[alphabet.index(sig[-1]) | 2]
    assert base64.urlsafe_b64decode(mutated + "==") == code.signature
    with pytest.raises(CodeVerificationError, match="canonical"):
        SignedCode.parse(code.uri.replace(sig, mutated))


def test_rotation_and_revocation() -> None:
    old, new = sign_link(LINK, KEY), sign_link(LINK, OTHER)
    ring = keyring(KEY, OTHER)
    assert check_code(old.uri, ring).valid
    assert check_code(new.uri, ring).valid
    revoked = Keyring(
        tuple(
            BrandKey(k.kid, k.public_key, k.created, "2025-01-01T00:00:00+00:00")
            if k.kid == old.kid
            else k
            for k in ring.keys
        )
    )
    assert check_code(old.uri, revoked).status is CodeStatus.REVOKED_KEY
    assert check_code(new.uri, revoked).valid


def test_encoding_variants_of_the_same_code_verify() -> None:
    link = DigitalLink.build("id.brand.example", "9506000134352", lot="A/B", serial="x!y")
    code = sign_link(link, KEY).uri
    variant = code.replace("%2F", "%2f").replace("%21", "!").replace("id.brand", "ID.BRAND")
    assert check_code(variant, keyring(KEY)).valid


def test_code_needs_a_serial() -> None:
    with pytest.raises(IdentifierError, match="serial"):
        sign_link(DigitalLink.build("a.example", "9506000134352", lot="1"), KEY)


@settings(max_examples=50)
@given(
    lot=st.text(alphabet=sorted(CSET82), min_size=1, max_size=20),
    serial=st.text(alphabet=sorted(CSET82), min_size=1, max_size=20),
)
def test_every_issued_code_verifies(lot: str, serial: str) -> None:
    link = DigitalLink.build("id.brand.example", "9506000134352", lot=lot, serial=serial)
    assert check_code(sign_link(link, KEY).uri, keyring(KEY)).valid


def test_qr_version_for_typical_and_worst_codes() -> None:
    typical = sign_link(LINK, KEY)
    assert int(make_qr(typical).version) <= 10
    worst = DigitalLink.build("id.brand.example", "9506000134352", lot="/" * 20, serial="%" * 20)
    assert int(make_qr(sign_link(worst, KEY)).version) <= 15  # 3x percent-encoding, still scannable
