"""Place names for shoppers: a region code as the city (or province) a person knows.

Codes are GB/T 2260 (what scans and sites carry, :mod:`cloud.provenance.geo`); names come
from the channel helper's offline geocoder (:mod:`cloud.channel.geocode`, Chinese names
of the administrative division data) and, in English, the province's English name or the
city's name in Hanyu Pinyin (``pypinyin``, whose phrase dictionary reads 重庆 as
Chongqing and 长沙 as Changsha). A district is named by its city, which is as precise as a
shopper needs and no more precise than a scan's coarse point.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Final

from cloud.channel.errors import GeocoderUnavailable
from cloud.channel.geocode import default_geocoder
from cloud.channel.regions import MUNICIPALITIES, PROVINCES

__all__ = ["place_name"]

_logger = logging.getLogger(__name__)

_GBT: Final = re.compile(r"[1-9][0-9]{5}")
_PROVINCE_EN: Final = {p.code: p.name_en for p in PROVINCES}
_PROVINCE_ZH: Final = {p.code: p.name_zh for p in PROVINCES}
# Suffixes that name the kind of division, not the place (English names leave them out).
_SUFFIXES: Final = ("自治州", "地区", "市", "盟", "县", "区")
_COUNTRY: Final = {"CN": ("China", "中国")}


def _pinyin(name: str) -> str:
    from pypinyin import lazy_pinyin

    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            name = name[: -len(suffix)]
            break
    return "".join(lazy_pinyin(name)).capitalize()


@functools.lru_cache(maxsize=4_096)
def place_name(code: str | None, lang: str) -> str | None:  # noqa: PLR0911 - one case each
    """The city (else province) of a region code in ``lang`` (``zh`` or ``en``); a code of
    another country as it is; ``None`` for ``None``."""
    if not code:
        return None
    if code in _COUNTRY:
        return _COUNTRY[code][0 if lang == "en" else 1]
    if not _GBT.fullmatch(code):
        return code
    province = code[:2] + "0000"
    if province not in _PROVINCE_EN:
        return code
    if code[:2] in MUNICIPALITIES or code == province:
        return _PROVINCE_EN[province] if lang == "en" else _PROVINCE_ZH[province]
    try:
        city = default_geocoder().region(code[:4] + "00")
    except GeocoderUnavailable as exc:  # pragma: no cover - a broken install
        _logger.warning("no region names: %s", exc)
        city = None
    if city is None:
        return _PROVINCE_EN[province] if lang == "en" else _PROVINCE_ZH[province]
    if lang == "en":
        return f"{_pinyin(city.name)}, {_PROVINCE_EN[province]}"
    return f"{_PROVINCE_ZH[province]}{city.name}"
