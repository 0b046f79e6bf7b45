"""GS1 keys (wire.gs1): the one implementation edge, simulator and cloud share. Merged
from the cloud's provenance tests, the storage GTIN-14 tests and the edge's check-digit
tests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.errors import IdentifierError, WireError
from wire.gs1 import (
    CSET82,
    Gtin,
    Sscc,
    check_ai_value,
    check_company_prefix,
    check_digit,
    is_valid_gtin,
    normalise_gtin,
    normalise_sscc,
    prefix_candidates,
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
    key = body + str(check_digit(body))
    for i in range(len(key)):
        for d in "0123456789":
            if d != key[i]:
                altered = key[:i] + d + key[i + 1 :]
                assert check_digit(altered[:-1]) != int(altered[-1])


def test_ai_values_use_character_set_82() -> None:
    assert check_ai_value("lot", "AB-12/x_y.z", 20) == "AB-12/x_y.z"
    with pytest.raises(IdentifierError, match="outside GS1 AI encodable set 82"):
        check_ai_value("lot", "AB 12", 20)
    with pytest.raises(IdentifierError, match="at most 20"):
        check_ai_value("serial", "X" * 21, 20)
    with pytest.raises(IdentifierError, match="must not be empty"):
        check_ai_value("serial", "", 20)
    assert len(CSET82) == 82


# ---------------------------------------------------------------- from the edge's tests


@pytest.mark.parametrize(
    "gtin",
    ["4006381333931", "036000291452", "96385074", "80614141123458", "09506000134352"],
)
def test_published_gtins_are_valid(gtin: str) -> None:
    assert is_valid_gtin(gtin)
    assert len(normalise_gtin(gtin)) == 14


@given(st.text("0123456789", min_size=7, max_size=13), st.data())
def test_any_single_digit_error_is_detected(body: str, data: st.DataObject) -> None:
    gtin = body + str(check_digit(body))
    if len(gtin) not in (8, 12, 13, 14):
        return
    assert is_valid_gtin(gtin)
    at = data.draw(st.integers(0, len(gtin) - 1))
    other = data.draw(st.sampled_from([d for d in "0123456789" if d != gtin[at]]))
    assert not is_valid_gtin(gtin[:at] + other + gtin[at + 1 :])


# ---------------------------------------------------------------- from the storage tests


@pytest.mark.parametrize("gtin", ["00012345600012", "10614141000415", "00614141999996"])
def test_valid_gtin14s(gtin: str) -> None:
    assert Gtin(gtin).value == gtin


@pytest.mark.parametrize(
    ("gtin", "match"),
    [
        ("00012345600013", "check digit 3; expected 2"),
        ("0001234560001", "14 digits"),
        ("0001234560001x", "14 digits"),
        ("０００１２３４５６０００１２", "14 digits"),  # full-width digits are not ASCII
    ],
)
def test_invalid_gtin14s(gtin: str, match: str) -> None:
    with pytest.raises(IdentifierError, match=match):
        Gtin(gtin)


def test_check_digit_of_every_last_digit_is_unique() -> None:
    body = "1061414100041"
    assert check_digit(body) == 5
    assert [d for d in "0123456789" if is_valid_gtin(body + d)] == ["5"]


# ---------------------------------------------------------------- one error type


def test_one_error_type_for_every_gs1_problem() -> None:
    problems = [
        lambda: check_digit("12a"),
        lambda: normalise_gtin("123"),
        lambda: normalise_sscc("1"),
        lambda: Gtin("1"),
        lambda: check_ai_value("serial", "a b", 20),
        lambda: check_company_prefix("12"),
    ]
    for problem in problems:
        with pytest.raises(IdentifierError) as caught:
            problem()
        assert isinstance(caught.value, WireError | ValueError)
        assert caught.value.reason == "bad_identifier"


# ---------------------------------------------------------------- company prefixes


@pytest.mark.parametrize("prefix", ["950600", "9506000", "0614141", "690123456789"])
def test_company_prefixes(prefix: str) -> None:
    assert check_company_prefix(prefix) == prefix


@pytest.mark.parametrize(
    ("prefix", "fragment"),
    [
        ("95060", "6 to 12 digits"),
        ("9506000000001", "6 to 12 digits"),
        ("95060a0", "6 to 12 digits"),
        ("９５０６０００", "6 to 12 digits"),
        ("2000001", "restricted circulation"),
        ("0212345", "restricted circulation"),
        ("0412345", "restricted circulation"),
        ("0512345", "coupons"),
        ("9812345", "coupons"),
        ("9912345", "coupons"),
    ],
)
def test_not_company_prefixes(prefix: str, fragment: str) -> None:
    with pytest.raises(IdentifierError, match=fragment):
        check_company_prefix(prefix)


def test_prefix_candidates_and_digits_of_keys() -> None:
    gtin = Gtin("09506000134352")
    assert gtin.prefix_digits == "950600013435"
    assert prefix_candidates(gtin.prefix_digits) == (
        "950600", "9506000", "95060001", "950600013", "9506000134", "95060001343",
        "950600013435",
    )  # fmt: skip
    assert Sscc("106141412345678908").prefix_digits == "0614141234567890"
    assert prefix_candidates("12345") == ()
