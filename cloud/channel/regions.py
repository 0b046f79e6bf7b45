"""Chinese administrative regions as GB/T 2260 codes: parsing, levels, and coverage.

A GB/T 2260 code has six digits: two for the province (``44`` Guangdong), two for the
prefecture-level city within it (``4403`` Shenzhen), two for the county-level district
(``440304`` Futian). A code at a level pads the finer digits with zeros: ``440000`` is the
province, ``440300`` the city. A distributor's authorised sales regions are province or
city codes; a scan is placed at its district (or the finest level known), so "is this scan
inside the area?" is a prefix test on the significant digits (:func:`covers`).

Municipalities (Beijing 11, Tianjin 12, Shanghai 31, Chongqing 50) have no prefecture-level
city: GB/T 2260 lists their districts under ``XX01`` ("市辖区") and Chongqing's counties
under ``5002``; both are accepted as city-level codes and cover what their prefix covers.

Proxies and phones may say ``CN-GD`` (ISO 3166-2:CN) instead: :func:`parse_region`
translates the 34 province-level subdivisions to their GB/T 2260 codes. Pure: nothing here
reads files or the network (names of cities and districts come from
:mod:`cloud.channel.geocode`).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

from cloud.channel.errors import RegionCodeError

__all__ = [
    "ISO_TO_GBT",
    "MUNICIPALITIES",
    "PROVINCES",
    "Level",
    "Province",
    "RegionCode",
    "covers",
    "parse_region",
    "province_of",
]


class Level(enum.StrEnum):
    PROVINCE = "province"
    CITY = "city"
    DISTRICT = "district"


@dataclass(frozen=True, slots=True)
class Province:
    code: str  # GB/T 2260, e.g. 440000
    iso: str  # ISO 3166-2, e.g. CN-GD
    name_zh: str
    name_en: str


# The 34 province-level divisions: GB/T 2260 code, ISO 3166-2:CN code (2017 edition), names.
PROVINCES: Final[tuple[Province, ...]] = tuple(
    Province(code, iso, zh, en)
    for code, iso, zh, en in (
        ("110000", "CN-BJ", "北京市", "Beijing"),
        ("120000", "CN-TJ", "天津市", "Tianjin"),
        ("130000", "CN-HE", "河北省", "Hebei"),
        ("140000", "CN-SX", "山西省", "Shanxi"),
        ("150000", "CN-NM", "内蒙古自治区", "Inner Mongolia"),
        ("210000", "CN-LN", "辽宁省", "Liaoning"),
        ("220000", "CN-JL", "吉林省", "Jilin"),
        ("230000", "CN-HL", "黑龙江省", "Heilongjiang"),
        ("310000", "CN-SH", "上海市", "Shanghai"),
        ("320000", "CN-JS", "江苏省", "Jiangsu"),
        ("330000", "CN-ZJ", "浙江省", "Zhejiang"),
        ("340000", "CN-AH", "安徽省", "Anhui"),
        ("350000", "CN-FJ", "福建省", "Fujian"),
        ("360000", "CN-JX", "江西省", "Jiangxi"),
        ("370000", "CN-SD", "山东省", "Shandong"),
        ("410000", "CN-HA", "河南省", "Henan"),
        ("420000", "CN-HB", "湖北省", "Hubei"),
        ("430000", "CN-HN", "湖南省", "Hunan"),
        ("440000", "CN-GD", "广东省", "Guangdong"),
        ("450000", "CN-GX", "广西壮族自治区", "Guangxi"),
        ("460000", "CN-HI", "海南省", "Hainan"),
        ("500000", "CN-CQ", "重庆市", "Chongqing"),
        ("510000", "CN-SC", "四川省", "Sichuan"),
        ("520000", "CN-GZ", "贵州省", "Guizhou"),
        ("530000", "CN-YN", "云南省", "Yunnan"),
        ("540000", "CN-XZ", "西藏自治区", "Tibet"),
        ("610000", "CN-SN", "陕西省", "Shaanxi"),
        ("620000", "CN-GS", "甘肃省", "Gansu"),
        ("630000", "CN-QH", "青海省", "Qinghai"),
        ("640000", "CN-NX", "宁夏回族自治区", "Ningxia"),
        ("650000", "CN-XJ", "新疆维吾尔自治区", "Xinjiang"),
        ("710000", "CN-TW", "台湾省", "Taiwan"),
        ("810000", "CN-HK", "香港特别行政区", "Hong Kong"),
        ("820000", "CN-MO", "澳门特别行政区", "Macao"),
    )
)
_BY_CODE: Final = {p.code: p for p in PROVINCES}
ISO_TO_GBT: Final = {p.iso: p.code for p in PROVINCES}
MUNICIPALITIES: Final = frozenset({"11", "12", "31", "50"})
_CODE = re.compile(r"[1-9][0-9]{5}")
_ISO = re.compile(r"CN-[A-Z]{2}")


@dataclass(frozen=True, slots=True, order=True)
class RegionCode:
    """A GB/T 2260 code, checked for shape and a known province (not for existence of the
    city or district: that needs the data of :mod:`cloud.channel.geocode`)."""

    code: str

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.code):
            raise RegionCodeError(
                f"expected a GB/T 2260 code of 6 digits (e.g. 440000 or 440300), "
                f"got {self.code!r}"
            )
        if self.code[:2] + "0000" not in _BY_CODE:
            raise RegionCodeError(
                "expected a code of a Chinese province (first two digits 11–82), "
                f"got {self.code!r}"
            )

    @property
    def level(self) -> Level:
        if self.code[2:] == "0000":
            return Level.PROVINCE
        if self.code[4:] == "00":
            return Level.CITY
        return Level.DISTRICT

    @property
    def prefix(self) -> str:
        """The significant digits: ``44`` for a province, ``4403`` for a city."""
        return {Level.PROVINCE: self.code[:2], Level.CITY: self.code[:4]}.get(
            self.level, self.code
        )

    @property
    def province(self) -> Province:
        return _BY_CODE[self.code[:2] + "0000"]

    def __str__(self) -> str:
        return self.code


def parse_region(text: str) -> RegionCode:
    """A GB/T 2260 code from ``440300``, or from an ISO 3166-2 province code ``CN-GD``."""
    value = text.strip().upper()
    if _ISO.fullmatch(value):
        code = ISO_TO_GBT.get(value)
        if code is None:
            raise RegionCodeError(
                f"expected an ISO 3166-2:CN province code such as CN-GD, got {text!r}"
            )
        return RegionCode(code)
    return RegionCode(value)


def province_of(code: RegionCode | str) -> Province:
    """The province of a code (``440304`` → Guangdong)."""
    parsed = code if isinstance(code, RegionCode) else parse_region(code)
    return parsed.province


def covers(area: RegionCode | str, place: RegionCode | str) -> bool:
    """Is ``place`` inside ``area``? ``440000`` covers ``440304``; ``440300`` covers
    ``440304`` but not ``440104``; a place coarser than the area (``440000`` against an area
    of ``440300``) is not known to be inside, so it is not covered."""
    a = area if isinstance(area, RegionCode) else parse_region(area)
    p = place if isinstance(place, RegionCode) else parse_region(place)
    return p.code.startswith(a.prefix) and len(p.prefix) >= len(a.prefix)
