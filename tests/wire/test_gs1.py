from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.provenance.errors import IdentifierError
from cloud.provenance.gs1 import (
    CSET82,
    Gtin,
    Sscc,
    check_ai_value,
    gs1_check_digit,
    normalise_gtin,
    normalise_sscc,
)


@pytest.mark.parametrize(
    ("text", "gtin14"),
    [
        ("96385074", "00000096385074"),  # GTIN-8 (GS1 General Specifications example)
        ("614141000036", "00614141000036"),  # GTIN-12 (UPC-A)
        ("9506000134352", "09506000134352"),  # GTIN-13
        ("10614141073464", "10614141073464"),  # GTIN-14
        (" 4012345000054 ", "04012345000054"),
    ],
)
def test_gtin_normalises_to_14_digits(text: str, gtin14: str) -> None:
    assert normalise_gtin(text) == gtin14
    assert Gtin.parse(text).value == gtin14


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("9506000134353", "check digit 3; expected 2"),
        ("95060001343", "8, 12, 13 or 14 digits"),
        ("95060001343A2", "8, 12, 13 or 14 digits"),
        ("", "8, 12, 13 or 14 digits"),
    ],
)
def test_bad_gtins_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(IdentifierError, match=fragment):
        normalise_gtin(text)


def test_sscc_check_digit() -> None:
    assert normalise_sscc("106141412345678908") == "106141412345678908"
    with pytest.raises(IdentifierError, match="expected 8"):
        normalise_sscc("106141412345678907")
    with pytest.raises(IdentifierError, match="18 digits"):
        Sscc("10614141234567890")


def test_parts_round_trip() -> None:
    gtin = Gtin.from_parts("1", "0614141", "07346")
    assert gtin.value == "10614141073464"
    assert gtin.split(7) == ("1", "0614141", "07346")
    sscc = Sscc.from_parts("1", "0614141", "234567890")
    assert sscc.value == "106141412345678908"
    assert sscc.split(7) == ("1", "0614141", "234567890")
    with pytest.raises(IdentifierError, match=r"6\.\.12"):
        gtin.split(5)


@given(st.text(alphabet="0123456789", min_size=7, max_size=17))
def test_check_digit_detects_every_single_digit_error(body: str) -> None:
    key = body + str(gs1_check_digit(body))
    for i in range(len(key)):
        for d in "0123456789":
            if d != key[i]:
                altered = key[:i] + d + key[i + 1 :]
                assert gs1_check_digit(altered[:-1]) != int(altered[-1])


def test_ai_values_use_character_set_82() -> None:
    assert check_ai_value("lot", "AB-12/x_y.z", 20) == "AB-12/x_y.z"
    with pytest.raises(IdentifierError, match="outside GS1 AI encodable set 82"):
        check_ai_value("lot", "AB 12", 20)
    with pytest.raises(IdentifierError, match="at most 20"):
        check_ai_value("serial", "X" * 21, 20)
    with pytest.raises(IdentifierError, match="must not be empty"):
        check_ai_value("serial", "", 20)
    assert len(CSET82) == 82
