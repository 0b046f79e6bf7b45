"""GB/T 2260 codes: shape, level, ISO 3166-2 translation and coverage (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.channel.errors import RegionCodeError
from cloud.channel.regions import (
    ISO_TO_GBT,
    PROVINCES,
    Level,
    RegionCode,
    covers,
    parse_region,
    province_of,
)


def test_levels_and_prefixes() -> None:
    assert RegionCode("440000").level is Level.PROVINCE
    assert RegionCode("440300").level is Level.CITY
    assert RegionCode("440304").level is Level.DISTRICT
    assert [RegionCode(c).prefix for c in ("440000", "440300", "440304")] == [
        "44",
        "4403",
        "440304",
    ]
    assert province_of("440304").name_en == "Guangdong"


def test_there_are_34_provinces_each_with_an_iso_code() -> None:
    assert len(PROVINCES) == 34
    assert len({p.code for p in PROVINCES}) == len({p.iso for p in PROVINCES}) == 34
    assert ISO_TO_GBT["CN-GD"] == "440000"
    assert ISO_TO_GBT["CN-SH"] == "310000"


@pytest.mark.parametrize(
    ("text", "code"),
    [("440300", "440300"), (" 310000 ", "310000"), ("CN-GD", "440000"), ("cn-sh", "310000")],
)
def test_parse_accepts_gbt_and_iso_province_codes(text: str, code: str) -> None:
    assert parse_region(text).code == code


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("44030", "expected a GB/T 2260 code of 6 digits"),
        ("4403000", "expected a GB/T 2260 code of 6 digits"),
        ("CN-XX", "expected an ISO 3166-2:CN province code"),
        ("990000", r"first two digits 11–82\), got '990000'"),
        ("０４４０３００", "6 digits"),  # full-width digits are not digits here
        ("", "6 digits"),
    ],
)
def test_parse_refuses_with_what_was_expected_and_got(text: str, said: str) -> None:
    with pytest.raises(RegionCodeError, match=said):
        parse_region(text)


def test_coverage_is_by_significant_digits() -> None:
    assert covers("440000", "440304")  # province covers its districts
    assert covers("440300", "440304")  # city covers its districts
    assert covers("440300", "440300")
    assert not covers("440300", "440104")  # Shenzhen does not cover Guangzhou's Yuexiu
    assert not covers("440000", "450100")  # Guangdong does not cover Nanning
    assert not covers("440300", "440000")  # a coarser place is not known to be inside
    assert covers("110100", "110105")  # Beijing's GB/T 2260 "市辖区" covers Chaoyang
    assert covers("CN-GD", "440304")


@given(st.sampled_from([p.code for p in PROVINCES]), st.integers(1, 99), st.integers(1, 99))
def test_a_province_covers_every_code_beneath_it(province: str, city: int, district: int) -> None:
    city_code = f"{province[:2]}{city:02d}00"
    place = f"{province[:2]}{city:02d}{district:02d}"
    assert covers(province, city_code)
    assert covers(province, place)
    assert covers(city_code, place)
    assert not covers(place, city_code)
